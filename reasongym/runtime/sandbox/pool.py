"""A warm pool of executor containers: hand one out per run, replace the ones that misbehave.

A container goes back to the pool only after a clean run; one whose executor died, stopped answering,
reported a dirty cleanup, or reached its run budget is removed and a fresh one is started in the
background, so the caller who got the result does not wait for the replacement.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .container import ExecutorContainer
from .errors import SandboxError

log = logging.getLogger(__name__)
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)


class ContainerPool:
    """``size`` warm containers made by ``start``; thread-safe."""

    def __init__(self, start: Callable[[], ExecutorContainer], *, size: int, max_runs: int,
                 acquire_timeout_s: float, stop: Callable[[ExecutorContainer], None]) -> None:
        if size < 1 or max_runs < 1:
            raise ValueError("pool size and max runs per container must be at least 1")
        self._start, self._stop = start, stop
        self._size, self._max_runs, self._acquire_timeout_s = size, max_runs, acquire_timeout_s
        self._idle: queue.SimpleQueue[ExecutorContainer] = queue.SimpleQueue()
        self._live: set[ExecutorContainer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._last_error = ""

    def fill(self) -> None:
        """Start every container now, in parallel; fails only if none could be started."""
        with ThreadPoolExecutor(max_workers=self._size) as starters:
            started = list(starters.map(lambda _: self._start_one(), range(self._size)))
        if not any(started):
            raise SandboxError(f"could not start any sandbox container: {self._last_error}")
        for _ in range(self._size - sum(started)):
            self._replace_later(None)

    def acquire(self) -> ExecutorContainer:
        """An idle container, waiting for one to come back or be started."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        try:
            return self._idle.get(timeout=self._acquire_timeout_s)
        except queue.Empty:
            raise SandboxError(f"no sandbox container became free within {self._acquire_timeout_s:g}s"
                               + (f"; last start failure: {self._last_error}" if self._last_error else "")) from None

    def release(self, container: ExecutorContainer, *, healthy: bool) -> None:
        """Return a container after a run; an unhealthy or worn-out one is replaced."""
        if healthy and container.runs < self._max_runs and not self._closed:
            self._idle.put(container)
        else:
            self._replace_later(container)

    def close(self) -> None:
        """Remove every container; later acquires fail."""
        with self._lock:
            self._closed = True
            containers = list(self._live)
            self._live.clear()
        for container in containers:
            self._stop(container)

    def _replace_later(self, old: ExecutorContainer | None) -> None:
        threading.Thread(target=self._replace, args=(old,), name="sandbox-replace", daemon=True).start()

    def _replace(self, old: ExecutorContainer | None) -> None:
        if old is not None:
            with self._lock:
                self._live.discard(old)
            self._stop(old)
        for delay in itertools.chain((0.0,), RETRY_DELAYS_S, itertools.repeat(RETRY_DELAYS_S[-1])):
            if self._closed:
                return
            time.sleep(delay)
            if self._start_one():
                return

    def _start_one(self) -> bool:
        try:
            container = self._start()
        except Exception as exc:  # an engine or image problem: remembered for acquire's error message
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.warning("sandbox container failed to start: %s", self._last_error)
            return False
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                self._live.add(container)
        if closed:
            self._stop(container)
            return False
        self._idle.put(container)
        return True
