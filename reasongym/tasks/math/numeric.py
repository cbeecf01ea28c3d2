"""Evaluate small LaTeX answers to numbers in-process, to reject wrong answers without math-verify.

Most wrong answers that are not plain numbers are still closed forms (``\\frac{\\sqrt{3}}{2}``, ``2\\pi``,
``1+i``), words (``even``) or expressions in a variable. Evaluating both answers at one point settles
"different" in microseconds instead of a math-verify call in a worker (~11 ms).

:func:`compare` only says "different" when that is certain, both mathematically and for math-verify:

* Values carry a rigorous bound on their rounding error (rationals stay exact :class:`~fractions.Fraction`),
  and two values count as different only when they are further apart than those bounds plus
  :data:`TOLERANCE` (relative and absolute; math-verify rounds decimals to 6 places before comparing).
* A letter is a variable read at a fixed generic positive value, case-insensitively (math-verify lowercases
  symbols); ``e`` is Euler's number (as in latex2sympy, math-verify's parser). ``i`` is read twice, as the
  imaginary unit and as a real variable (math-verify treats it as a symbol), and a difference must show
  under both readings. Expressions equal as functions are equal at any point, so a difference at one point
  proves that they differ.
* The grammar is small and read as latex2sympy reads it: implicit multiplication binds tighter than ``/``
  (``1/2\\pi`` is ``1/(2\\pi)``), an integer followed by a positive rational is a mixed number
  (``4\\frac{2}{3}``). Anything else gives ``None`` (undecided): unknown commands, relations, lists,
  subscripts, nested powers, exponents above :data:`MAX_EXPONENT`, overflow, and every text math-verify's
  normaliser would rewrite (trailing unit words such as ``5d``, ``and``/``or``, ``inf``, ``sqrt``).
"""

from __future__ import annotations

import cmath
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Union

#: relative and absolute slack below which two values are never called different
TOLERANCE = 1e-6
#: largest exponent magnitude evaluated; larger ones are left to math-verify
MAX_EXPONENT = 1000
#: largest numerator/denominator size of an exact value, in bits
MAX_BITS = 4096
#: bound on the relative rounding error of one floating-point operation (8x the double unit roundoff)
EPS = 2.0 ** -50
#: absolute rounding floor, for results in the subnormal range
TINY = 1e-300
#: deepest bracket nesting read (keeps the recursive parser far from Python's recursion limit)
MAX_DEPTH = 40


@dataclass(frozen=True)
class Approx:
    """A complex value known up to ``error``: the exact value lies within that distance of ``value``."""

    value: complex
    error: float


Value = Union[Fraction, Approx]


class _Unsupported(Exception):
    """The text is outside the grammar or its value cannot be bounded safely."""


# letters stand for logarithms of distinct primes: generic values with no rational relation between them
_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103)
_LETTERS = {chr(ord("a") + k): Approx(complex(math.log(p)), 0.0) for k, p in enumerate(_PRIMES)}
_LETTERS["e"] = Approx(complex(math.e), EPS * math.e)
#: the two readings of the letter ``i``: imaginary unit, real variable
I_READINGS = (1j, _LETTERS["i"].value)

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|\\([A-Za-z]+)|([A-Za-z])|([-+*/^(){}\[\]]))")
_COMMANDS = frozenset({"pi", "frac", "sqrt", "cdot", "times"})
_SIGNS = frozenset({("op", "+"), ("op", "-")})
_PRODUCT_OPS = frozenset({("op", "*"), ("op", "/"), ("command", "cdot"), ("command", "times")})
_ATOM_STARTS = frozenset({("op", "("), ("op", "{"), ("command", "pi"), ("command", "frac"), ("command", "sqrt")})
# text that math-verify's normaliser rewrites before parsing: unit words it strips (a word of two or more
# letters, or one of these single letters, after a digit, brace or space), "and"/"or" (list separators),
# "inf" (infinity), "sqrt", "pct"/"percent"
_UNIT_TAIL = re.compile(r"[\d}\s](?:[A-Za-z]{2,}|[cdghlmost])\s*$")
_REWRITTEN = re.compile(r"inf|(?<!\\)sqrt|pct|percent|(?<![a-z])(?:and|or)(?![a-z])", re.IGNORECASE)
_COMMAND = re.compile(r"\\[A-Za-z]+")


