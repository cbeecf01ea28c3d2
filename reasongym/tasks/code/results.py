"""Test results, the verdict on one submission, and the reward modes computed from it.

=================== ======================================================================
reward mode         outcome
=================== ======================================================================
``all_pass``        1 if every test passes, else 0 (default)
``pass_rate``       the fraction of tests that pass
``first_n_pass_rate`` the fraction of the first ``first_n`` tests that pass (the tests are in
                    dataset order: for stdin/stdout tasks the public tests come first)
=================== ======================================================================

A submission that could not be run (no code, a syntax error) has no tests and earns 0 in every mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REWARD_MODES: tuple[str, ...] = ("all_pass", "pass_rate", "first_n_pass_rate")

#: ``Verdict.sandbox_status`` when nothing was executed
NOT_RUN = "not_run"


@dataclass(frozen=True)
class TestResult:
    """One test: its name, whether it passed, a status word and a short human-readable detail."""

    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    """Everything known about one submission after running it.

    Attributes:
        tests: per-test results in the task's order (empty when nothing ran).
        sandbox_status: the sandbox's :class:`~reasongym.runtime.sandbox.base.RunResult` status, or
            :data:`NOT_RUN`.
        error: why the submission could not be judged normally (syntax error, code that failed to load,
            a run that never produced the harness's result line), else ``None``.
        isolation: what the in-sandbox supervisor reported about its isolation measures.
    """

    tests: tuple[TestResult, ...]
    sandbox_status: str
    error: str | None = None
    isolation: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def all_passed(self) -> bool:
        return bool(self.tests) and all(t.passed for t in self.tests)

    def info(self) -> dict[str, Any]:
        """The ``info`` entries an environment reports for this verdict."""
        return {"tests": [asdict(t) for t in self.tests], "sandbox_status": self.sandbox_status,
                "passed_tests": self.passed, "total_tests": len(self.tests), "error": self.error,
                "isolation": dict(self.isolation)}


def check_reward_mode(mode: str, first_n: int | None) -> str:
    """Return ``mode`` after checking it (and ``first_n`` for ``first_n_pass_rate``)."""
    if mode not in REWARD_MODES:
        raise ValueError(f"unknown reward_mode {mode!r}; choose one of {list(REWARD_MODES)}")
    if mode == "first_n_pass_rate" and (not isinstance(first_n, int) or first_n < 1):
        raise ValueError(f"reward_mode 'first_n_pass_rate' needs first_n >= 1, got {first_n!r}")
    return mode


def outcome_reward(verdict: Verdict, mode: str, first_n: int | None = None) -> float:
    """The ``outcome`` part for ``verdict`` under reward ``mode``."""
    tests = verdict.tests
    if not tests:
        return 0.0
    if mode == "all_pass":
        return 1.0 if verdict.all_passed else 0.0
    if mode == "pass_rate":
        return verdict.passed / len(tests)
    if mode == "first_n_pass_rate":
        head = tests[:first_n]
        return sum(t.passed for t in head) / len(head)
    raise ValueError(f"unknown reward_mode {mode!r}; choose one of {list(REWARD_MODES)}")


def failure_report(verdict: Verdict, *, max_tests: int = 5, max_chars: int = 3000) -> str:
    """A short text naming the failing tests with their details (for multi-turn feedback)."""
    if verdict.error and not verdict.tests:
        return verdict.error[:max_chars]
    failing = [t for t in verdict.tests if not t.passed]
    lines = [f"{len(verdict.tests) - len(failing)} of {len(verdict.tests)} tests passed."]
    if verdict.error:
        lines.append(verdict.error[:500])
    for test in failing[:max_tests]:
        detail = test.detail if len(test.detail) <= 400 else test.detail[:400] + " ..."
        lines.append(f"- {test.name} [{test.status}]: {detail}")
    if len(failing) > max_tests:
        lines.append(f"- ... and {len(failing) - max_tests} more failing tests")
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[:max_chars] + " ..."
