"""Countdown and Arithmetic: every item solvable, checkers exact and not gameable."""

from __future__ import annotations

import gymnasium as gym
import pytest

import reasongym  # noqa: F401  (registers the ids)
from reasongym.tasks.base import item_rng
from reasongym.tasks.math import arithmetic, countdown
from reasongym.tasks.math.expression import ExpressionError, evaluate


@pytest.mark.parametrize("level", sorted(countdown.LEVELS))
def test_every_countdown_item_is_solved_by_its_solution(level):
    for index in range(300):
        item = countdown.make_item(item_rng(0, index, "t"), index, level)
        meta = item.metadata
        assert len(meta["numbers"]) == countdown.LEVELS[level].count
        assert countdown.check(meta["solution"], meta["numbers"], meta["target"]) == (True, "correct")


@pytest.mark.parametrize("level", sorted(arithmetic.LEVELS))
def test_every_arithmetic_item_has_an_integer_answer(level):
    for index in range(300):
        item = arithmetic.make_item(item_rng(0, index, "t"), index, level)
        assert evaluate(item.metadata["expression"]).value == item.answer
        assert arithmetic.check(str(item.answer), item.answer)[0]


COUNTDOWN_HACKS = [
    ("6*4*1*1", "exactly the numbers"),  # the popular 24-points hack: ignores the dealt cards
    ("24", "exactly the numbers"),  # the target itself
    ("(3 + 5) * 3", "exactly the numbers"),  # a number used twice, one left out
    ("3 + 5", "exactly the numbers"),  # a number left out
    ("3 * 5 + 7 + 2", "exactly the numbers"),  # an extra number
    ("35 - 7 - 4", "exactly the numbers"),  # digits glued into a new number
    ("-3 + 5 * 7 - 8", "only integers"),  # a unary sign changes a dealt number
    ("3 ** 5 - 7", "only integers"),  # powers are not allowed
    ("3.0 * 5 + 7 + 2", "only integers"),  # floats are not integers
    ("__import__('os').system('id')", "only integers"),
    ("5 * 7 - 3 / 0", "division by zero"),
    ("(" * 300 + "1" + ")" * 300, "longer than"),
]


@pytest.mark.parametrize("expression,reason", COUNTDOWN_HACKS)
def test_countdown_rejects_hacks(expression, reason):
    correct, why = countdown.check(expression, [3, 5, 7, 8], 24)
    assert not correct
    assert reason in why


def test_countdown_accepts_one_solution_in_several_spellings():
    numbers, target = [3, 5, 7, 8], 24
    for spelling in ("(8 - 5) * 7 + 3", "(8-5)\\times 7+3", "(8 − 5) × 7 + 3", "\\left(8-5\\right)\\cdot7+3",
                     "(8 - 5) * 7 + 3 = 24", "{(8-5)}*7+3"):
        assert countdown.check(spelling, numbers, target) == (True, "correct"), spelling
    assert countdown.check("(8 - 5) * 7 + 3 = 25", numbers, 25)[0] is False  # the claim is not the value


def test_fraction_arithmetic_is_exact():
    assert evaluate("1 / 3 * 3").value == 1
    with pytest.raises(ExpressionError):
        evaluate("")


ARITHMETIC_HACKS = ["2 + 3", "5.0", "5e0", "five", "5 or 6", "\\frac{10}{2}", "05 + 0"]


@pytest.mark.parametrize("answer", ARITHMETIC_HACKS)
def test_arithmetic_requires_an_integer_literal(answer):
    assert not arithmetic.check(answer, 5)[0]


def test_arithmetic_accepts_integer_spellings():
    for answer in ("5", " 5 ", "+5", "$5$"):
        assert arithmetic.check(answer, 5)[0], answer
    assert arithmetic.check("1,234", 1234)[0]
    assert arithmetic.check("-7", -7)[0]


@pytest.mark.parametrize("env_id", ["reason/Countdown-v0", "reason/Arithmetic-v0"])
def test_levels_and_item_counts(env_id):
    for level in (1, 2, 3, 4):
        env = gym.make(env_id, level=level, num_items=123)
        assert len(env.unwrapped.source) == 123
        obs, info = env.reset(seed=level)
        assert info["task_id"].endswith(f"-L{level}-{info['index']}")
    other_seed = gym.make(env_id, task_seed=1)
    base = gym.make(env_id)
    assert other_seed.reset(options={"index": 0})[0] != base.reset(options={"index": 0})[0]


def test_countdown_env_grades_through_box_and_answer_line():
    env = gym.make("reason/Countdown-v0").unwrapped
    env.reset(seed=5)
    solution = env.item.metadata["solution"]
    assert env.step(f"Let me think... \\boxed{{{solution}}}")[1] == 1.0
    env.reset(seed=5)
    assert env.step(f"Answer: {solution}")[1] == 1.0
    env.reset(seed=5)
    _, reward, _, _, info = env.step(f"\\boxed{{{env.item.metadata['target']}}}")
    assert reward == 0.0 and "exactly the numbers" in info["grade_reason"]
