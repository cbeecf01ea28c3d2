"""Run one child process under a wall-clock deadline and an output cap, then kill its process group.

The child starts in a new session (its own process group). Its stdin is fed and its stdout/stderr are
read through one selector loop, so a program that floods its output or never reads its input cannot
block the supervisor. Past the deadline or the cap, the whole group is SIGKILLed at once. The group is
killed before the child is reaped, so its id cannot have been reused by an unrelated process.
When the child exits while a background process still holds its pipes, what is already buffered is
drained and the run ends: the caller's cleanup kills such leftovers.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

READ_CHUNK = 65536
# A pidfd tells the selector when the child exits; without pidfd_open the loop polls at this interval.
POLL_INTERVAL_S = 0.005


@dataclass
class ChildOutcome:
    """What one child did.

    Attributes:
        returncode: the wait status as :mod:`subprocess` reports it (negative: killed by that signal);
            None when the child could not be started.
        timed_out: the deadline passed and the group was killed.
        truncated: stdout or stderr passed the cap and the group was killed.
        stdout, stderr: captured output, each at most the cap.
        duration_s: wall-clock time from start to exit (or to the kill).
        spawn_error: why the child could not be started.
    """

    returncode: int | None
    timed_out: bool
    truncated: bool
    stdout: bytes
    stderr: bytes
    duration_s: float
    spawn_error: str = ""


def supervise(argv: Sequence[str], *, cwd: str, env: Mapping[str, str], stdin: bytes, timeout_s: float,
              output_bytes: int, preexec_fn: Callable[[], None] | None = None,
              user: int | None = None) -> ChildOutcome:
    """Run ``argv`` to completion or until a limit, and return what happened.

    ``user`` runs the child as that uid (and gid, with no supplementary groups); it needs root.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                                preexec_fn=preexec_fn, user=user, group=user,
                                extra_groups=None if user is None else [])
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ChildOutcome(None, False, False, b"", b"", time.monotonic() - start, f"{argv[0]}: {reason}")
    try:
        timed_out, truncated, out, err, exited_at = _pump(proc, stdin, start + timeout_s, output_bytes)
    finally:
        _kill_group(proc.pid)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        returncode = proc.wait()
    end = exited_at if exited_at is not None else time.monotonic()
    return ChildOutcome(returncode, timed_out, truncated, bytes(out), bytes(err), end - start)


def _pump(proc: subprocess.Popen, stdin: bytes, deadline: float,
          cap: int) -> tuple[bool, bool, bytearray, bytearray, float | None]:
    """Feed stdin and collect output until the child exits, the deadline passes or the cap is hit."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    selector = selectors.DefaultSelector()
    captured = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    for fd in captured:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ, "output")
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
    else:
        proc.stdin.close()
    exit_fd = _pidfd(proc.pid)
    if exit_fd is not None:
        selector.register(exit_fd, selectors.EVENT_READ, "exit")
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and exit_fd is None and _has_exited(proc.pid):
                exited_at = now
            if exited_at is not None:
                truncated = _drain(selector, captured, cap)
                return False, truncated, *_outputs(proc, captured), exited_at
            if now >= deadline:
                return True, False, *_outputs(proc, captured), None
            wait = deadline - now if exit_fd is not None else min(deadline - now, POLL_INTERVAL_S)
            for key, _ in selector.select(wait):
                if key.data == "exit":
                    selector.unregister(key.fd)
                    exited_at = time.monotonic()
                elif key.data == "stdin":
                    pending = _feed(selector, proc, pending)
                elif _read_into(selector, key.fd, captured[key.fd], cap):
                    return False, True, *_outputs(proc, captured), None
    finally:
        selector.close()
        if exit_fd is not None:
            os.close(exit_fd)


def _outputs(proc: subprocess.Popen, captured: dict[int, bytearray]) -> tuple[bytearray, bytearray]:
    assert proc.stdout is not None and proc.stderr is not None
    return captured[proc.stdout.fileno()], captured[proc.stderr.fileno()]


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits, where the kernel offers one."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (so its process-group id stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _feed(selector: selectors.BaseSelector, proc: subprocess.Popen, pending: memoryview) -> memoryview:
    """Write what the stdin pipe takes now; close it when all is written or the child closed its end."""
    assert proc.stdin is not None
    fd = proc.stdin.fileno()
    try:
        pending = pending[os.write(fd, pending[:READ_CHUNK]):]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        pending = pending[:0]
    if not pending:
        selector.unregister(fd)
        proc.stdin.close()
    return pending


def _read_into(selector: selectors.BaseSelector, fd: int, buffer: bytearray, cap: int) -> bool:
    """Read what is available into ``buffer`` (kept at most ``cap``); True when the cap was exceeded."""
    try:
        data = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return False
    if not data:
        selector.unregister(fd)
        return False
    room = cap - len(buffer)
    buffer += data[:max(room, 0)]
    return len(data) > room


def _drain(selector: selectors.BaseSelector, captured: dict[int, bytearray], cap: int) -> bool:
    """After the child exited: take whatever output is already buffered, without waiting for more."""
    truncated = False
    for fd in list(captured):
        if fd not in selector.get_map():
            continue
        while fd in selector.get_map() and not truncated:
            before = len(captured[fd])
            truncated = _read_into(selector, fd, captured[fd], cap)
            if len(captured[fd]) == before and fd in selector.get_map():
                break  # nothing more buffered right now: a background process holds the pipe open
    return truncated


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the child's process group."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EPERM):
            raise
