"""The sandbox contract: run an untrusted program with limits and say what happened.

Backends (Docker with a warm container pool; a weaker local subprocess fallback) implement
:class:`Sandbox`. Callers describe a run with :class:`RunRequest` and get a :class:`RunResult` whose
``status`` names the outcome; hostile programs are contained and reported, never raised as exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Status = Literal["ok", "error", "timeout", "oom", "killed", "output_truncated"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "oom", "killed", "output_truncated")


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits.

    Attributes:
        timeout_s: wall-clock limit of the run.
        memory_mb: memory limit (address space / cgroup memory, swap included).
        cpus: CPU quota in cores.
        pids: the most processes and threads the run may have at once.
        output_bytes: the most bytes of stdout and of stderr kept; the run is stopped past it.
    """

    timeout_s: float = 10.0
    memory_mb: int = 512
    cpus: float = 1.0
    pids: int = 64
    output_bytes: int = 1_000_000


@dataclass(frozen=True)
class RunRequest:
    """One program run.

    Attributes:
        files: files written into a fresh, empty workspace before the run (name -> text or bytes).
        command: the argv run inside the workspace, e.g. ``("python3", "main.py")``.
        stdin: data fed to the program's standard input.
        limits: resource limits of this run.
    """

    files: dict[str, str | bytes] = field(default_factory=dict)
    command: tuple[str, ...] = ("python3", "main.py")
    stdin: str | bytes = b""
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class RunResult:
    """What happened.

    Attributes:
        status: ``ok`` (exit 0), ``error`` (non-zero exit), ``timeout``, ``oom`` (memory limit),
            ``killed`` (ended by a signal not caused by the limits), ``output_truncated``.
        exit_code: the program's exit code, or ``None`` when it was stopped.
        stdout, stderr: the captured output, each cut at ``limits.output_bytes``.
        duration_s: wall-clock duration of the run inside the sandbox.
        detail: a human-readable explanation (which limit, which signal).
    """

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    detail: str = ""


@runtime_checkable
class Sandbox(Protocol):
    """Runs programs in isolation; safe to call from many threads."""

    def run(self, request: RunRequest) -> RunResult: ...

    async def arun(self, request: RunRequest) -> RunResult: ...

    def close(self) -> None: ...