def compare(pred: str, gold: str) -> bool | None:
    """``True`` when both answers are the same exact rational, ``False`` when their values certainly differ,
    ``None`` when undecided (outside the grammar, or close values that only math-verify can tell apart)."""
    mentions_i = "i" in _COMMAND.sub("", f"{pred} {gold}").lower()
    readings = I_READINGS if mentions_i else I_READINGS[:1]
    pairs = [(evaluate(pred, reading), evaluate(gold, reading)) for reading in readings]
    if all(isinstance(a, Fraction) and isinstance(b, Fraction) for a, b in pairs):
        return pairs[0][0] == pairs[0][1]
    if all(a is not None and b is not None and _apart(a, b) for a, b in pairs):
        return False
    return None


def is_scalar(text: str) -> bool:
    """Whether a cleaned answer is one value of the grammar: not a list, set, interval, relation or equation."""
    return any(evaluate(text, reading) is not None for reading in I_READINGS)


@lru_cache(maxsize=4096)
def evaluate(text: str, i_value: complex) -> Value | None:
    """The value of a cleaned answer with the letter ``i`` read as ``i_value``, or ``None`` (never raises)."""
    if _UNIT_TAIL.search(text) or _REWRITTEN.search(text):
        return None
    try:
        parser = _Parser(_tokenize(text), i_value)
        value = parser.expression()
        if parser.pos != len(parser.tokens):
            return None
        _approx(value)  # an exact value too large for a float cannot be compared
        return value
    except (_Unsupported, ArithmeticError, ValueError):
        return None


def _apart(a: Value, b: Value) -> bool:
    """Whether two values certainly differ by more than their error bounds and :data:`TOLERANCE`."""
    x, y = _approx(a), _approx(b)
    slack = x.error + y.error + TOLERANCE * (1 + max(abs(x.value), abs(y.value)))
    return abs(x.value - y.value) > slack


