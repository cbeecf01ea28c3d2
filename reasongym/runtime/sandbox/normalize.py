"""Check a :class:`RunRequest` and turn its text fields into bytes, identically for every backend."""

from __future__ import annotations

from .base import Limits, RunRequest


def as_bytes(data: str | bytes) -> bytes:
    """Text is encoded as UTF-8; bytes pass through."""
    return data.encode() if isinstance(data, str) else bytes(data)


def files_as_bytes(request: RunRequest) -> dict[str, bytes]:
    """The request's files with bytes contents."""
    return {name: as_bytes(data) for name, data in request.files.items()}


def check(request: RunRequest) -> None:
    """Reject requests no backend can run (a caller bug, raised as ValueError, not a program failure)."""
    if not request.command or not all(isinstance(arg, str) and arg for arg in request.command):
        raise ValueError(f"command must be a non-empty sequence of non-empty strings, got {request.command!r}")
    check_limits(request.limits)


def check_limits(limits: Limits) -> None:
    """Every limit must be positive, and the memory large enough to start a process."""
    if limits.timeout_s <= 0 or limits.cpus <= 0:
        raise ValueError(f"timeout_s and cpus must be positive: {limits}")
    if limits.memory_mb < 16 or limits.pids < 1 or limits.output_bytes < 1:
        raise ValueError(f"need memory_mb >= 16, pids >= 1 and output_bytes >= 1: {limits}")
