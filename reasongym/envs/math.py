"""The math family: benchmark problems (AIME, AMC, MATH-500, GSM8K) and procedural games.

All envs here are answer-checked: one action is one attempt. With ``max_attempts=1`` (default) an
episode is a single step that terminates. With ``max_attempts=k`` a wrong attempt is answered with a
feedback message and the agent may retry; the episode terminates on a correct answer or when the
attempts run out (the attempt budget is a rule of the task, not a time limit, so there is nothing to
bootstrap from: ``terminated``, never ``truncated``). The ``outcome`` part of every intermediate wrong
attempt is 0 (nothing is final yet); the last step carries the outcome of the final attempt under the
reward mode. Turn budget: ``max_attempts`` steps.
"""

from __future__ import annotations

import os
from typing import Sequence

from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import text_message
from reasongym.tasks.base import ProceduralSource, TaskItem, TaskSource
from reasongym.tasks.math import arithmetic, countdown
from reasongym.tasks.math.benchmarks import BENCHMARKS, PROMPT_SUFFIX, load_source
from reasongym.tasks.math.extract import extract_answer
from reasongym.tasks.math.grade import Grade, grade
from reasongym.tasks.math.rewards import EXTRACTION_MODE, REWARD_MODES, check_reward_mode, reward_parts

DataFiles = str | os.PathLike | Sequence[str | os.PathLike] | None


class AnswerEnv(ReasonEnv):
    """An env whose action is a final answer checked against the item's ground truth.

    Args:
        source: the task items.
        reward_mode: one of :data:`~reasongym.tasks.math.rewards.REWARD_MODES`.
        format_reward: weight of the ``format`` part (0 disables it).
        max_attempts: attempts per episode; feedback after each wrong one.
        **kwargs: passed to :class:`ReasonEnv` (``max_action_chars``, ``system_prompt``, ``render_mode``).
    """

    family = "math"
    reward_modes = REWARD_MODES

    def __init__(self, source: TaskSource, *, reward_mode: str = "binary", format_reward: float = 0.0,
                 max_attempts: int = 1, **kwargs):
        super().__init__(source, max_turns=max_attempts, **kwargs)
        self.reward_mode = check_reward_mode(reward_mode)
        self.format_reward = float(format_reward)

    def _check(self, action: str) -> Grade:
        """Grade ``action`` against the current item."""
        raise NotImplementedError

    def _judge(self, action: str) -> Judgement:
        result = self._check(action)
        last = result.correct or self.turn >= self.max_turns
        parts = reward_parts(result, self.reward_mode, self.format_reward)
        if not last:
            parts["outcome"] = 0.0
        info = {"pred": result.pred, "gold": self.item.answer, "correct": result.correct,
                "format_ok": result.format_ok, "timed_out": result.timed_out, "grade_reason": result.reason}
        if result.correct:
            feedback = "Correct."
        elif last:
            feedback = "Incorrect. No attempts left."
        else:
            left = self.max_turns - self.turn
            shown = "no final answer found" if result.pred is None else f"your answer {result.pred[:200]} is incorrect"
            feedback = f"Incorrect: {shown}. Try again ({left} attempt{'s' * (left > 1)} left)."
        return Judgement(reward_parts=parts, terminated=last, feedback=[text_message("user", feedback)],
                         valid_action=result.pred is not None, info=info)

    def _wrap_answer(self, answer: str) -> str:
        """A response stating ``answer`` in the form every reward mode accepts."""
        return f"<think>The solution is known.</think>\nThe final answer is \\boxed{{{answer}}}."


