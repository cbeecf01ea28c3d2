"""Translate between the host's RunRequest/RunResult and the executor's request/result frames."""

from __future__ import annotations

from typing import Any

from .base import STATUSES, RunRequest, RunResult
from .guest.protocol import pack_bytes
from .normalize import as_bytes, files_as_bytes


def to_message(request: RunRequest, *, file_bytes: int) -> dict[str, Any]:
    """The request frame for one run.

    ``processes`` is the RLIMIT_NPROC of the run's processes: the uid's budget also counts the executor.
    """
    limits = request.limits
    return {"files": {name: pack_bytes(data) for name, data in files_as_bytes(request).items()},
            "argv": list(request.command), "stdin": pack_bytes(as_bytes(request.stdin)),
            "timeout_s": limits.timeout_s, "output_bytes": limits.output_bytes, "memory_mb": limits.memory_mb,
            "processes": limits.pids + 1, "file_bytes": file_bytes}


def to_result(reply: dict[str, Any]) -> RunResult:
    """The RunResult in a result frame."""
    status = reply.get("status")
    if status not in STATUSES:
        raise ValueError(f"executor reported an unknown status {status!r}")
    return RunResult(status=status, exit_code=reply.get("exit_code"), stdout=reply.get("stdout", ""),
                     stderr=reply.get("stderr", ""), duration_s=float(reply.get("duration_s", 0.0)),
                     detail=reply.get("detail", ""))
