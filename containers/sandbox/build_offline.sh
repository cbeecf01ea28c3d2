#!/usr/bin/env bash
# Build the sandbox image without any image registry.
#
# debootstraps a minimal Debian bookworm (variant minbase, plus python3) from the Debian mirror that apt
# is configured with, trims it, adds the executor package (reasongym/runtime/sandbox/guest) as
# /opt/sandbox/guest, and `docker import`s it with the same CMD/ENV/USER/WORKDIR as the Dockerfile.
# The debootstrapped root is cached as a tarball, so a later build after an executor change takes seconds.
# Idempotent: does nothing when the image exists with the current executor digest, unless --force
# (which also rebuilds the cached root).
#
# Usage: containers/sandbox/build_offline.sh [--force] [--tag IMAGE]
# Environment: REASONGYM_SANDBOX_IMAGE (tag), REASONGYM_SANDBOX_CACHE (cache folder),
#              REASONGYM_DEBIAN_MIRROR (mirror URL, else read from /etc/apt/sources.list(.d)).
set -euo pipefail

TAG=${REASONGYM_SANDBOX_IMAGE:-reasongym-sandbox:latest}
CACHE=${REASONGYM_SANDBOX_CACHE:-/var/cache/reasongym-sandbox}
SUITE=bookworm
FORCE=0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST=$(cd "$HERE/../../reasongym/runtime/sandbox/guest" && pwd)
BASE_TAR=$CACHE/$SUITE-minbase-python3.tar

log() { echo "build_offline.sh: $*"; }
die() { echo "build_offline.sh: error: $*" >&2; exit 1; }

while (($#)); do
    case $1 in
        --force) FORCE=1 ;;
        --tag) TAG=${2:?--tag needs a value}; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift
done

command -v docker >/dev/null || die "the docker CLI is missing; run containers/start_dockerd.sh first"
docker info >/dev/null 2>&1 || die "no Docker engine answers; start one with: bash containers/start_dockerd.sh"

# Same digest as reasongym.runtime.sandbox.guest.digest(): the guest files concatenated in name order.
DIGEST=$(cd "$GUEST" && printf '%s\0' *.py | LC_ALL=C sort -z | xargs -0 cat | sha256sum | cut -d' ' -f1)
OLD_ID=$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)
OLD_DIGEST=$(docker image inspect -f '{{index .Config.Labels "org.reasongym.sandbox.digest"}}' "$TAG" 2>/dev/null || true)
if ((FORCE == 0)) && [[ $OLD_DIGEST == "$DIGEST" ]]; then
    log "$TAG is up to date (executor ${DIGEST:0:12})"
    exit 0
fi

# The first Debian mirror serving $SUITE, from deb822 .sources files or one-line .list files.
debian_mirror() {
    if [[ -n ${REASONGYM_DEBIAN_MIRROR:-} ]]; then echo "$REASONGYM_DEBIAN_MIRROR"; return; fi
    local found=""
    shopt -s nullglob
    local sources=(/etc/apt/sources.list.d/*.sources) lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    shopt -u nullglob
    if ((${#sources[@]})); then
        found=$(awk -v suite="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
            { uris = ""; suites = ""; types = ""; on = 1
              for (i = 1; i <= NF; i++) {
                  line = $i
                  if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris = line }
                  else if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = " " line " " }
                  else if (line ~ /^Types:/) { sub(/^Types:[ \t]*/, "", line); types = " " line " " }
                  else if (line ~ /^Enabled:[ \t]*no/) { on = 0 }
              }
              if (on && types ~ / deb / && suites ~ (" " suite " ")) { split(uris, u, " "); print u[1]; exit } }' \
            "${sources[@]}")
    fi
    if [[ -z $found ]]; then
        found=$(cat "${lists[@]}" 2>/dev/null | sed -E 's/\[[^]]*\]//' \
            | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')
    fi
    echo "${found:-http://deb.debian.org/debian}"
}

build_base() {
    [[ $(id -u) == 0 ]] || die "debootstrap needs root"
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap with apt-get"
        { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } >"$WORK/apt.log" 2>&1 \
            || { tail -n 20 "$WORK/apt.log" >&2; die "apt-get install debootstrap failed"; }
    fi
    local mirror rootfs=$WORK/rootfs
    mirror=$(debian_mirror)
    log "debootstrap $SUITE (minbase + python3) from $mirror"
    if ! debootstrap --variant=minbase --include=python3 "$SUITE" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
        tail -n 20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed (mirror $mirror; set REASONGYM_DEBIAN_MIRROR to choose another)"
    fi
    rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
    mkdir -p "$CACHE"
    tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.partial" .
    mv "$BASE_TAR.partial" "$BASE_TAR"
    rm -rf "$rootfs"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/reasongym-sandbox-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if ((FORCE)) || [[ ! -s $BASE_TAR ]]; then
    build_base
else
    log "reusing the cached root $BASE_TAR"
fi

# The image tarball: the cached root plus the executor package, owned by root and read-only to others.
cp "$BASE_TAR" "$WORK/image.tar"
mkdir -p "$WORK/stage/opt/sandbox/guest"
cp "$GUEST"/*.py "$WORK/stage/opt/sandbox/guest/"
chmod 0755 "$WORK/stage/opt" "$WORK/stage/opt/sandbox" "$WORK/stage/opt/sandbox/guest"
chmod 0644 "$WORK/stage/opt/sandbox/guest/"*.py
tar --numeric-owner --owner=0 --group=0 -C "$WORK/stage" -rf "$WORK/image.tar" ./opt/sandbox

docker import \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /opt/sandbox' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
    --change 'CMD ["python3", "-E", "-s", "-B", "-m", "guest.executor"]' \
    --change "LABEL org.reasongym.sandbox.digest=$DIGEST" \
    --message "reasongym sandbox, offline build ($SUITE minbase + python3)" \
    "$WORK/image.tar" "$TAG" >/dev/null || die "docker import failed"

docker run --rm --network none "$TAG" python3 -E -s -B -c 'import guest.executor' \
    || die "the new image cannot import its executor"
NEW_ID=$(docker image inspect -f '{{.Id}}' "$TAG")
if [[ -n $OLD_ID && $OLD_ID != "$NEW_ID" ]]; then
    docker rmi "$OLD_ID" >/dev/null 2>&1 || true  # still used by a container: left for `docker image prune`
fi
log "built $TAG (executor ${DIGEST:0:12}, $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{ printf "%d MB", $1 / 1e6 }'))"
