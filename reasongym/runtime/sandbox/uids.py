"""Hand out distinct unprivileged uids, one per container (Docker) or per concurrent run (local as root).

Why distinct: RLIMIT_NPROC counts every process of a uid machine-wide, so sandboxes sharing a uid would
share that budget (one fork bomb starving its neighbours), and could signal each other's processes if a
namespace boundary ever failed. Uids are handed out round-robin, so a released one is reused as late
as possible.
"""

from __future__ import annotations

import threading

from .errors import SandboxError


class UidAllocator:
    """Thread-safe round-robin allocator over ``[base, base + count)``."""

    def __init__(self, base: int, count: int = 1000) -> None:
        if base < 1000 or count < 1:
            raise ValueError("uids must be unprivileged (>= 1000) and the range non-empty")
        self._base, self._count = base, count
        self._next = 0
        self._used: set[int] = set()
        self._lock = threading.Lock()

    def acquire(self) -> int:
        """A uid nobody else holds."""
        with self._lock:
            for _ in range(self._count):
                uid = self._base + self._next
                self._next = (self._next + 1) % self._count
                if uid not in self._used:
                    self._used.add(uid)
                    return uid
        raise SandboxError(f"all {self._count} sandbox uids from {self._base} are in use")

    def release(self, uid: int) -> None:
        """Give ``uid`` back."""
        with self._lock:
            self._used.discard(uid)
