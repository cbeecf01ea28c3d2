"""The software-engineering family: fix an injected bug in a small repository with tools.

``reason/RepoFix-v0`` (:class:`RepoFixEnv`): each episode is one of four small Python repositories written
for this project (``rpn``, ``intervals``, ``textkit``, ``ledger``) with one bug injected by a seeded AST
mutation that was verified to break at least one hidden test (:mod:`reasongym.tasks.swe`). The agent gets
a bug report and five tools (``view_file``, ``edit_file``, ``shell``, ``run_tests``, ``submit``), called as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks (several per message allowed, up to
``max_calls_per_turn``); each result comes back as a ``tool`` message.

Rewards (``info["reward_parts"]``):

* ``outcome``: on ``submit``, 1 when every hidden test passes, else 0 (0 on every other turn);
* ``step``: shaping that is deliberately cheap to farm (it is what G-RA gating is for):
  ``edit_reward`` for every edit after which the package still imports, plus ``test_reward`` times the
  fraction of the visible tests the bug broke that pass for the first time in a ``run_tests``;
* ``format``: ``-format_penalty`` when the message is not a clean set of well-formed calls to known
  tools with valid arguments (no call at all, malformed JSON, unknown tool, bad arguments; the
  well-formed calls of such a message still run). Such turns have ``info["valid_action"] = False``.

Turn budget: ``max_turns`` messages (default 20). ``submit`` ends the episode (``terminated``); running out
of turns first ends it ``truncated`` with outcome 0. A message without a parseable call starts no sandbox
run. Isolation: the episode's repository lives in the env as a dict of files and every command runs in a
fresh sandbox workspace built from it (see :mod:`reasongym.tasks.swe.session` and ``docs/swe.md``).
"""

from __future__ import annotations

from typing import Any, Sequence

from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import Message, text_message
from reasongym.runtime.sandbox.base import Limits, Sandbox
from reasongym.tasks.base import TaskItem
from reasongym.tasks.swe.prompts import SUBMIT_RULE, task_prompt
from reasongym.tasks.swe.runs import CaseLimits
from reasongym.tasks.swe.session import DEFAULT_SHELL_LIMITS, Event, RepoSession
from reasongym.tasks.swe.source import Fix, RepoFixSource
from reasongym.tasks.tools.calls import CALL_SHAPE, ToolCall, parse_tool_calls
from reasongym.tasks.tools.prompt import tools_prompt
from reasongym.tasks.tools.schema import validate_arguments
from reasongym.tasks.tools.tool import Toolbox

MAX_RESULT_CHARS = 8000


