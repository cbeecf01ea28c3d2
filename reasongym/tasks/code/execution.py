"""One sandbox run of an in-sandbox test supervisor, credited only through its secret-token line.

Every run gets a fresh 128-bit token from :mod:`secrets`. It travels inside the job file, which the
supervisor deletes before any candidate code starts, and comes back on the supervisor's final result
line. The caller accepts a payload only from a line carrying exactly that token, so exit codes, prints
of the candidate, and result lines from earlier runs are worth nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from reasongym.runtime.sandbox.base import Limits, RunRequest, Sandbox
from reasongym.tasks.code.harness import JOB_FILE, RESULT_PREFIX, command, workspace_files

STDERR_TAIL_CHARS = 600


@dataclass(frozen=True)
class HarnessRun:
    """The supervisor's payload (``None`` when no valid result line came back) and the sandbox outcome."""

    payload: dict[str, Any] | None
    sandbox_status: str
    detail: str


def read_result(stdout: str, token: str) -> dict[str, Any] | None:
    """The JSON payload of the result line carrying ``token``, or ``None``."""
    for line in reversed(stdout.splitlines()):
        if not line.startswith(RESULT_PREFIX + " "):
            continue
        fields = line.split(" ", 2)
        if len(fields) == 3 and secrets.compare_digest(fields[1].encode(), token.encode()):
            try:
                payload = json.loads(fields[2])
            except json.JSONDecodeError:
                return None
            return payload if isinstance(payload, dict) else None
    return None


def run_harness(sandbox: Sandbox, script: str, job: dict[str, Any], limits: Limits) -> HarnessRun:
    """Run supervisor ``script`` on ``job`` (a fresh token is added) and read its result."""
    token = secrets.token_hex(16)
    files: dict[str, str | bytes] = {**workspace_files(script), JOB_FILE: json.dumps({**job, "token": token})}
    result = sandbox.run(RunRequest(files=files, command=command(script), limits=limits))
    payload = read_result(result.stdout, token)
    if payload is not None:
        return HarnessRun(payload, result.status, "")
    reason = f"the test harness reported no result (sandbox status {result.status!r}"
    reason += f": {result.detail})" if result.detail else ")"
    tail = result.stderr[-STDERR_TAIL_CHARS:].strip()
    return HarnessRun(None, result.status, f"{reason}\n{tail}".strip())
