"""Arithmetic: evaluate a random integer expression.

Items are random expression trees whose divisions are exact, so the answer is an integer. The answer
must be a plain integer literal: accepting any expression equal to the value would let an agent copy
the question back and be paid for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from reasongym.tasks.base import TaskItem
from reasongym.tasks.math.expression import evaluate


@dataclass(frozen=True)
class ArithmeticLevel:
    """How many operands, how large, and which operators."""

    count: int
    max_number: int
    ops: str


LEVELS: dict[int, ArithmeticLevel] = {
    1: ArithmeticLevel(count=2, max_number=20, ops="+-"),
    2: ArithmeticLevel(count=3, max_number=50, ops="+-*"),
    3: ArithmeticLevel(count=4, max_number=100, ops="+-*/"),
    4: ArithmeticLevel(count=5, max_number=1000, ops="+-*/"),
}

PROMPT = "Compute {expression}. Put the final answer, a single integer, within \\boxed{{}}."

_INTEGER = re.compile(r"[+-]?\d{1,64}")


def _expression(rng: np.random.Generator, spec: ArithmeticLevel) -> str:
    """Join random operands left to right with random operators; divisions divide the value so far."""
    text = str(int(rng.integers(1, spec.max_number + 1)))
    value = int(text)
    for _ in range(spec.count - 1):
        op = spec.ops[int(rng.integers(len(spec.ops)))]
        if op == "/":
            divisors = [d for d in range(2, 13) if value % d == 0]
            if not divisors:
                op = "+"
            else:
                operand = divisors[int(rng.integers(len(divisors)))]
        if op != "/":
            operand = int(rng.integers(1, spec.max_number + 1))
        if op in "*/" and " " in text:  # keep left-to-right order, so divisions stay exact
            text = f"({text})"
        text = f"{text} {op} {operand}"
        value = int(evaluate(text).value)
    return text


def make_item(rng: np.random.Generator, index: int, level: int) -> TaskItem:
    """One expression at ``level`` with its exact integer value."""
    spec = LEVELS[level]
    expression = _expression(rng, spec)
    value = evaluate(expression).value
    assert value.denominator == 1, "generated divisions are exact by construction"
    return TaskItem(id=f"arithmetic-L{level}-{index}", prompt=PROMPT.format(expression=expression),
                    answer=int(value), metadata={"expression": expression, "level": level})


def check(answer: str, gold: int) -> tuple[bool, str]:
    """Whether ``answer`` is the integer literal ``gold`` (thousands separators and spaces allowed)."""
    literal = answer.strip().strip("$").replace(",", "").replace(" ", "").replace("{,}", "")
    if not _INTEGER.fullmatch(literal):
        return False, f"the answer must be a single integer, got {answer[:80]!r}"
    if int(literal) != gold:
        return False, f"{int(literal)} is not the value"
    return True, "correct"
