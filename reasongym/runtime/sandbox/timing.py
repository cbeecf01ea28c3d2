"""Latency and throughput of a callable, sequential or from several threads (for the sandbox benchmarks)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from .base import RunRequest
from .guest.workspace import populate
from .normalize import as_bytes, files_as_bytes

BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # the PATH sandboxed programs get, so the same python3 runs
SHM = "/dev/shm"


@dataclass(frozen=True)
class Measurement:
    """Per-call latencies of ``runs`` calls made by ``concurrency`` threads, and the wall time of all."""

    name: str
    latencies_s: tuple[float, ...]
    wall_s: float
    concurrency: int

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.latencies_s)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def per_second(self) -> float:
        return len(self.latencies_s) / self.wall_s

    def merged(self, other: "Measurement") -> "Measurement":
        """This measurement and ``other`` (the same method, another round) as one."""
        return Measurement(self.name, self.latencies_s + other.latencies_s, self.wall_s + other.wall_s,
                           self.concurrency)


def measure(name: str, call: Callable[[], object], *, runs: int, concurrency: int = 1, warmup: int = 3) -> Measurement:
    """Time ``runs`` calls of ``call`` (after ``warmup`` untimed ones), spread over ``concurrency`` threads."""
    for _ in range(warmup):
        call()
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(_: int) -> None:
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        with lock:
            latencies.append(elapsed)

    start = time.perf_counter()
    if concurrency == 1:
        for index in range(runs):
            timed(index)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as threads:
            list(threads.map(timed, range(runs)))
    return Measurement(name, tuple(latencies), time.perf_counter() - start, concurrency)


def render(measurements: list[Measurement], baseline: Measurement) -> str:
    """A text table: latency percentiles, executions per second, and each row's ratios to ``baseline``."""
    header = (f"{'method':<34} {'threads':>7} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'exec/s':>8} "
              f"{'p50 x':>7} {'exec/s x':>9}")
    lines = [header, "-" * len(header)]
    for m in measurements:
        lines.append(f"{m.name:<34} {m.concurrency:>7} {len(m.latencies_s):>5} {m.p50_ms:>8.1f} {m.p95_ms:>8.1f} "
                     f"{m.per_second:>8.1f} {m.p50_ms / baseline.p50_ms:>7.2f} "
                     f"{m.per_second / baseline.per_second:>9.2f}")
    lines.append(f"(ratios relative to '{baseline.name}')")
    return "\n".join(lines)


def bare_subprocess(request: RunRequest, workspace_root: str | None = None) -> Callable[[], object]:
    """A call running ``request`` as a plain subprocess in a fresh temp dir: no isolation, the speed limit.

    ``workspace_root`` defaults to /dev/shm where it exists: a tmpfs, like the containers' workspace, so the
    baseline does not pay for a disk filesystem that the sandbox does not use.
    """
    files = files_as_bytes(request)
    stdin = as_bytes(request.stdin)
    root = workspace_root or (SHM if os.path.isdir(SHM) else None)

    def call() -> object:
        with tempfile.TemporaryDirectory(prefix="reasongym-bare-", dir=root) as workspace:
            populate(workspace, files)
            return subprocess.run(request.command, cwd=workspace, input=stdin, capture_output=True,
                                  env={"PATH": BARE_PATH, "HOME": workspace, "LANG": "C.UTF-8"}, check=False)

    return call