class MathEnv(AnswerEnv):
    """Benchmark math problems graded by :func:`reasongym.tasks.math.grade`.

    Args:
        benchmarks: keys of :data:`~reasongym.tasks.math.benchmarks.BENCHMARKS` to serve together.
        data_files: local JSONL/JSON/Parquet file(s) to use instead of the defaults.
        prompt_suffix: appended to each problem (the default asks for a boxed final answer).
        grade_timeout: hard per-answer timeout of the equivalence check, in seconds.
    """

    def __init__(self, benchmarks: Sequence[str] = ("math500",), *, data_files: DataFiles = None,
                 prompt_suffix: str = PROMPT_SUFFIX, grade_timeout: float = 5.0, **kwargs):
        unknown = [b for b in benchmarks if b not in BENCHMARKS]
        if unknown or not benchmarks:
            raise ValueError(f"unknown benchmarks {unknown}; choose from {sorted(BENCHMARKS)}")
        self.benchmarks = tuple(benchmarks)
        self.grade_timeout = grade_timeout
        modes = {BENCHMARKS[b].grade_mode for b in self.benchmarks}
        self._dataset_grade_mode = modes.pop() if len(modes) == 1 else "auto"
        super().__init__(load_source(self.benchmarks, data_files=data_files, prompt_suffix=prompt_suffix), **kwargs)

    def _check(self, action: str) -> Grade:
        mode = EXTRACTION_MODE[self.reward_mode]
        if mode == "auto":
            mode = self._dataset_grade_mode
        return grade(action, self.item.answer, mode=mode, timeout=self.grade_timeout)

    def oracle_action(self) -> str:
        return self._wrap_answer(self.item.answer)


def aime(year: int | None = None, **kwargs) -> MathEnv:
    """``reason/AIME-v0``: AIME 2024 and 2025 (60 problems), or one year with ``year=2024|2025``."""
    years = {None: ("aime24", "aime25"), 2024: ("aime24",), 2025: ("aime25",)}
    if year not in years:
        raise ValueError(f"year must be 2024, 2025 or None (both), got {year!r}")
    return MathEnv(years[year], **kwargs)


class _ProceduralAnswerEnv(AnswerEnv):
    """Shared set-up of the seeded procedural games: levels, item count and generator seed."""

    levels: dict
    salt: str

    def __init__(self, *, level: int = 1, num_items: int = 10_000, task_seed: int = 0, **kwargs):
        if level not in self.levels:
            raise ValueError(f"level must be one of {sorted(self.levels)}, got {level!r}")
        self.level = level
        source = ProceduralSource(lambda rng, i: self._make_item(rng, i), num_items=num_items, seed=task_seed,
                                  salt=f"{self.salt}-L{level}",
                                  origin=f"procedural:{self.salt} level {level} (task_seed={task_seed})")
        super().__init__(source, **kwargs)

    def _make_item(self, rng, index: int) -> TaskItem:
        raise NotImplementedError

    def _verdict(self, answer: str) -> tuple[bool, str]:
        raise NotImplementedError

    def _check(self, action: str) -> Grade:
        found = extract_answer(action, mode=EXTRACTION_MODE[self.reward_mode])
        correct, reason = (False, found.reason) if found.answer is None else self._verdict(found.answer)
        return Grade(correct=correct, pred=found.answer, format_ok=found.format_ok, timed_out=False,
                     boxed=found.source == "boxed", reason=reason, gold=str(self.item.answer))


class CountdownEnv(_ProceduralAnswerEnv):
    """``reason/Countdown-v0``: reach the target with the dealt numbers, each exactly once.

    Levels 1-4 deal 3, 4, 5, 6 numbers (up to 20, 50, 100, 100).
    """

    levels = countdown.LEVELS
    salt = "countdown"

    def _make_item(self, rng, index: int) -> TaskItem:
        return countdown.make_item(rng, index, self.level)

    def _verdict(self, answer: str) -> tuple[bool, str]:
        meta = self.item.metadata
        return countdown.check(answer, meta["numbers"], meta["target"])

    def oracle_action(self) -> str:
        return self._wrap_answer(self.item.metadata["solution"])


class ArithmeticEnv(_ProceduralAnswerEnv):
    """``reason/Arithmetic-v0``: evaluate an integer expression; the answer must be an integer literal.

    Levels 1-4: 2 to 5 operands, up to 20, 50, 100, 1000, adding ``*`` at level 2 and exact ``/`` at 3.
    """

    levels = arithmetic.LEVELS
    salt = "arithmetic"

    def _make_item(self, rng, index: int) -> TaskItem:
        return arithmetic.make_item(rng, index, self.level)

    def _verdict(self, answer: str) -> tuple[bool, str]:
        return arithmetic.check(answer, self.item.answer)

    def oracle_action(self) -> str:
        return self._wrap_answer(str(self.item.answer))
