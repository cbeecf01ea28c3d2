"""The tools family: function calling (BFCL, single step) and multi-step tool use with a final answer.

Protocol (both kinds): the first observation is a system message listing the tools as JSON schemas
and the call format, then the user's request. The agent calls tools by writing
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks, several per message if it likes
(:mod:`reasongym.tasks.tools.calls`). A malformed block never raises: it is reported in a readable
message and costs a format penalty.

* :class:`BFCLEnv` (``reason/BFCL-Simple-v0``, ``-Multiple-``, ``-Parallel-``, ``-ParallelMultiple-``,
  ``-Irrelevance-``): one step. The calls are not executed; they are checked against BFCL's possible
  answers by :func:`~reasongym.tasks.tools.ast_checker.check_calls`. When no function fits, the agent
  must say so in ``<response>...</response>`` without calling anything (an explicit decision: text with
  neither calls nor a response is an invalid action; ``strict_no_call=False`` restores BFCL's own
  scoring, where any output without a decodable call passes irrelevance). Turn budget: 1.
* :class:`ToolEnv`: several turns; each call runs, its result comes back as a ``tool`` message; the
  episode terminates when the agent writes ``<answer>...</answer>`` (or ``\\boxed{}``) and is truncated
  after ``max_turns``. :class:`ToolSearchCalcEnv` (``reason/ToolSearchCalc-v0``) and
  :class:`ToolPythonEnv` (``reason/ToolPython-v0``) generate their tasks from a seed.

Reward parts are listed on each class; ``info`` carries ``calls`` (well-formed calls as dicts) and
``call_errors`` (one message per malformed block).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import Message, text_message
from reasongym.runtime.sandbox.base import Sandbox
from reasongym.tasks.base import ProceduralSource, TaskItem, TaskSource
from reasongym.tasks.tools import python_tasks, search_calc
from reasongym.tasks.tools.answers import final_answer, same_answer
from reasongym.tasks.tools.ast_checker import canonical_calls, check_calls, check_value
from reasongym.tasks.tools.bfcl import BFCL_HUB, load_bfcl, tool_specs
from reasongym.tasks.tools.calculator import CALCULATOR
from reasongym.tasks.tools.calls import ParsedAction, ToolCall, parse_tool_calls
from reasongym.tasks.tools.prompt import ANSWER_RULE, REPLY_RULE, tools_prompt
from reasongym.tasks.tools.python_tool import PythonRunner
from reasongym.tasks.tools.search import DocumentSearch
from reasongym.tasks.tools.tool import Tool, Toolbox, ToolResult
from reasongym.tasks.tools.toolrl import toolrl_parts
from reasongym.tasks.tools.workspace import Workspace

NO_DECISION = ("No tool call and no reply found. Call functions with <tool_call>{\"name\": ..., \"arguments\": "
               "{...}}</tool_call>, or reply inside <response></response> if none fits.")
NO_PROGRESS = ("No tool call and no final answer found. Call a tool with <tool_call>{\"name\": ..., \"arguments\": "
               "{...}}</tool_call>, or give your final answer as <answer>...</answer>.")


def _mentions(text: str, value: str) -> bool:
    """``value`` occurs in ``text`` as a whole token (``12`` is not in ``123`` nor in ``0.12``)."""
    start = text.find(value)
    while start >= 0:
        before = text[start - 1] if start else " "
        after = text[start + len(value)] if start + len(value) < len(text) else " "
        if not (before.isalnum() or before in "._") and not (after.isalnum() or after == "_"):
            return True
        start = text.find(value, start + 1)
    return False


def _has_response(parsed: ParsedAction) -> bool:
    """A closed ``<response>`` block outside the tool calls (searched linearly: one ``find`` per tag)."""
    start = parsed.text.find("<response>")
    return start >= 0 and parsed.text.find("</response>", start) >= 0


class BFCLEnv(ReasonEnv):
    """One BFCL v4 question: call the right function(s) with the right arguments, or none.

    Reward parts: ``outcome`` is 1 when the AST checker accepts the calls (for irrelevance: no call and a
    ``<response>``), else 0. ``reward_mode="toolrl"`` adds ToolRL's ``format`` (0/1) and ``correctness``
    ([-3, 3]) against the canonical ground-truth calls, a value counting as correct when the AST checker
    accepts it (:mod:`reasongym.tasks.tools.toolrl`). ``reward_mode="ast"`` (default) adds a ``format``
    part of ``-format_penalty`` for an invalid action when ``format_penalty > 0``.

    Args:
        category: ``simple``, ``multiple``, ``parallel``, ``parallel_multiple`` or ``irrelevance``.
        data_files: a folder holding the BFCL v4 files (see :mod:`reasongym.tasks.tools.bfcl`).
        hub: the Hugging Face dataset to fetch them from when no local copy is found (``None``: never).
        reward_mode: ``ast`` or ``toolrl``.
        format_penalty: see reward parts.
        strict_no_call: a message without calls must reply in ``<response>`` to count as a decision (and to
            pass irrelevance); ``False`` is BFCL's scoring, where any text without a call does.
        system_prompt: instructions placed before the tool listing in the system message.
        **kwargs: passed to :class:`ReasonEnv` (``max_action_chars``, ``render_mode``).
    """

    family = "tools"
    reward_modes = ("ast", "toolrl")

    def __init__(self, category: str = "simple", *, data_files: str | os.PathLike | None = None,
                 hub: str | None = BFCL_HUB, reward_mode: str = "ast", format_penalty: float = 0.0,
                 strict_no_call: bool = True, system_prompt: str | None = None, **kwargs: Any):
        if reward_mode not in self.reward_modes:
            raise ValueError(f"unknown reward_mode {reward_mode!r}; choose one of {list(self.reward_modes)}")
        self.category = category
        self.reward_mode = reward_mode
        self.format_penalty = float(format_penalty)
        self.strict_no_call = strict_no_call
        self.instructions = system_prompt
        super().__init__(load_bfcl(category, data_files=data_files, hub=hub), max_turns=1, **kwargs)

    def _first_observation(self, item: TaskItem) -> list[Message]:
        system = tools_prompt(tool_specs(item.metadata["functions"]), REPLY_RULE, self.instructions)
        question = [text_message(m["role"], m["content"]) for m in item.metadata["messages"]]
        return [text_message("system", system), *question]

    def gold_calls(self) -> list[ToolCall]:
        """The canonical ground-truth calls of the current item (``[]`` for irrelevance)."""
        return canonical_calls(self.item.answer, self.item.metadata["functions"])

    def _judge(self, action: str) -> Judgement:
        parsed = parse_tool_calls(action)
        functions = self.item.metadata["functions"]
        responded = _has_response(parsed)
        # a decision is calls, or a reply; under BFCL's own scoring (not strict) any text is a reply
        valid = parsed.ok and bool(parsed.calls or responded or not self.strict_no_call)
        if not self.item.answer:
            passed = (parsed.blocks == 0 and responded) if self.strict_no_call else not parsed.calls
            verdict_text = "" if passed else ("a function was called although none fits the request"
                                              if parsed.blocks else "no reply in <response></response>")
        else:
            verdict = check_calls(parsed.calls, functions, self.item.answer)
            passed = parsed.ok and verdict.valid
            verdict_text = verdict.error or "; ".join(map(str, parsed.errors))
        parts = {"outcome": 1.0 if passed else 0.0}
        if self.reward_mode == "toolrl":
            parts.update(toolrl_parts(action, parsed, self.gold_calls(), self._value_matcher()))
        elif self.format_penalty:
            parts["format"] = 0.0 if valid else -self.format_penalty
        lines = ["Correct." if passed else f"Incorrect: {verdict_text}."]
        if not valid and not parsed.errors and not parsed.calls:
            lines.append(NO_DECISION)
        lines += [f"Error in {e}" for e in parsed.errors]
        info = {"calls": [c.to_dict() for c in parsed.calls], "call_errors": [str(e) for e in parsed.errors],
                "ast_error": verdict_text if not passed else "", "category": self.category}
        return Judgement(parts, terminated=True, feedback=[text_message("user", "\n".join(lines))],
                         valid_action=valid, info=info)

    def _value_matcher(self) -> Callable[[int, str, Any], bool]:
        """ToolRL's value test: the AST checker's verdict on one argument of a gold call."""
        functions = {f["name"]: f for f in self.item.metadata["functions"]}
        gold = self.item.answer

        def matches(j: int, key: str, value: Any) -> bool:
            (name, possible), = gold[j].items()
            spec = functions[name]["parameters"]["properties"][key]
            return check_value(key, value, spec, possible[key]).valid

        return matches

    def oracle_action(self) -> str:
        gold = self.gold_calls()
        if not gold:
            return "<response>None of the available functions can do what is asked.</response>"
        return "\n".join(call.render() for call in gold)


class ToolEnv(ReasonEnv):
    """Multi-step tool use: call tools over several turns, then give a final answer.

    Items describe themselves through ``item.answer`` (the exact final answer) and optional metadata:

    * ``files`` — ``{path: text}`` put in the workspace at reset (needs ``workspace=``);
    * ``required_files`` — ``{path: text}`` that must hold at the final answer for the outcome;
    * ``milestones`` — ``{id: {"tool": name, "text": s}}`` (a successful call of that tool returned ``s``)
      or ``{id: {"file": path, "text": s}}`` (the workspace file holds ``s``): what counts as progress;
    * ``plan`` — ``[{"milestones": [ids], "calls": [{"name", "arguments"}]}]``, the scripted solution that
      :meth:`oracle_action` follows: the calls of the first stage whose milestones are not all reached,
      then the answer.

    Reward parts, every turn: ``outcome`` (1 when the final answer matches and the required files hold,
    0 otherwise and on turns without a final answer), ``step`` (``step_weight`` x the share of milestones
    reached for the first time this turn, so an episode's step parts sum to at most ``step_weight``) and
    ``format`` (``-format_penalty`` for an invalid action: a malformed call, several answers, or neither
    a call nor an answer). Turn budget: ``max_turns``; the episode is truncated when it runs out.

    Args:
        source: the task items.
        tools: :class:`~reasongym.tasks.tools.tool.Tool` objects or plain typed, documented functions.
        workspace: the episode workspace the tools share, reset from ``files`` on every reset.
        max_turns: the turn budget.
        step_weight, format_penalty: see reward parts.
        max_result_chars: tool results are cut to this length.
        system_prompt: instructions placed before the tool listing in the system message.
        **kwargs: passed to :class:`ReasonEnv` (``max_action_chars``, ``render_mode``).
    """

    family = "tools"
    reward_modes = ("exact",)

    def __init__(self, source: TaskSource, tools: Sequence[Tool | Callable[..., Any]], *,
                 workspace: Workspace | None = None, max_turns: int = 8, step_weight: float = 0.2,
                 format_penalty: float = 0.1, max_result_chars: int = 4000, system_prompt: str | None = None,
                 **kwargs: Any):
        if max_turns < 2:
            raise ValueError(f"a tool episode needs max_turns >= 2 (calls, then an answer), got {max_turns}")
        super().__init__(source, max_turns=max_turns, **kwargs)
        self.toolbox = Toolbox(tools, max_result_chars=max_result_chars)
        self.workspace = workspace
        self.step_weight = float(step_weight)
        self.format_penalty = float(format_penalty)
        self._system = tools_prompt(self.toolbox.specs(), ANSWER_RULE, system_prompt)
        self._reached: set[str] = set()

    # ----------------------------------------------------------------- episode state
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[list[Message], dict[str, Any]]:
        """Start an episode (see :meth:`ReasonEnv.reset`) with fresh tool state and no milestone reached."""
        observation, info = super().reset(seed=seed, options=options)
        self._reached = set()
        if self.workspace is not None:
            self.workspace.reset(self.item.metadata.get("files", {}))
        self._start_episode(self.item)
        return observation, info

    def _start_episode(self, item: TaskItem) -> None:
        """Point episode-scoped tools at ``item`` (subclasses with such tools override this)."""

    def _first_observation(self, item: TaskItem) -> list[Message]:
        return [text_message("system", self._system), text_message("user", item.prompt)]

    # ----------------------------------------------------------------- judging
    def _judge(self, action: str) -> Judgement:
        parsed = parse_tool_calls(action)
        answer = final_answer(parsed.text)
        results = [self.toolbox.run(call) for call in parsed.calls]
        feedback = [text_message("tool", r.content) for r in results]
        feedback += [text_message("tool", f"Error: {e}") for e in parsed.errors]
        milestones = self.item.metadata.get("milestones", {})
        new = self._progress(results, milestones) - self._reached
        self._reached |= new
        valid = parsed.ok and not answer.problem and bool(parsed.calls or answer.answer is not None)
        parts = {"outcome": 0.0, "step": self.step_weight * len(new) / len(milestones) if milestones else 0.0,
                 "format": 0.0 if valid else -self.format_penalty}
        info: dict[str, Any] = {"calls": [c.to_dict() for c in parsed.calls],
                                "call_errors": [str(e) for e in parsed.errors],
                                "tool_ok": [r.ok for r in results], "milestones": sorted(self._reached)}
        terminated = answer.answer is not None
        if terminated:
            correct, reason = self._grade(answer.answer)
            parts["outcome"] = 1.0 if correct else 0.0
            info.update(pred=answer.answer, gold=self.item.answer, correct=correct)
            feedback.append(text_message("user", "Correct." if correct else f"Incorrect: {reason}."))
        else:
            notes = [answer.problem] if answer.problem else []
            if not parsed.calls and not parsed.errors and not answer.problem:
                notes.append(NO_PROGRESS)
            left = self.max_turns - self.turn
            if left == 0:
                notes.append("The turn budget is exhausted.")
            elif left == 1:
                notes.append("One turn left: give your final answer as <answer>...</answer>.")
            if notes:
                feedback.append(text_message("user", " ".join(notes)))
        return Judgement(parts, terminated=terminated, feedback=feedback, valid_action=valid, info=info)

    def _progress(self, results: Sequence[ToolResult], milestones: dict[str, dict[str, str]]) -> set[str]:
        """Ids of the milestones that hold after this turn's calls."""
        reached = set()
        for key, rule in milestones.items():
            if "tool" in rule:
                if any(r.ok and r.call.name == rule["tool"] and _mentions(r.content, rule["text"]) for r in results):
                    reached.add(key)
            elif self.workspace is not None and self.workspace.snapshot().get(rule["file"], "").strip() == rule["text"]:
                reached.add(key)
        return reached

    def _grade(self, answer: str) -> tuple[bool, str]:
        """``(correct, reason when not)`` for a final answer: the exact answer, and every required file."""
        if not same_answer(answer, str(self.item.answer)):
            return False, f"{answer[:80]} is not the answer"
        files = self.workspace.snapshot() if self.workspace is not None else {}
        for path, text in self.item.metadata.get("required_files", {}).items():
            if files.get(path, "").strip() != text:
                return False, f"the answer is right but {path} does not hold it"
        return True, ""

    def oracle_action(self) -> str:
        for stage in self.item.metadata.get("plan", []):
            if not set(stage["milestones"]) <= self._reached:
                return "\n".join(ToolCall(c["name"], c["arguments"]).render() for c in stage["calls"])
        return f"<answer>{self.item.answer}</answer>"


class ToolSearchCalcEnv(ToolEnv):
    """``reason/ToolSearchCalc-v0``: find facts with ``search`` over a generated corpus, compute with ``calculator``.

    See :mod:`reasongym.tasks.tools.search_calc`. Tools: ``search`` (BM25, ``top_k`` documents per query)
    and ``calculator``. Milestones: each needed population found, the answer computed. Turn budget:
    ``max_turns`` (default 8; the oracle needs 3).

    Args:
        num_items: how many distinct tasks the seed defines.
        task_seed: the generator seed (same seed, same tasks in every process).
        top_k: documents returned by one search.
        extra_tools: user tools offered beside the built-in ones.
        **kwargs: :class:`ToolEnv` options.
    """

    def __init__(self, *, num_items: int = 10_000, task_seed: int = 0, top_k: int = 3,
                 extra_tools: Sequence[Tool | Callable[..., Any]] = (), **kwargs: Any):
        self.corpus = DocumentSearch(top_k=top_k)
        source = ProceduralSource(search_calc.make_item, num_items=num_items, seed=task_seed, salt="tool-search-calc",
                                  origin=f"procedural:tool-search-calc (task_seed={task_seed})")
        super().__init__(source, [*self.corpus.tools(), CALCULATOR, *extra_tools], **kwargs)

    def _start_episode(self, item: TaskItem) -> None:
        self.corpus.reset(item.metadata["documents"])


class ToolPythonEnv(ToolEnv):
    """``reason/ToolPython-v0``: compute over ``data.csv`` with ``python``, save to ``result.txt``, answer.

    See :mod:`reasongym.tasks.tools.python_tasks`. Tools: ``python`` (runs in the sandbox with the
    workspace files beside the program), ``read_file``, ``write_file``, ``list_files``, ``calculator``.
    Milestones: the answer printed by a program, the result file written. The outcome needs the exact
    answer and ``result.txt`` holding it. Turn budget: ``max_turns`` (default 6; the oracle needs 3).

    Args:
        sandbox: ``"auto"`` (Docker, else local), ``"docker"``, ``"local"`` or a sandbox instance; named
            backends are shared by every env of the process and started on the first ``python`` call.
        num_items, task_seed, extra_tools: as for :class:`ToolSearchCalcEnv`.
        **kwargs: :class:`ToolEnv` options.
    """

    def __init__(self, *, sandbox: str | Sandbox = "auto", num_items: int = 10_000, task_seed: int = 0,
                 max_turns: int = 6, extra_tools: Sequence[Tool | Callable[..., Any]] = (), **kwargs: Any):
        workspace = Workspace()
        self.runner = PythonRunner(sandbox, workspace=workspace)
        source = ProceduralSource(python_tasks.make_item, num_items=num_items, seed=task_seed, salt="tool-python",
                                  origin=f"procedural:tool-python (task_seed={task_seed})")
        tools = [*self.runner.tools(), *workspace.tools(), CALCULATOR, *extra_tools]
        super().__init__(source, tools, workspace=workspace, max_turns=max_turns, **kwargs)
