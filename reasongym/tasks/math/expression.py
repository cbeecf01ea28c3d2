"""Exact, bounded evaluation of arithmetic expressions written by a model.

Only integer literals, ``+ - * /`` and parentheses are accepted; everything is computed with
:class:`fractions.Fraction`, so ``/`` is exact and floating-point tricks (``0.1+0.2``) cannot pass as
integers. There is no power operator and the source length is capped, so no input can make the
evaluation slow or memory-hungry. Unary signs are refused: in Countdown-style games they would let an
agent change the dealt numbers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction

MAX_EXPRESSION_CHARS = 256

_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
# spellings a model may use for the four operations
_SPELLINGS = {"×": "*", "\\times": "*", "\\cdot": "*", "÷": "/", "\\div": "/", "−": "-", "\\left": "", "\\right": ""}


class ExpressionError(ValueError):
    """The text is not an acceptable expression (the message says why)."""


@dataclass(frozen=True)
class Evaluated:
    """The value of an expression and the integer literals it used, in order of appearance."""

    value: Fraction
    literals: tuple[int, ...]


def canonical_source(text: str) -> str:
    """Map LaTeX/unicode operator spellings to Python's and drop a trailing ``= value``."""
    for spelling, op in _SPELLINGS.items():
        text = text.replace(spelling, op)
    text = text.replace("{", "(").replace("}", ")").strip().strip("$").strip()
    if "=" in text:  # "3*8 = 24": only the left-hand side is the expression
        text = text.split("=", 1)[0]
    return text.strip()


def evaluate(text: str) -> Evaluated:
    """Evaluate ``text`` exactly; raise :class:`ExpressionError` for anything outside the grammar."""
    source = canonical_source(text)
    if not source:
        raise ExpressionError("empty expression")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise ExpressionError(f"not an arithmetic expression: {source!r}") from None
    literals: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ExpressionError("division by zero")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            literals.append(node.value)
            return Fraction(node.value)
        raise ExpressionError(f"only integers, + - * / and parentheses are allowed, found {type(node).__name__}")

    value = walk(tree.body)
    return Evaluated(value=value, literals=tuple(literals))
