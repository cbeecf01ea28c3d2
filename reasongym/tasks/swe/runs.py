"""Sandbox runs for RepoFix: a repository's test cases through the trusted harness, and shell commands.

Every run writes the episode's current files into a fresh sandbox workspace, so nothing persists between
runs and nothing crosses from one episode to another (see ``docs/swe.md``, "Isolation").

* :func:`run_cases` grades cases with the supervisor of :mod:`reasongym.tasks.swe.harness`: the
  repository goes to ``repo/`` beside the harness, the expectations travel only inside the job file
  (deleted before any repository code runs), and the verdict is credited only from the result line that
  carries this run's secret token (:func:`reasongym.tasks.code.execution.read_result`).
* :func:`run_shell` runs ``sh -c <command>`` with the repository and its visible tests at the workspace
  root; whatever the command writes is discarded with the workspace.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Sequence

from reasongym.runtime.sandbox.base import Limits, RunRequest, RunResult, Sandbox
from reasongym.tasks.code.execution import read_result
from reasongym.tasks.code.harness.guard import JOB_FILE
from reasongym.tasks.code.harness.values import encode
from reasongym.tasks.swe.harness import REPO_DIR, command, harness_files
from reasongym.tasks.swe.repository import Case, Repository

#: sandbox seconds on top of the harness's own time budget (interpreter starts, container exec)
STARTUP_SLACK_S = 10.0
STDERR_TAIL_CHARS = 600


@dataclass(frozen=True)
class CaseLimits:
    """Time and memory for one harness run.

    Attributes:
        case_timeout_s: the most one case may take (the worker is restarted after a timeout).
        budget_s: the most all cases of the run may take; later cases are skipped (failed).
        memory_mb: the sandbox's memory limit.
    """

    case_timeout_s: float = 2.0
    budget_s: float = 20.0
    memory_mb: int = 512


@dataclass(frozen=True)
class CaseResult:
    """One case: passed or not, the harness's status word, a readable detail, and what the code did
    (``returned 3``, ``raised ValueError: ...``; empty when it did not finish)."""

    name: str
    passed: bool
    status: str
    detail: str = ""
    observed: str = ""


@dataclass(frozen=True)
class SuiteResult:
    """A harness run: per-case results in order, the import error if any, and the sandbox's status.

    Attributes:
        cases: one result per case (all failed when the harness reported nothing).
        load_error: why the package could not be imported, else ``None``.
        sandbox_status: the sandbox's :class:`~reasongym.runtime.sandbox.base.RunResult` status.
        error: set when no valid result line came back (then every case failed with it).
    """

    cases: tuple[CaseResult, ...]
    load_error: str | None
    sandbox_status: str
    error: str | None = None

    @property
    def passed(self) -> frozenset[str]:
        """Names of the passing cases."""
        return frozenset(c.name for c in self.cases if c.passed)

    @property
    def all_passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def importable(self) -> bool:
        """Whether the harness imported every module of the package."""
        return self.error is None and self.load_error is None


def _job(repository: Repository, cases: Sequence[Case], limits: CaseLimits, token: str) -> dict[str, Any]:
    expectations = [{"raises": c.raises} if c.raises else {"value": encode(c.expected)} for c in cases]
    return {"imports": repository.imports, "modules": list(repository.modules), "cases": [c.job() for c in cases],
            "expectations": expectations, "case_timeout_s": limits.case_timeout_s, "budget_s": limits.budget_s,
            "token": token}


def run_cases(sandbox: Sandbox, repository: Repository, files: dict[str, str], cases: Sequence[Case],
              limits: CaseLimits = CaseLimits()) -> SuiteResult:
    """Grade ``cases`` against the repository ``files``; with no cases, only check that it imports."""
    token = secrets.token_hex(16)
    workspace: dict[str, str | bytes] = {f"{REPO_DIR}/{path}": text for path, text in files.items()}
    workspace.update(harness_files())
    workspace[JOB_FILE] = json.dumps(_job(repository, cases, limits, token))
    request = RunRequest(files=workspace, command=command(),
                         limits=Limits(timeout_s=limits.budget_s + STARTUP_SLACK_S, memory_mb=limits.memory_mb))
    result = sandbox.run(request)
    payload = read_result(result.stdout, token)
    records = payload.get("tests") if payload is not None else None
    if not isinstance(records, list) or len(records) != len(cases) or not all(
            isinstance(r, dict) and isinstance(r.get("status"), str) for r in records):
        reason = f"the test harness reported no result (sandbox status {result.status!r}"
        reason += f": {result.detail})" if result.detail else ")"
        reason = f"{reason}\n{result.stderr[-STDERR_TAIL_CHARS:].strip()}".strip()
        failed = tuple(CaseResult(c.name, False, "error", reason) for c in cases)
        return SuiteResult(failed, None, result.status, error=reason)
    results = tuple(CaseResult(c.name, r["status"] == "passed", r["status"], str(r.get("detail", "")),
                               str(r.get("observed", ""))) for c, r in zip(cases, records))
    load_error = payload.get("load_error")
    return SuiteResult(results, str(load_error) if load_error else None, result.status)


def run_shell(sandbox: Sandbox, files: dict[str, str], line: str, limits: Limits) -> RunResult:
    """Run ``sh -c line`` in a workspace holding ``files``."""
    return sandbox.run(RunRequest(files=dict(files), command=("sh", "-c", line), limits=limits))
