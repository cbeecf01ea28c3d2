"""Answer normalisation and the exact numeric fast path.

``math-verify`` handles most LaTeX, but models and datasets also write ``7e37``, ``1,000,000``,
``10\\text{ cm}``, ``27.0``, ``30^\\circ`` or ``50\\%``. :func:`clean_answer` rewrites such surface forms
into plain LaTeX; :func:`parse_number` then reads plain numbers as exact fractions, so that two numbers are
compared in-process without sympy (this is what makes wrong numeric answers cheap to grade).

All functions expect short strings (an extracted answer is capped by the extractor); none of them is
super-linear in a way that matters at that size.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

#: decimal exponents beyond this are not expanded into exact integers
MAX_EXPONENT = 400
#: a decimal literal with at least this many significant digits may be a rounded value (see parse_number)
ROUNDED_DECIMAL_DIGITS = 6
#: relative tolerance granted to such long decimals on top of their rounding (float artefacts: 0.30000000000000004)
LONG_DECIMAL_REL_TOL = Fraction(1, 10**12)

_UNICODE = {"\u2212": "-", "\u2013": "-", "\u00d7": "\\times ", "\u22c5": "\\cdot ", "\u00b7": "\\cdot ",
            "\u03c0": "\\pi ", "\u221e": "\\infty ", "\u00a0": " ", "\u00b0": "^\\circ "}
_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|textsf|mathrm|mathbf|mathit|mathsf|"
                            r"mbox|hbox|operatorname)\s*\{")
_SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lr]?|displaystyle|textstyle)(?![A-Za-z])")
_THIN_THOUSANDS = re.compile(r"(\d)(?:\\[,!]|\{,\}|,\\!)(?=\d{3}(?!\d))")
_SPACING = re.compile(r"\\\\|\\[,;:! ]|\\q?quad(?![A-Za-z])|~")  # a line break "\\" is matched to be kept
_DEGREES = re.compile(r"(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![A-Za-z])|\\degree(?![A-Za-z]))"
                      r"(?:\s*(?:\\mathrm\{[CF]\}|\\text\{[CF]\}|[CF])(?![A-Za-z]))?")
_SINGLE_SCRIPT = re.compile(r"([_^])\s*([A-Za-z0-9])")
_PERCENT = re.compile(r"\\?%")
_FRAC_ALIASES = re.compile(r"\\[dt](frac|binom)(?![A-Za-z])")
_FRAC_SHORTHAND = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
_SQRT_SHORTHAND = re.compile(r"\\sqrt\s*(\d)")
_UNIT_WORDS = frozenset(
    "dollar dollars cent cents unit units cm mm km meter meters metre metres inch inches foot feet ft yard "
    "yards mile miles mph second seconds sec minute minutes min hour hours hr hrs day days week weeks month "
    "months year years degree degrees square sq cubic gram grams kg pound pounds lb lbs ounce ounces oz "
    "liter liters litre litres ml gallon gallons percent radian radians".split())
#: units that are only recognised inside \text{}/\mathrm{} because bare they look like variables
_TEXT_ONLY_UNITS = frozenset("m s g l h in".split())
_TRAILING_UNIT = re.compile(r"\s*(?<!\\)\b([A-Za-z]+)(?:\s*\^\s*\{?\s*[23]\s*\}?)?\s*\.?\s*$")
_UNIT_POWER = re.compile(r"^\s*\^\s*\{?\s*[23]\s*\}?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_MULTIPLE_CHOICE = re.compile(r"\(\s*([A-Ea-e])\s*\)")

_DEC = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(rf"({_DEC})(?:[eE]([+-]?\d+))?")
_TIMES_TEN = re.compile(rf"({_DEC})\s*(?:\\times|\\cdot|\*)\s*10\s*\^\s*(?:\{{\s*([+-]?\d+)\s*\}}|(\d))")
_POWER_OF_TEN = re.compile(r"([+-]?)10\s*\^\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))")
_LATEX_FRAC = re.compile(rf"([+-]?)\s*\\frac\s*\{{\s*({_DEC})\s*\}}\s*\{{\s*({_DEC})\s*\}}")
_SLASH_FRAC = re.compile(rf"({_DEC})\s*/\s*({_DEC})")

_VALUE_SEPARATOR = re.compile(r",|;|\s+(?:or|and)\s+|\\(?:vee|lor)(?![A-Za-z])")
_EQUALS = re.compile(r"(?<![<>!\\])=(?!=)")


def clean_answer(text: str) -> str:
    """Rewrite an answer's surface form into plain LaTeX with the same meaning.

    Removes math delimiters, sizing and spacing commands, ``\\text``-like wrappers (dropping the ones that
    only name a unit), degree/percent/dollar signs, trailing unit words and thousands separators; maps
    ``\\dfrac``/``\\tfrac`` to ``\\frac``, expands ``\\frac12``/``\\sqrt2`` shorthands and braces single-character
    scripts (``x_1`` -> ``x_{1}``).
    """
    s = text.strip()
    for char, replacement in _UNICODE.items():
        s = s.replace(char, replacement)
    s = _strip_delimiters(s)
    s = s.replace("\\$", " ").replace("$", " ")
    s = _SIZING.sub("", s)
    s = _THIN_THOUSANDS.sub(r"\1,", s)
    s = _SPACING.sub(lambda m: m.group() if m.group() == "\\\\" else " ", s)
    s = _FRAC_ALIASES.sub(r"\\\1", s)
    s = _unwrap_text_commands(s)
    s = _DEGREES.sub(" ", s)
    s = _PERCENT.sub(" ", s)
    s = _strip_trailing_units(" ".join(s.split()))
    s = s.rstrip(".").strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    s = _FRAC_SHORTHAND.sub(lambda m: f"\\frac{{{_unbrace(m.group(1))}}}{{{_unbrace(m.group(2))}}}", s)
    s = _SQRT_SHORTHAND.sub(r"\\sqrt{\1}", s)
    s = _SINGLE_SCRIPT.sub(r"\1{\2}", s)
    choice = _MULTIPLE_CHOICE.fullmatch(s)
    return choice.group(1).upper() if choice else s


def comparison_key(text: str) -> str:
    """A whitespace-free key of a cleaned answer for exact string comparison.

    A space is kept only where it separates a control word from a following letter (``\\pi r``); plain
    words (no LaTeX, no digits) compare case-insensitively.
    """
    s = re.sub(r"(\\[A-Za-z]+)\s+(?=[A-Za-z])", "\\1\0", text)
    s = re.sub(r"\s+", "", s).replace("\0", " ")
    if "\\" not in s and not any(c.isdigit() for c in s):
        s = s.casefold()
    return s


class ParsedNumber(NamedTuple):
    """An exact value and the rounding slack its written form allows (zero unless a long decimal)."""

    value: Fraction
    slack: Fraction


def parse_number(text: str) -> ParsedNumber | None:
    """Read a cleaned answer as a plain number, or return ``None``.

    Accepts integers, decimals, ``7e37``, ``7 \\times 10^{37}``, ``7\\cdot10^{37}``, ``10^{5}``,
    ``\\frac{p}{q}`` and ``p/q`` with decimal ``p``, ``q``. A decimal literal with at least
    :data:`ROUNDED_DECIMAL_DIGITS` significant digits is taken as possibly rounded: it may differ from the
    true value by half a unit in its last place (or by :data:`LONG_DECIMAL_REL_TOL` relatively).
    """
    s = text.strip()
    try:
        if match := _PLAIN.fullmatch(s):
            return _decimal(match.group(1), int(match.group(2) or 0))
        if match := _TIMES_TEN.fullmatch(s):
            return _decimal(match.group(1), int(match.group(2) or match.group(3)))
        if match := _POWER_OF_TEN.fullmatch(s):
            return _decimal(f"{match.group(1)}1", int(match.group(2) or match.group(3)))
        if match := _LATEX_FRAC.fullmatch(s):
            value = _fraction(match.group(2), match.group(3))
            return None if value is None else ParsedNumber(-value if match.group(1) == "-" else value,
                                                           Fraction(0))
        if match := _SLASH_FRAC.fullmatch(s):
            value = _fraction(match.group(1), match.group(2))
            return None if value is None else ParsedNumber(value, Fraction(0))
    except ValueError:  # an integer too long for int(): not a fast-path number
        return None
    return None


def numbers_equal(a: ParsedNumber, b: ParsedNumber) -> bool:
    """Exact equality, widened only by the rounding slack of long decimal literals."""
    return abs(a.value - b.value) <= max(a.slack, b.slack)


def count_values(text: str) -> int:
    """How many values a cleaned answer lists: ``2`` -> 1, ``1, 2`` -> 2, ``(1,2)`` -> 2, ``\\pm 3`` -> 2.

    Separators (commas, semicolons, "or"/"and", ``\\vee``) count only outside brackets, after one bracket
    pair enclosing the whole answer is removed; each ``\\pm``/``\\mp`` doubles nothing but adds one value.
    """
    s = _strip_outer_brackets(text.strip())
    parts = [part for part in top_level_split(s, _VALUE_SEPARATOR) if part.strip()]
    return max(1, len(parts)) + len(re.findall(r"\\(?:pm|mp)(?![A-Za-z])", s))


def top_level_split(text: str, separator: re.Pattern[str]) -> list[str]:
    """Split ``text`` at matches of ``separator`` that are outside every bracket pair."""
    parts: list[str] = []
    depth, start, index = 0, 0, 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text.startswith(("\\{", "\\}"), index):
            depth += 1 if text[index + 1] == "{" else -1
            index += 2
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and (match := separator.match(text, index)) and match.end() > index:
            parts.append(text[start:index])
            start = index = match.end()
            continue
        index += 1
    parts.append(text[start:])
    return parts


def equation_sides(text: str) -> list[str]:
    """The sides of a top-level equation chain (``x = 2+3 = 5`` -> three sides; no ``=`` -> one)."""
    return [side.strip() for side in top_level_split(text, _EQUALS)]


def _strip_delimiters(s: str) -> str:
    """Remove math delimiters that enclose the whole string (repeatedly)."""
    changed = True
    while changed:
        changed = False
        for opener, closer in _DELIMITERS:
            if len(s) >= len(opener) + len(closer) and s.startswith(opener) and s.endswith(closer):
                s, changed = s[len(opener):len(s) - len(closer)].strip(), True
                break
    return s


def _unwrap_text_commands(s: str) -> str:
    """Replace ``\\text{...}``-like wrappers by their content, or by nothing when it only names a unit."""
    while match := _TEXT_COMMANDS.search(s):
        end = _closing_brace(s, match.end())
        if end is None:
            return s[:match.start()] + s[match.end():]
        content = s[match.end():end]
        words = content.replace("^2", " ").replace("^3", " ").split()
        rest = s[end + 1:]
        if words and all(w.lower() in _UNIT_WORDS or w in _TEXT_ONLY_UNITS for w in words):
            content, rest = " ", _UNIT_POWER.sub("", rest, count=1)
        s = s[:match.start()] + content + rest
    return s


def _closing_brace(s: str, start: int) -> int | None:
    """Index of the ``}`` closing the group whose content starts at ``start``."""
    depth = 1
    for index in range(start, len(s)):
        if s[index] == "{" and s[index - 1] != "\\":
            depth += 1
        elif s[index] == "}" and s[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return index
    return None


def _strip_trailing_units(s: str) -> str:
    """Drop trailing unit words (``12 square feet``) from an answer that contains a number."""
    for _ in range(3):
        match = _TRAILING_UNIT.search(s)
        if not match or match.group(1).lower() not in _UNIT_WORDS:
            break
        head = s[:match.start()]
        if not re.search(r"\d", head):
            break
        s = head.strip()
    return s


def _unbrace(group: str) -> str:
    return group[1:-1] if group.startswith("{") else group


def _strip_outer_brackets(s: str) -> str:
    """Remove one bracket pair that encloses the whole string (``(1,2)``, ``[1,2)``, ``\\{1,2\\}``)."""
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
    elif len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        inner = s[1:-1]
    else:
        return s
    depth = 0
    for char in inner:
        depth += 1 if char in "([{" else -1 if char in ")]}" else 0
        if depth < 0:  # the opening bracket closes before the end: "(1)+(2)"
            return s
    return inner


def _decimal(mantissa: str, exponent: int) -> ParsedNumber | None:
    """Exact value of ``mantissa * 10**exponent`` and the rounding slack of its written precision."""
    if abs(exponent) > MAX_EXPONENT:
        return None
    value = Fraction(mantissa) * Fraction(10) ** exponent
    if "." not in mantissa:
        return ParsedNumber(value, Fraction(0))
    digits = mantissa.lstrip("+-").replace(".", "").lstrip("0")
    if len(digits) < ROUNDED_DECIMAL_DIGITS:
        return ParsedNumber(value, Fraction(0))
    places = len(mantissa.split(".", 1)[1]) - exponent
    half_unit = Fraction(1, 2) / Fraction(10) ** places
    return ParsedNumber(value, max(half_unit, abs(value) * LONG_DECIMAL_REL_TOL))


def _fraction(numerator: str, denominator: str) -> Fraction | None:
    den = Fraction(denominator)
    return None if den == 0 else Fraction(numerator) / den
