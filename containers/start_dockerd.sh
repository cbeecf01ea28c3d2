#!/usr/bin/env bash
# Start a Docker engine in the background unless one already answers, and wait until `docker info` does.
#
# Idempotent: exits 0 at once when an engine answers. Otherwise (as root) installs Debian's docker.io if
# dockerd is missing, starts `dockerd --bridge=none --iptables=false` detached (the sandbox only uses
# network_mode=none, so no bridge or firewall rules are created), and falls back to the vfs storage
# driver when overlay2 does not work on this kernel. Logs go to $REASONGYM_DOCKERD_LOG.
set -euo pipefail

LOG=${REASONGYM_DOCKERD_LOG:-/var/log/reasongym-dockerd.log}
WAIT_S=${REASONGYM_DOCKERD_WAIT_S:-60}

log() { echo "start_dockerd.sh: $*"; }
die() { echo "start_dockerd.sh: error: $*" >&2; exit 1; }

engine_answers() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

if engine_answers; then
    exit 0
fi
[[ $(id -u) == 0 ]] || die "no Docker engine answers and starting one needs root (or start dockerd yourself)"

export DEBIAN_FRONTEND=noninteractive
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    log "installing docker.io with apt-get"
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io; } >>"$LOG.apt" 2>&1 \
        || die "apt-get install docker.io failed; see $LOG.apt"
fi

# Wait for the engine started as process $1; fail early if that process dies.
wait_for_engine() {
    local pid=$1 deadline=$((SECONDS + WAIT_S))
    while ((SECONDS < deadline)); do
        engine_answers && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.25
    done
    return 1
}

# An engine that another caller is starting right now: wait for it instead of starting a second one.
if [[ -s /var/run/docker.pid ]] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    wait_for_engine "$(cat /var/run/docker.pid)" && exit 0
    die "dockerd (pid $(cat /var/run/docker.pid)) runs but does not answer; see $LOG"
fi

start_engine() {
    echo "=== $(date -u +%FT%TZ) dockerd --bridge=none --iptables=false $*" >>"$LOG"
    setsid dockerd --bridge=none --iptables=false "$@" </dev/null >>"$LOG" 2>&1 &
    local pid=$!
    wait_for_engine "$pid" && return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}

if start_engine; then
    log "dockerd is up (log: $LOG)"
elif start_engine --storage-driver=vfs; then
    log "dockerd is up with the vfs storage driver (overlay2 failed; log: $LOG)"
else
    tail -n 15 "$LOG" >&2 || true
    die "dockerd did not answer within ${WAIT_S}s; see $LOG"
fi
