"""A base for backends whose ``run`` blocks: ``arun`` runs it on the backend's own thread pool.

The pool is private so sandbox calls never queue behind (or starve) other users of asyncio's default
executor, and it is sized by the backend to how many runs it can actually serve at once.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from .base import RunRequest, RunResult

Self = TypeVar("Self", bound="ThreadedSandbox")


class ThreadedSandbox:
    """Implements ``arun``, ``close`` and the context-manager protocol on top of a blocking ``run``."""

    def __init__(self, async_threads: int) -> None:
        self._threads = ThreadPoolExecutor(max_workers=async_threads, thread_name_prefix="sandbox")

    def run(self, request: RunRequest) -> RunResult:
        raise NotImplementedError

    async def arun(self, request: RunRequest) -> RunResult:
        """Like :meth:`run`, without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self.run, request)

    def close(self) -> None:
        """Stop the thread pool (waiting for runs in flight)."""
        self._threads.shutdown(wait=True)

    def __enter__(self: Self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