def _tokenize(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` pairs with kind ``number``, ``command`` (name without backslash), ``letter`` or ``op``."""
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if not match:
            raise _Unsupported(text[pos:])
        number, command, letter, op = match.groups()
        if command is not None and command not in _COMMANDS:
            raise _Unsupported(command)
        tokens.append(("number", number) if number is not None else ("command", command) if command is not None
                      else ("letter", letter.lower()) if letter is not None else ("op", op))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the grammar below; every method raises :class:`_Unsupported` outside it.

    expression := [+-] term ([+-] term)* ; term := product ((* / \\cdot \\times) product)*
    product := power power* (juxtaposition) ; power := atom [^ {expression}]
    atom := number | letter | \\pi | \\frac{..}{..} | \\sqrt[n]{..} | \\sqrt{..} | (expression) | {expression}
    """

    def __init__(self, tokens: list[tuple[str, str]], i_value: complex):
        self.tokens, self.pos, self.i_value = tokens, 0, i_value
        self.depth = 0
        self.in_exponent = False

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, text: str) -> None:
        if self.peek()[1] != text:
            raise _Unsupported(f"expected {text}")
        self.pos += 1

    def expression(self) -> Value:
        """Terms joined by ``+``/``-``; a sign may lead the first term (``-2^{2}`` is ``-(2^{2})``)."""
        value: Value = Fraction(0)
        sign = "+"
        if self.peek() in _SIGNS:
            sign = self.peek()[1]
            self.pos += 1
        while True:
            term = self.term()
            value = _add(value, _mul(Fraction(-1), term) if sign == "-" else term)
            if self.peek() not in _SIGNS:
                return value
            sign = self.peek()[1]
            self.pos += 1

    def term(self) -> Value:
        value = self.product()
        while (token := self.peek()) in _PRODUCT_OPS:
            self.pos += 1
            right = self.product()
            value = _div(value, right) if token[1] == "/" else _mul(value, right)
        return value

    def product(self) -> Value:
        """Juxtaposed factors, combined from the right as latex2sympy does (mixed numbers included)."""
        factors = [self.power()]
        while self.peek()[0] in ("number", "letter") or self.peek() in _ATOM_STARTS:
            if self.peek()[0] == "number":  # "2 3" is 5 and "x2" is x*2 for latex2sympy: not worth mirroring
                raise _Unsupported("number after a factor")
            factors.append(self.power())
        value, last_shape = factors[-1]
        for k in range(len(factors) - 2, -1, -1):
            left, shape = factors[k]
            if _is_integer(left) and isinstance(value, Fraction) and value > 0:
                # latex2sympy adds an integer to a following positive rational; read only "4\frac{2}{3}" that way
                if not (shape == "integer" and last_shape == "fraction" and k == len(factors) - 2):
                    raise _Unsupported("ambiguous juxtaposition of numbers")
                value = left + value
            else:
                value = _mul(left, value)
        return value

    def power(self) -> tuple[Value, str]:
        """An atom, raised to a braced exponent if one follows; also the atom's shape (see :meth:`atom`)."""
        start = self.pos
        base, shape = self.atom()
        if self.peek() != ("op", "^"):
            return base, shape
        if self.in_exponent or ("op", "^") in self.tokens[start:self.pos]:
            raise _Unsupported("nested power")
        self.pos += 1
        self.in_exponent = True
        exponent = self.group()
        self.in_exponent = False
        return _power(base, exponent), "other"

    def atom(self) -> tuple[Value, str]:
        """The atom's value and shape: ``integer`` (an integer literal), ``fraction`` (``\\frac`` of two integer
        literals) or ``other``."""
        kind, text = self.peek()
        self.pos += 1
        if kind == "number":
            value = Fraction(text)
            return (value, "integer") if "." not in text else (_approx(value), "other")
        if kind == "letter":
            return (Approx(self.i_value, 0.0) if text == "i" else _LETTERS[text]), "other"
        if (kind, text) == ("command", "pi"):
            return Approx(complex(math.pi), EPS * math.pi), "other"
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Unsupported("nesting too deep")
        if (kind, text) == ("command", "frac"):
            start = self.pos
            numerator = self.group()
            middle = self.pos
            denominator = self.group()
            literal = self._is_integer_group(start, middle) and self._is_integer_group(middle, self.pos)
            value, shape = _div(numerator, denominator), "fraction" if literal else "other"
        elif (kind, text) == ("command", "sqrt"):
            index = Fraction(2)
            if self.peek() == ("op", "["):
                self.pos += 1
                index = self.expression()
                self.take("]")
                if not (_is_integer(index) and 2 <= index <= MAX_EXPONENT):
                    raise _Unsupported("root index")
            value, shape = _power(self.group(), 1 / index), "other"
        elif (kind, text) in (("op", "("), ("op", "{")):
            value, shape = self.expression(), "other"
            self.take(")" if text == "(" else "}")
        else:
            raise _Unsupported(text)
        self.depth -= 1
        return value, shape

    def group(self) -> Value:
        self.take("{")
        value = self.expression()
        self.take("}")
        return value

    def _is_integer_group(self, start: int, end: int) -> bool:
        """Whether tokens ``start:end`` are ``{`` integer literal ``}``."""
        return end - start == 3 and self.tokens[start + 1][0] == "number" and "." not in self.tokens[start + 1][1]


def _is_integer(value: Value) -> bool:
    return isinstance(value, Fraction) and value.denominator == 1


def _exact(value: Fraction) -> Fraction:
    """``value``, refused when its numerator or denominator outgrows :data:`MAX_BITS`."""
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise _Unsupported("exact value too large")
    return value


def _approx(value: Value) -> Approx:
    """``value`` as an :class:`Approx`, refusing non-finite results."""
    if isinstance(value, Fraction):
        number = float(value)  # correctly rounded; OverflowError when too large
        value = Approx(complex(number), EPS * abs(number) + TINY)
    parts = (value.value.real, value.value.imag, value.error)
    if not all(math.isfinite(part) for part in parts):
        raise _Unsupported("overflow")
    return value


def _rounded(value: complex, error: float) -> Approx:
    """A freshly computed ``value`` whose inputs were off by ``error``; adds this operation's rounding."""
    return _approx(Approx(value, error + EPS * abs(value) + TINY))


def _add(a: Value, b: Value) -> Value:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return _exact(a + b)
    x, y = _approx(a), _approx(b)
    return _rounded(x.value + y.value, x.error + y.error)


def _mul(a: Value, b: Value) -> Value:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return _exact(a * b)
    x, y = _approx(a), _approx(b)
    return _rounded(x.value * y.value, abs(x.value) * y.error + abs(y.value) * x.error + x.error * y.error)


def _div(a: Value, b: Value) -> Value:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        if b == 0:
            raise _Unsupported("division by zero")
        return _exact(a / b)
    x, y = _approx(a), _approx(b)
    size = abs(y.value)
    if size <= y.error:  # the divisor may be zero
        raise _Unsupported("divisor too close to zero")
    error = (abs(x.value) * y.error + size * x.error) / (size * (size - y.error))
    return _rounded(x.value / y.value, error)


def _power(base: Value, exponent: Value) -> Value:
    """``base ** exponent`` (principal value); non-integer powers only of bases in the right half-plane."""
    if isinstance(exponent, Fraction):
        if abs(exponent) > MAX_EXPONENT:
            raise _Unsupported("exponent too large")
        if exponent.denominator == 1:
            return _integer_power(base, int(exponent))
        if isinstance(base, Fraction) and base >= 0:
            root = _exact_root(base, exponent.denominator)
            if root is not None:
                return _integer_power(root, exponent.numerator)
    power = _approx(exponent)
    if abs(power.value) + power.error > MAX_EXPONENT:
        raise _Unsupported("exponent too large")
    x = _approx(base)
    if x.value.real - x.error <= 0:  # could touch zero or the branch cut of the logarithm
        raise _Unsupported("power of a base that is not clearly in the right half-plane")
    logarithm = _rounded(cmath.log(x.value), x.error / (abs(x.value) - x.error))
    return _exp(_approx(_mul(power, logarithm)))


def _integer_power(base: Value, n: int) -> Value:
    """``base ** n`` by repeated squaring, so that the error bounds follow every multiplication."""
    if n == 0:
        return Fraction(1)
    if isinstance(base, Fraction):
        if base == 0 and n < 0:
            raise _Unsupported("division by zero")
        if max(base.numerator.bit_length(), base.denominator.bit_length()) * abs(n) > MAX_BITS:
            raise _Unsupported("exact power too large")
        return base ** n
    result: Value = Fraction(1)
    square, remaining = base, abs(n)
    while remaining:
        if remaining & 1:
            result = _mul(result, square)
        remaining >>= 1
        if remaining:
            square = _mul(square, square)
    return result if n > 0 else _div(Fraction(1), result)


def _exp(w: Approx) -> Approx:
    if w.value.real + w.error > 700:
        raise _Unsupported("overflow")
    value = cmath.exp(w.value)
    return _approx(Approx(value, abs(value) * (math.expm1(w.error) + EPS) * (1 + EPS) + TINY))


def _exact_root(value: Fraction, n: int) -> Fraction | None:
    """The exact ``n``-th root of a non-negative rational, when it is rational."""
    numerator, denominator = _integer_root(value.numerator, n), _integer_root(value.denominator, n)
    return None if numerator is None or denominator is None else Fraction(numerator, denominator)


def _integer_root(m: int, n: int) -> int | None:
    if m.bit_length() > 1000:
        return None
    guess = round(m ** (1.0 / n))
    return next((r for r in (guess - 1, guess, guess + 1) if r >= 0 and r ** n == m), None)
