"""Comparing a program's standard output with the expected output.

1. Line-wise: both texts split into lines, trailing whitespace stripped from every line and trailing
   empty lines dropped; equal lists of lines pass.
2. Otherwise token-wise: both texts split on any whitespace; the token counts must match, and each pair
   must be equal as strings, equal as integers (``007`` and ``7``), or, when either token is a decimal or
   exponent literal, close as floats (``math.isclose`` with ``rel_tol = abs_tol = 1e-6``).

Integers are never compared with a tolerance (``10000000000000000001`` is not ``10000000000000000000``),
``nan``/``inf`` words are compared as strings, and the line structure is not enforced in step 2 (as in
the usual whitespace-insensitive judges).
"""

from __future__ import annotations

import math
import re

TOLERANCE = 1e-6
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _canonical_integer(token: str) -> str:
    """``-007`` -> ``-7``, ``+0`` -> ``0``, without ``int()`` (which refuses very long digit strings)."""
    digits = token.lstrip("+-").lstrip("0") or "0"
    return "-" + digits if token.startswith("-") and digits != "0" else digits


def _tokens_match(got: str, expected: str, tolerance: float) -> bool:
    if got == expected:
        return True
    if _INTEGER.fullmatch(got) and _INTEGER.fullmatch(expected):
        return _canonical_integer(got) == _canonical_integer(expected)
    if _DECIMAL.fullmatch(got) and _DECIMAL.fullmatch(expected):
        return math.isclose(float(got), float(expected), rel_tol=tolerance, abs_tol=tolerance)
    return False


def outputs_match(got: str, expected: str, tolerance: float = TOLERANCE) -> bool:
    """Whether ``got`` is an accepted output for ``expected`` (see the module docstring)."""
    if _lines(got) == _lines(expected):
        return True
    got_tokens, expected_tokens = got.split(), expected.split()
    return len(got_tokens) == len(expected_tokens) and all(
        _tokens_match(g, e, tolerance) for g, e in zip(got_tokens, expected_tokens))
