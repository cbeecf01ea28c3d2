"""Reward modes for answer-checked tasks: how a :class:`Grade` becomes named reward parts.

=============== ================================================================ ===============
mode            outcome                                                          graded with
=============== ================================================================ ===============
``binary``      1 if correct else 0 (default)                                    ``auto``
``signed``      +1 if correct else -1                                            ``auto``
``simplerl_mix`` +1 boxed and correct, -0.5 boxed and wrong, -1 no box            ``boxed``
``r1``          1 if a ``</think>`` is closed and the answer after it is correct  ``think``
=============== ================================================================ ===============

With ``format_reward=w > 0`` a separate ``format`` part of ``w`` is paid when the response has the
expected form (a box; a closed think block in ``r1``), else 0, so trainers can weigh or gate it.
"""

from __future__ import annotations

from reasongym.tasks.math.grade import Grade

REWARD_MODES: tuple[str, ...] = ("binary", "signed", "simplerl_mix", "r1")

#: the ``grade(mode=...)`` extraction mode each reward mode needs
EXTRACTION_MODE: dict[str, str] = {"binary": "auto", "signed": "auto", "simplerl_mix": "boxed", "r1": "think"}


def check_reward_mode(mode: str) -> str:
    """Return ``mode`` or raise a ``ValueError`` listing the valid modes."""
    if mode not in REWARD_MODES:
        raise ValueError(f"unknown reward_mode {mode!r}; choose one of {list(REWARD_MODES)}")
    return mode


def outcome_reward(grade: Grade, mode: str) -> float:
    """The ``outcome`` part for one graded response."""
    if mode == "binary":
        return 1.0 if grade.correct else 0.0
    if mode == "signed":
        return 1.0 if grade.correct else -1.0
    if mode == "simplerl_mix":
        if not grade.boxed:
            return -1.0
        return 1.0 if grade.correct else -0.5
    if mode == "r1":
        return 1.0 if grade.correct and grade.format_ok else 0.0
    raise ValueError(f"unknown reward_mode {mode!r}; choose one of {list(REWARD_MODES)}")


def reward_parts(grade: Grade, mode: str, format_reward: float = 0.0) -> dict[str, float]:
    """Named parts for ``info["reward_parts"]``: always ``outcome``, plus ``format`` when enabled."""
    parts = {"outcome": outcome_reward(grade, mode)}
    if format_reward:
        parts["format"] = format_reward if grade.format_ok else 0.0
    return parts
