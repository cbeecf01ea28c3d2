"""Per-process limits inside the container, and the cgroup's count of OOM kills.

The container's cgroup (memory, pids, CPU quota) is the real boundary; the rlimits set here are a
second layer on each run's process tree: address space (a single huge allocation fails with
MemoryError instead of pressuring the cgroup), process count for the container's own uid, file size,
CPU seconds, no core dumps. Run processes also volunteer as the OOM killer's first choice, so a
memory bomb kills itself rather than the executor.
"""

from __future__ import annotations

import ctypes
import math
import resource
from typing import Callable

MIB = 1024 * 1024
PR_SET_DUMPABLE = 4
OOM_COUNTERS = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")


def limiter(*, memory_mb: int, processes: int, file_bytes: int, timeout_s: float) -> Callable[[], None]:
    """A ``preexec_fn`` applying the limits in the child between fork and exec."""
    cpu_s = math.ceil(timeout_s) + 1

    def apply() -> None:
        set_dumpable(True)  # inherited from the non-dumpable executor; needed to write our own /proc files
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MIB, memory_mb * MIB))
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")

    return apply


def set_dumpable(dumpable: bool) -> None:
    """Allow or forbid same-uid processes to ptrace this process and open its /proc files."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, int(dumpable), 0, 0, 0)


def oom_kills() -> int | None:
    """How many processes the container's memory cgroup has OOM-killed so far (None: not visible)."""
    for path in OOM_COUNTERS:
        try:
            with open(path) as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    return None
