"""A small pool of worker processes with a hard, kill-based timeout per call.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop a call that is running. Verifiers such as
``math-verify``/sympy can spin for minutes (or in C code that ignores ``SIGALRM``) on a hostile input, so
a call that overruns its deadline must cost the caller nothing but the deadline. Here each call checks out
one worker; if the result is late the worker is SIGKILLed, replaced, and the caller gets
:class:`CallTimeout`.

Workers are created through the ``forkserver`` start method by default: plain ``fork`` is unsafe in a
process that already runs threads (torch, tokenizers, Ray), and the fork server is cheaper than ``spawn``
for replacing killed workers. As with every non-fork start method, the main script must be importable
(guard its entry point with ``if __name__ == "__main__":``).
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
import traceback
import weakref
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: seconds a new worker may take to import its modules and run its initializer before it counts as failed
STARTUP_TIMEOUT = 120.0


class CallTimeout(TimeoutError):
    """A call overran its deadline; the worker running it was killed and will be replaced."""


class WorkerError(RuntimeError):
    """A call raised inside its worker (message and remote traceback included) or its worker died."""


def _serve(conn: Connection, initializer: Callable[[], None] | None) -> None:
    """Worker main loop: run the initializer, report readiness, then answer ``(fn, args)`` requests."""
    try:
        if initializer is not None:
            initializer()
    except BaseException as exc:  # report any start-up failure to the parent, then exit
        conn.send(("error", f"initializer failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):  # parent closed the pipe: the pool is gone
            return
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # any failure of the callee belongs to the caller
            reply = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        try:
            conn.send(reply)
        except Exception as exc:  # e.g. an unpicklable result
            conn.send(("error", f"cannot send the result back: {type(exc).__name__}: {exc}"))


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, initializer: Callable[[], None] | None):
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_serve, args=(child_conn, initializer), daemon=True,
                                   name="reasongym-worker")
        self.process.start()
        child_conn.close()
        self.ready = False
        self._kill_lock = threading.Lock()

    def wait_ready(self) -> None:
        """Block until the worker has run its initializer (not counted against any call's timeout)."""
        if self.ready:
            return
        if not self.conn.poll(STARTUP_TIMEOUT):
            raise WorkerError(f"worker pid {self.process.pid} did not start within {STARTUP_TIMEOUT:.0f}s")
        status, payload = self.conn.recv()
        if status != "ready":
            raise WorkerError(payload)
        self.ready = True

    def kill(self) -> None:
        """SIGKILL the process, reap it and close the pipe; idempotent and safe from several threads."""
        with self._kill_lock:
            if self.process.is_alive():
                self.process.kill()
            self.process.join()
            self.conn.close()


class WorkerPool:
    """Up to ``size`` lazily started, daemonic worker processes; thread-safe, one worker per call."""

    def __init__(self, size: int = 2, *, initializer: Callable[[], None] | None = None,
                 start_method: str = "forkserver"):
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        if start_method not in ("forkserver", "spawn"):
            raise ValueError(f"start_method must be 'forkserver' or 'spawn' (fork is unsafe with threads), "
                             f"got {start_method!r}")
        self.size = size
        self._ctx = multiprocessing.get_context(start_method)
        self._initializer = initializer
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._closed = False
        _OPEN_POOLS.add(self)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float) -> T:
        """Run ``fn(*args)`` in a worker; raise :class:`CallTimeout` after ``timeout`` seconds.

        ``fn`` must be a picklable top-level function. Exceptions raised by ``fn`` come back as
        :class:`WorkerError` carrying the remote type, message and traceback. The deadline covers the
        call only: neither waiting for a free worker nor a fresh worker's initializer counts against it.
        """
        request = ForkingPickler.dumps((fn, args))  # fail here, before any worker is involved
        worker = self._checkout()
        try:
            worker.wait_ready()
            worker.conn.send_bytes(request)
            finished = worker.conn.poll(timeout)
            reply = worker.conn.recv() if finished else None
        except (EOFError, OSError):
            self._discard(worker)
            state = "the pool was closed" if self._closed else f"worker pid {worker.process.pid} died"
            raise WorkerError(f"{state} during a call to {_name(fn)}") from None
        except BaseException:
            self._discard(worker)
            raise
        if reply is None:
            self._discard(worker)
            raise CallTimeout(f"{_name(fn)} exceeded {timeout:g}s; worker pid {worker.process.pid} killed")
        self._checkin(worker)
        status, payload = reply
        if status != "ok":
            raise WorkerError(payload)
        return payload

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and tests)."""
        with self._cond:
            return [w.process.pid for w in self._live if w.process.pid is not None]

    def close(self) -> None:
        """Kill every worker, idle or busy; later calls raise ``RuntimeError``. Idempotent."""
        with self._cond:
            self._closed = True
            workers = list(self._live)
            self._live.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.kill()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _checkout(self) -> _Worker:
        """Take an idle worker, start a new one if below ``size``, or wait for one to be returned."""
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("WorkerPool is closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._live) < self.size:
                    return self._start_worker()
                self._cond.wait()

    def _start_worker(self) -> _Worker:
        """Start a worker and count it as live (caller holds ``_cond``)."""
        worker = _Worker(self._ctx, self._initializer)
        self._live.add(worker)
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._cond:
            if worker in self._live:
                self._idle.append(worker)
                self._cond.notify()
                return
        worker.kill()  # the pool was closed while this call ran

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker in an unknown state and start its replacement, which warms up in the background."""
        worker.kill()
        with self._cond:
            self._live.discard(worker)
            if not self._closed:
                self._idle.append(self._start_worker())
            self._cond.notify()


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


_OPEN_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_open_pools() -> None:
    """Kill every pool's workers at interpreter exit so that no process outlives its parent."""
    for pool in list(_OPEN_POOLS):
        pool.close()
