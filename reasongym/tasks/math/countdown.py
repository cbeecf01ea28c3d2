"""Countdown: combine the dealt numbers with ``+ - * /`` to reach a target.

Generation builds a random expression tree over all dealt numbers whose every intermediate value is a
positive integer, so each item is solvable and its solution is kept for the oracle. Checking is exact
and not gameable: the answer must be an expression (see :mod:`reasongym.tasks.math.expression`) whose
integer literals are *exactly* the dealt multiset, each used once, and whose exact value is the target.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from reasongym.tasks.base import TaskItem
from reasongym.tasks.math.expression import ExpressionError, evaluate


@dataclass(frozen=True)
class CountdownLevel:
    """How many numbers are dealt and how large they are."""

    count: int
    max_number: int


LEVELS: dict[int, CountdownLevel] = {
    1: CountdownLevel(count=3, max_number=20),
    2: CountdownLevel(count=4, max_number=50),
    3: CountdownLevel(count=5, max_number=100),
    4: CountdownLevel(count=6, max_number=100),
}

PROMPT = ("Using the numbers {numbers}, write an arithmetic expression that equals {target}. Use every "
          "number exactly once, with + - * / and parentheses only. Put the final expression within "
          "\\boxed{{}}, for example \\boxed{{(1 + 2) * 3}}.")


def _combine(rng: np.random.Generator, terms: list[tuple[int, str]]) -> tuple[int, str]:
    """Merge random pairs of ``(value, expression)`` until one remains, keeping values positive integers."""
    terms = list(terms)
    while len(terms) > 1:
        i, j = rng.choice(len(terms), size=2, replace=False)
        (a, ea), (b, eb) = terms[i], terms[j]
        options = [(a + b, f"({ea} + {eb})"), (a * b, f"({ea} * {eb})")]
        if a > b:
            options.append((a - b, f"({ea} - {eb})"))
        if b > 0 and a % b == 0 and b > 1:
            options.append((a // b, f"({ea} / {eb})"))
        merged = options[int(rng.integers(len(options)))]
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [merged]
    value, expression = terms[0]
    return value, expression[1:-1] if expression.startswith("(") else expression


def make_item(rng: np.random.Generator, index: int, level: int) -> TaskItem:
    """Deal numbers for ``level`` and pick a reachable target no larger than 1000 (retries otherwise)."""
    spec = LEVELS[level]
    while True:
        numbers = [int(x) for x in rng.integers(1, spec.max_number + 1, size=spec.count)]
        target, solution = _combine(rng, [(n, str(n)) for n in numbers])
        if 1 <= target <= 1000 and target not in numbers:
            break
    prompt = PROMPT.format(numbers=", ".join(map(str, numbers)), target=target)
    return TaskItem(id=f"countdown-L{level}-{index}", prompt=prompt, answer=target,
                    metadata={"numbers": numbers, "target": target, "solution": solution, "level": level})


def check(expression: str, numbers: list[int], target: int) -> tuple[bool, str]:
    """Whether ``expression`` reaches ``target`` using exactly ``numbers``; the reason when it does not."""
    try:
        evaluated = evaluate(expression)
    except ExpressionError as exc:
        return False, str(exc)
    if Counter(evaluated.literals) != Counter(numbers):
        return False, f"must use exactly the numbers {sorted(numbers)}, used {sorted(evaluated.literals)}"
    if evaluated.value != target:
        return False, f"the expression equals {evaluated.value}, not {target}"
    return True, "correct"
