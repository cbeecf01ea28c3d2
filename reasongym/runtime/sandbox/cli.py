"""``reasongym sandbox build|check|bench``: build the image, verify the isolation, measure the pool.

Each command is a function returning an exit code; :func:`register` adds them to an argparse
sub-command table (``reasongym/cli.py`` calls it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .base import Limits, RunRequest, RunResult
from .engine import DEFAULT_IMAGE, DIGEST_LABEL
from .errors import SandboxError
from .guest import GUEST_DIR, digest
from .timing import bare_subprocess, measure, render

CONTAINERS = Path(__file__).resolve().parents[3] / "containers"
OFFLINE_SCRIPT = CONTAINERS / "sandbox" / "build_offline.sh"
DOCKERFILE = CONTAINERS / "sandbox" / "Dockerfile"


def build_image(*, force: bool = False, method: str = "auto", image: str = DEFAULT_IMAGE) -> int:
    """Build the sandbox image: ``offline`` (debootstrap + docker import, no registry), ``dockerfile``
    (``FROM python:3.11-slim``, needs a registry) or ``auto`` (offline where apt and root are available)."""
    if method == "auto":
        method = "offline" if os.geteuid() == 0 and shutil.which("apt-get") else "dockerfile"
    if method == "offline":
        if not OFFLINE_SCRIPT.exists():
            print(f"error: {OFFLINE_SCRIPT} not found (the build scripts ship with the source checkout)")
            return 1
        return subprocess.run(["bash", str(OFFLINE_SCRIPT), "--tag", image, *(["--force"] if force else [])],
                              check=False).returncode
    if method == "dockerfile":
        return _build_from_dockerfile(image, force=force)
    print(f"error: unknown build method {method!r} (auto, offline or dockerfile)")
    return 2


def _build_from_dockerfile(image: str, *, force: bool) -> int:
    import docker

    from .engine import connect

    try:
        client = connect()
    except SandboxError as exc:
        print(f"error: {exc}")
        return 1
    wanted = digest()
    try:
        if not force and (client.images.get(image).labels or {}).get(DIGEST_LABEL) == wanted:
            print(f"{image} is up to date (executor {wanted[:12]})")
            return 0
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.build(path=str(GUEST_DIR), dockerfile=str(DOCKERFILE), tag=image, forcerm=True, pull=force,
                            buildargs={"DIGEST": wanted})
    except (docker.errors.BuildError, docker.errors.APIError) as exc:
        print(f"error: docker build failed: {exc}")
        return 1
    print(f"built {image} (executor {wanted[:12]})")
    return 0


@dataclass(frozen=True)
class Probe:
    """One self-check: a program, the status it must get, and what its output must satisfy."""

    name: str
    code: str
    status: str
    accept: Callable[[RunResult], bool] = lambda result: True


def _probes(port: int) -> list[Probe]:
    return [
        Probe("runs a program with stdin", "print(input()[::-1])", "ok", lambda r: r.stdout == "olleh\n"),
        Probe("network is off (a host listener on 127.0.0.1 stays unreachable)",
              f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
              "    print('reached')\nexcept OSError:\n    print('blocked')", "ok", lambda r: r.stdout == "blocked\n"),
        Probe("root filesystem is read-only", "open('/etc/evil', 'w')", "error", lambda r: "Read-only" in r.stderr),
        Probe("wall-clock limit", "while True: pass", "timeout"),
        Probe("memory limit", "x = bytearray(8 * 1024**3)", "oom"),
        Probe("fork bomb is contained", "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
              "timeout"),
        Probe("output cap", "import sys\nwhile True: sys.stdout.write('x' * 65536)", "output_truncated"),
        Probe("no process survives a run", "import os\nprint(sorted(p for p in os.listdir('/proc') if p.isdigit()"
              " and int(p) not in (1, os.getpid())))", "ok", lambda r: r.stdout == "[]\n"),
    ]


def check(*, image: str = DEFAULT_IMAGE) -> int:
    """Verify the engine, the image and the isolation with a few hostile probes; 0 when all pass."""
    from .docker_backend import DockerConfig, DockerSandbox

    limits = Limits(timeout_s=2.0, memory_mb=128, pids=32, output_bytes=100_000)
    try:
        sandbox = DockerSandbox(DockerConfig(image=image, pool_size=1, limits=limits, grace_s=2.0))
    except SandboxError as exc:
        print(f"FAIL  sandbox unavailable: {exc}")
        return 1
    failures = 0
    with sandbox, socket.create_server(("127.0.0.1", 0)) as listener:
        print(f"ok    engine reachable, image {image} current (executor {digest()[:12]})")
        for probe in _probes(listener.getsockname()[1]):
            result = sandbox.run(RunRequest(files={"main.py": probe.code}, stdin="hello\n", limits=limits))
            passed = result.status == probe.status and probe.accept(result)
            failures += not passed
            verdict = "" if passed else f" expected {probe.status}; {result.detail} {result.stderr[-300:]}"
            print(f"{'ok' if passed else 'FAIL':<5} {probe.name}: {result.status} "
                  f"({result.duration_s * 1000:.0f} ms){verdict}")
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return 1 if failures else 0


def bench(*, runs: int = 100, pool_size: int = 4, image: str = DEFAULT_IMAGE) -> int:
    """Latency and throughput of the warm pool next to a bare subprocess (bench/sandbox.py adds more peers)."""
    from .docker_backend import DockerConfig, DockerSandbox

    request = RunRequest(files={"main.py": "print('hello')"})
    try:
        sandbox = DockerSandbox(DockerConfig(image=image, pool_size=pool_size))
    except SandboxError as exc:
        print(f"error: {exc}")
        return 1
    with sandbox:
        bare = measure("bare subprocess (no isolation)", bare_subprocess(request), runs=runs)
        results = [bare,
                   measure("docker pool, sequential", lambda: sandbox.run(request), runs=runs),
                   measure(f"docker pool, {pool_size} threads", lambda: sandbox.run(request), runs=runs,
                           concurrency=pool_size)]
    print(render(results, bare))
    return 0


def register(subparsers: Any) -> None:
    """Add ``sandbox build|check|bench`` to an argparse sub-command table."""
    parser = subparsers.add_parser("sandbox", help="build, check and benchmark the code sandbox")
    commands = parser.add_subparsers(dest="sandbox_command", required=True)
    build = commands.add_parser("build", help="build the sandbox image (offline with debootstrap, or a Dockerfile)")
    build.add_argument("--force", action="store_true", help="rebuild even if the image is current")
    build.add_argument("--method", choices=("auto", "offline", "dockerfile"), default="auto")
    build.add_argument("--image", default=DEFAULT_IMAGE)
    build.set_defaults(func=lambda args: build_image(force=args.force, method=args.method, image=args.image))
    checking = commands.add_parser("check", help="verify the engine, the image and the isolation")
    checking.add_argument("--image", default=DEFAULT_IMAGE)
    checking.set_defaults(func=lambda args: check(image=args.image))
    benching = commands.add_parser("bench", help="latency and throughput of the warm pool")
    benching.add_argument("--runs", type=int, default=100)
    benching.add_argument("--pool-size", type=int, default=4)
    benching.add_argument("--image", default=DEFAULT_IMAGE)
    benching.set_defaults(func=lambda args: bench(runs=args.runs, pool_size=args.pool_size, image=args.image))
