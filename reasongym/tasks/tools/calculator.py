"""A calculator tool: arithmetic evaluated by walking Python's AST, never with ``eval``.

Only numbers, ``+ - * / // % **``, unary signs, parentheses, the constants ``pi`` and ``e`` and a few
math functions are allowed. Integers stay exact. Every bound that could make one call expensive is
checked before the work is done: expression length, node count, the size of integers (in bits) and of
powers, so ``9**9**9`` or a megabyte of digits is a quick error, not a hang.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

from reasongym.tasks.tools.tool import Tool, ToolError

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
#: integers above this many bits are refused (about 300 decimal digits)
MAX_INT_BITS = 1000

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max, "floor": math.floor,
    "ceil": math.ceil, "log": math.log, "log10": math.log10, "exp": math.exp, "sin": math.sin,
    "cos": math.cos, "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; :class:`ToolError` with a readable reason when it is not allowed."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"not a valid expression: {exc.msg}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError(f"the expression has more than {MAX_NODES} parts")
    try:
        return _eval(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"math error: {exc}") from None


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS \
            and not node.keywords:
        return _checked(_FUNCTIONS[node.func.id](*(_eval(a) for a in node.args)))
    raise ToolError(_unsupported(node))


def _unsupported(node: ast.AST) -> str:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        return "'^' is not a power here; write '**'"
    if isinstance(node, ast.Tuple):
        return "commas are not allowed: write numbers without thousands separators (48213, not 48,213)"
    if isinstance(node, ast.Name):
        return f"unknown name {node.id!r}; constants: pi, e; functions: {', '.join(_FUNCTIONS)}"
    if isinstance(node, ast.Call):
        return f"only these functions are allowed: {', '.join(_FUNCTIONS)}"
    return f"{type(node).__name__} is not allowed; use numbers, + - * / // % **, parentheses and math functions"


def _check_power(base: int | float, exponent: int | float) -> None:
    if abs(exponent) > 10_000:
        raise ToolError("the exponent is too large")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 \
            and abs(base).bit_length() * exponent > MAX_INT_BITS:
        raise ToolError(f"the result would have more than {MAX_INT_BITS} bits")


def _checked(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolError("the expression must evaluate to a real number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError(f"the result would have more than {MAX_INT_BITS} bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is not a finite number")
    return value


def format_number(value: int | float) -> str:
    """Integers as they are; floats to 12 significant digits, integral ones without ``.0``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value) if isinstance(value, int) else format(value, ".12g")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return its value.

    Args:
        expression: numbers combined with + - * / // % ** and parentheses, e.g. "(48213 + 1077) * 2";
            sqrt, abs, round, min, max, floor, ceil, log, log10, exp, sin, cos, tan, pi and e are available.
    """
    return format_number(evaluate(expression))


CALCULATOR = Tool.from_function(calculator)