class RepoFixEnv(ReasonEnv):
    """``reason/RepoFix-v0``: see the module docstring.

    Args:
        repos: repositories to draw bugs from (default: all four).
        operators: mutation operators to draw bugs from (default: all six).
        seed: the order of the task items (``reset(options={"index": i})`` selects item ``i``).
        max_turns: the turn budget.
        max_calls_per_turn: the most tool calls one message may hold (more make the message invalid).
        edit_reward: ``step`` reward for an edit after which the package imports.
        test_reward: ``step`` reward for making all the visible tests the bug broke pass (paid pro rata,
            once per test and episode).
        format_penalty: subtracted (part ``format``) on a turn whose message is not a clean set of calls.
        sandbox: ``"auto"``, ``"docker"``, ``"local"`` (one shared sandbox per process) or a Sandbox.
        shell_limits: limits of one shell command.
        case_limits: limits of one test-suite run (per-case timeout, budget, memory).
        system_prompt: text placed before the tool protocol in the system message.
        **kwargs: passed to :class:`ReasonEnv` (``max_action_chars``, ``render_mode``).
    """

    family = "swe"
    reward_modes = ("all_pass",)

    def __init__(self, *, repos: Sequence[str] | None = None, operators: Sequence[str] | None = None, seed: int = 0,
                 max_turns: int = 20, max_calls_per_turn: int = 4, edit_reward: float = 0.05,
                 test_reward: float = 0.5, format_penalty: float = 0.1, sandbox: str | Sandbox = "auto",
                 shell_limits: Limits = DEFAULT_SHELL_LIMITS, case_limits: CaseLimits = CaseLimits(),
                 system_prompt: str | None = None, **kwargs: Any):
        if max_calls_per_turn < 1:
            raise ValueError(f"max_calls_per_turn must be at least 1, got {max_calls_per_turn}")
        self.session = RepoSession(sandbox, shell_limits=shell_limits, case_limits=case_limits)
        self.toolbox = Toolbox(self.session.tools(), max_result_chars=MAX_RESULT_CHARS)
        super().__init__(RepoFixSource(repos=repos, operators=operators, seed=seed), max_turns=max_turns,
                         system_prompt=tools_prompt(self.toolbox.specs(), SUBMIT_RULE, system_prompt), **kwargs)
        self.max_calls_per_turn = max_calls_per_turn
        self.edit_reward = float(edit_reward)
        self.test_reward = float(test_reward)
        self.format_penalty = float(format_penalty)
        self._credited: set[str] = set()

    @property
    def tool_specs(self) -> list[dict[str, Any]]:
        """The tools as OpenAI / Qwen function entries (what the system message lists)."""
        return self.toolbox.specs()

    def _first_observation(self, item: TaskItem) -> list[Message]:
        mutant = item.metadata["mutant"]
        self.session.reset(mutant.repository, item.metadata["files"])
        self._credited = set()
        paths = sorted(self.session.workspace())
        return [text_message("user", task_prompt(mutant, paths, self.max_turns))]

    def _judge(self, action: str) -> Judgement:
        parsed = parse_tool_calls(action, max_calls=self.max_calls_per_turn)
        problems = [str(error) for error in parsed.errors]
        if not parsed.calls and not parsed.errors:
            problems.append(f"no tool call found; call a tool as <tool_call>{CALL_SHAPE}</tool_call>")
        feedback: list[Message] = []
        step, calls, results = 0.0, [], []
        for call in parsed.calls:
            if not self._well_formed(call):
                problems.append(f"the call to {call.name!r} is not valid (see the tool's reply)")
            result = self.toolbox.run(call)
            feedback.append(text_message("tool", result.content))
            calls.append(call.to_dict())
            results.append(result.ok)
            step += self._step_reward(self.session.take_events())
            if self.session.submitted:
                break
        if problems:
            feedback.append(text_message("user", "Your message was not a valid set of tool calls:\n- "
                                         + "\n- ".join(problems)))
        valid = not problems
        submission = self.session.submission
        outcome = 1.0 if submission is not None and submission.all_passed else 0.0
        parts = {"outcome": outcome, "step": step, "format": 0.0 if valid else -self.format_penalty}
        info: dict[str, Any] = {"calls": calls, "call_errors": problems, "tool_ok": results}
        if submission is not None:
            info.update(hidden_passed=len(submission.passed), hidden_total=len(submission.cases),
                        failing_hidden=sorted(c.name for c in submission.cases if not c.passed))
        return Judgement(reward_parts=parts, terminated=submission is not None, feedback=feedback,
                         valid_action=valid, info=info)

    def _well_formed(self, call: ToolCall) -> bool:
        found = self.toolbox.tools.get(call.name)
        return found is not None and not validate_arguments(call.arguments, found.parameters)

    def _step_reward(self, events: list[Event]) -> float:
        """The ``step`` reward of one tool call's events."""
        reward = 0.0
        broken = self.item.metadata["mutant"].failing_visible
        for event in events:
            if event.kind == "edit" and event.importable:
                reward += self.edit_reward
            elif event.kind == "tests" and event.suite is not None and broken:
                newly = (event.suite.passed & set(broken)) - self._credited
                self._credited |= newly
                reward += self.test_reward * len(newly) / len(broken)
        return reward

    def oracle_action(self) -> str:
        """The next call of a scripted fixer that knows the mutation: view the buggy file, apply the
        inverse edit, run the visible tests, submit."""
        fix: Fix = self.item.answer
        pristine = self.item.metadata["mutant"].repository.files[fix.path]
        if self.session.files.get(fix.path) != pristine:
            if fix.path not in self.session.viewed:
                call = ToolCall("view_file", {"path": fix.path})
            else:
                call = ToolCall("edit_file", {"path": fix.path, "old_str": fix.old, "new_str": fix.new})
        elif not self.session.tested_since_edit:
            call = ToolCall("run_tests")
        else:
            call = ToolCall("submit")
        return call.render()
