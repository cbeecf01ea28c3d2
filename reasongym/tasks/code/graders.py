"""Graders: run a submission against a task item's tests in a sandbox and return a :class:`Verdict`.

* :class:`FunctionGrader` — function tests (HumanEval): the ``function_tests.py`` supervisor calls the
  candidate through a process boundary (see ``harness/function_tests.py`` and ``docs/code_envs.md``).
* :class:`StdioGrader` — stdin/stdout tests: the ``stdio_tests.py`` supervisor runs the program once per
  input and sends the outputs back; they are compared here, so expected outputs never enter the sandbox.

A run whose result line is missing (the sandbox stopped the supervisor, the candidate killed it, ...)
fails every test with the sandbox's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from reasongym.runtime.sandbox.base import Limits, Sandbox
from reasongym.tasks.base import TaskItem
from reasongym.tasks.code.compare import TOLERANCE, outputs_match
from reasongym.tasks.code.execution import HarnessRun, run_harness
from reasongym.tasks.code.humaneval import FunctionTests
from reasongym.tasks.code.results import TestResult, Verdict
from reasongym.tasks.code.stdio import StdioTest

#: sandbox seconds on top of a supervisor's own time budget (interpreter starts, container exec)
STARTUP_SLACK_S = 10.0
SHOWN_CHARS = 200


class Grader(Protocol):
    """Grades one program for one task item."""

    def grade(self, item: TaskItem, code: str, sandbox: Sandbox, *, fail_fast: bool) -> Verdict: ...


def _shorten(text: str) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"... ({len(text)} chars)"


def _statuses(run: HarnessRun, count: int) -> list[dict[str, Any]] | None:
    """The supervisor's per-test records, or ``None`` when the payload is missing or malformed."""
    tests = run.payload.get("tests") if run.payload is not None else None
    if not isinstance(tests, list) or len(tests) != count or not all(
            isinstance(t, dict) and isinstance(t.get("status"), str) for t in tests):
        return None
    return tests


def _failed_run(names: list[str], run: HarnessRun) -> Verdict:
    detail = run.detail or "the test harness returned a malformed result"
    status = run.sandbox_status if run.sandbox_status != "ok" else "error"
    tests = tuple(TestResult(name, False, status, _shorten(detail)) for name in names)
    return Verdict(tests, run.sandbox_status, error=detail)


@dataclass(frozen=True)
class FunctionGrader:
    """Function tests with a per-call time limit and a time budget for the whole run.

    Attributes:
        timeout_s: the most one call of the candidate may take.
        time_budget_s: the most all tests together may take; tests after it are skipped (failed).
        memory_mb: the sandbox's memory limit.
    """

    timeout_s: float = 3.0
    time_budget_s: float = 20.0
    memory_mb: int = 512

    def grade(self, item: TaskItem, code: str, sandbox: Sandbox, *, fail_fast: bool) -> Verdict:
        spec: FunctionTests = item.metadata["tests"]
        names = [f"test_{i}" for i in range(len(spec.statements))]
        job = {"prelude": spec.prelude, "tests": spec.module, "n_tests": len(names), "entry_point": spec.entry_point,
               "code": code, "call_timeout_s": self.timeout_s, "budget_s": self.time_budget_s, "fail_fast": fail_fast}
        limits = Limits(timeout_s=self.time_budget_s + STARTUP_SLACK_S, memory_mb=self.memory_mb)
        run = run_harness(sandbox, "function_tests.py", job, limits)
        records = _statuses(run, len(names))
        if records is None:
            return _failed_run(names, run)
        tests = []
        for name, statement, record in zip(names, spec.statements, records):
            passed = record["status"] == "passed"
            detail = "" if passed else f"{_shorten(statement)} -> {str(record.get('detail', ''))}"
            tests.append(TestResult(name, passed, record["status"], detail))
        load_error = run.payload.get("load_error")
        return Verdict(tuple(tests), run.sandbox_status,
                       error=f"the code failed to load: {load_error}" if load_error else None,
                       isolation=dict(run.payload.get("isolation") or {}))


@dataclass(frozen=True)
class StdioGrader:
    """Stdin/stdout tests, compared with :func:`~reasongym.tasks.code.compare.outputs_match`.

    Attributes:
        timeout_s: the most one run of the program (one test) may take.
        time_budget_s: the most all tests together may take; tests after it are skipped (failed).
        memory_mb: the sandbox's memory limit.
        tolerance: relative and absolute tolerance for decimal tokens.
    """

    timeout_s: float = 6.0
    time_budget_s: float = 60.0
    memory_mb: int = 512
    tolerance: float = TOLERANCE

    def grade(self, item: TaskItem, code: str, sandbox: Sandbox, *, fail_fast: bool) -> Verdict:
        cases: tuple[StdioTest, ...] = item.metadata["tests"]
        # an output over twice the expected size (plus slack) is wrong whatever it holds: cap it there
        caps = [2 * len(case.output.encode()) + 1024 for case in cases]
        job = {"code": code, "inputs": [case.input for case in cases], "caps": caps, "timeout_s": self.timeout_s,
               "budget_s": self.time_budget_s, "fail_fast": fail_fast}
        # JSON escaping can take six bytes per output byte in the result line
        limits = Limits(timeout_s=self.time_budget_s + STARTUP_SLACK_S, memory_mb=self.memory_mb,
                        output_bytes=6 * sum(caps) + 65536)
        run = run_harness(sandbox, "stdio_tests.py", job, limits)
        records = _statuses(run, len(cases))
        if records is None:
            return _failed_run([case.name for case in cases], run)
        tests = [self._judge(case, record) for case, record in zip(cases, records)]
        return Verdict(tuple(tests), run.sandbox_status, isolation=dict(run.payload.get("isolation") or {}))

    def _judge(self, case: StdioTest, record: dict[str, Any]) -> TestResult:
        if record["status"] != "ok":
            return TestResult(case.name, False, record["status"],
                              f"input: {_shorten(case.input)!r}; {_shorten(str(record.get('detail', '')))}")
        got = str(record.get("stdout", ""))
        if outputs_match(got, case.output, self.tolerance):
            return TestResult(case.name, True, "passed")
        return TestResult(case.name, False, "failed", f"input: {_shorten(case.input)!r}; expected: "
                                                      f"{_shorten(case.output)!r}; got: {_shorten(got)!r}")
