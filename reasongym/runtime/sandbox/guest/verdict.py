"""Name the outcome of a run: turn a child's exit and the limits it hit into a status and a detail."""

from __future__ import annotations

import signal

from .supervise import ChildOutcome

# A command that cannot be started reports the shell's "command not found" code.
EXIT_NOT_STARTED = 127


def classify(outcome: ChildOutcome, *, oom_killed: bool, timeout_s: float,
             output_bytes: int) -> tuple[str, int | None, str]:
    """``(status, exit_code, detail)`` for one run.

    Precedence: a limit the supervisor enforced (output cap, wall clock) first, then the memory limit
    (a kernel OOM kill seen in the cgroup, or a MemoryError exit), then how the program ended.
    """
    code = outcome.returncode
    if outcome.spawn_error:
        return "error", EXIT_NOT_STARTED, f"could not start: {outcome.spawn_error}"
    if outcome.truncated:
        return "output_truncated", None, f"output passed {output_bytes} bytes; the run was stopped"
    if outcome.timed_out:
        return "timeout", None, f"wall-clock limit of {timeout_s:g}s reached; the run was killed"
    if oom_killed and code != 0:
        exit_code = None if code is None or code < 0 else code
        return "oom", exit_code, "memory limit reached: killed by the kernel OOM killer"
    if code is not None and code > 0 and _raised_memory_error(outcome.stderr):
        return "oom", code, "memory limit reached: the program failed with MemoryError"
    if code is not None and code < 0:
        signum = -code
        if signum == signal.SIGXCPU:
            return "timeout", None, "CPU-time limit reached (SIGXCPU)"
        if signum == signal.SIGXFSZ:
            return "error", None, "file-size limit reached (SIGXFSZ)"
        return "killed", None, f"ended by signal {_signal_name(signum)}"
    if code == 0:
        return "ok", 0, ""
    return "error", code, f"exited with code {code}"


def _raised_memory_error(stderr: bytes) -> bool:
    """Whether the program's last words were an uncaught MemoryError."""
    tail = stderr[-4096:].rstrip().splitlines()
    return bool(tail) and tail[-1].split(b":")[0].strip() == b"MemoryError"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
