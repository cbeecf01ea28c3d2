"""Final-answer extraction from a model response.

Exactly one candidate answer leaves this module: the content of the last ``\\boxed{}``/``\\fbox{}``, or a
fallback (a final "Answer: ..." line, GSM8K's ``#### N``) chosen by the grading mode. Handing a checker
several candidates would let a response that lists many answers pass, so nothing else is ever extracted.

Every scan is linear in the response length, responses above :data:`MAX_RESPONSE_CHARS` are not read, and
answers above :data:`MAX_ANSWER_CHARS` are rejected so that no huge string reaches sympy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

#: longest response that is scanned at all; longer ones get no answer
MAX_RESPONSE_CHARS = 1_000_000
#: longest extracted answer that is passed on to the equivalence checks
MAX_ANSWER_CHARS = 512

MODES: tuple[str, ...] = ("auto", "boxed", "gsm8k", "think")
Source = Literal["boxed", "answer_line", "gsm8k", "none"]

# a box opener, an escaped brace or a LaTeX line break (both skipped), or a plain brace
_BRACE_TOKEN = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*\{|\\\\|\\[{}]|[{}]")
_ANSWER_CUE = re.compile(r"final\s+answer(?:\s+is)?|the\s+answer\s+is|\banswer\s*:", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_THINK_CLOSE = "</think>"
_BOX_OPENER = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


@dataclass(frozen=True)
class Extraction:
    """The single candidate answer of a response and how it was found."""

    answer: str | None
    source: Source
    format_ok: bool
    reason: str


def last_boxed(text: str) -> str | None:
    """Content of the last outermost ``\\boxed{...}``/``\\fbox{...}`` of ``text``, braces matched.

    Returns ``None`` when there is no box or when the last box is never closed (a truncated answer does not
    fall back to an earlier box). Redundant wrappers (``\\boxed{\\boxed{5}}``) are removed; other boxes
    nested inside the last one stay in the content, where :func:`extract_answer` rejects them.
    """
    span = _last_box_span(text)
    if span is None:
        return None
    content = text[span[1]:span[2]].strip()
    while (inner := _last_box_span(content)) is not None and inner[0] == 0 and inner[2] == len(content) - 1:
        content = content[inner[1]:inner[2]].strip()
    return content


def _last_box_span(text: str) -> tuple[int, int, int] | None:
    """``(opener start, content start, content end)`` of the last outermost closed box, or ``None``.

    ``None`` also when a box opened after the last closed one never closes. One pass over the brace
    tokens: linear time.
    """
    depth = 0
    open_boxes: list[tuple[int, int, int]] = []  # (brace depth outside the box, opener start, content start)
    last: tuple[int, int, int] | None = None
    for match in _BRACE_TOKEN.finditer(text):
        token = match.group()
        if token[0] == "\\" and len(token) == 2:
            continue
        if token[0] == "\\":
            open_boxes.append((depth, match.start(), match.end()))
            depth += 1
        elif token == "{":
            depth += 1
        elif depth > 0:
            depth -= 1
            if open_boxes and open_boxes[-1][0] == depth:
                _, opener, start = open_boxes.pop()
                if not open_boxes:
                    last = (opener, start, match.start())
    return None if open_boxes else last


def answer_line(text: str) -> str | None:
    """The answer stated after the last "final answer"/"the answer is"/"Answer:" cue of ``text``.

    Only the rest of the cue's line is read; a math span right after the cue (``$...$``, ``\\(...\\)``)
    is taken whole, otherwise the text up to the end of the sentence.
    """
    for line in reversed(text.splitlines()):
        cues = list(_ANSWER_CUE.finditer(line))
        if not cues:
            continue
        rest = line[cues[-1].end():].strip().lstrip(":").strip().strip("*").strip()
        answer = _leading_math_span(rest)
        if answer is None:
            end = _SENTENCE_END.search(rest)
            answer = rest[:end.start()] if end else rest
        answer = answer.strip().strip("*").strip()
        return answer or None
    return None


def _leading_math_span(text: str) -> str | None:
    """Content of a ``$$...$$``, ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` span opening ``text``."""
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(opener):
            end = text.find(closer, len(opener))
            return text[len(opener):end] if end >= 0 else None
    return None


def gsm8k_answer(text: str) -> str | None:
    """What follows the last ``####`` marker, up to the end of its line (GSM8K's answer format)."""
    marker = text.rfind("####")
    if marker < 0:
        return None
    answer = text[marker + 4:].split("\n", 1)[0].strip()
    return answer or None


def after_think(text: str) -> str | None:
    """The text after the last closing ``</think>``, or ``None`` when the reasoning was never closed."""
    close = text.rfind(_THINK_CLOSE)
    return None if close < 0 else text[close + len(_THINK_CLOSE):]


def extract_answer(response: str, mode: str = "auto") -> Extraction:
    """Extract the single final answer of ``response`` under a grading mode.

    * ``auto``: last box, else an answer line, else ``#### N``.
    * ``boxed``: only a box counts.
    * ``gsm8k``: ``#### N``, else last box, else an answer line.
    * ``think``: a closed ``</think>`` is required and only the text after it is read, as in ``auto``.

    A box that is opened but never closed ends the search: a truncated final box does not fall back to
    an earlier statement of the answer.
    """
    if mode not in MODES:
        raise ValueError(f"unknown grading mode {mode!r}; expected one of {MODES}")
    if len(response) > MAX_RESPONSE_CHARS:
        return Extraction(None, "none", False, f"response longer than {MAX_RESPONSE_CHARS} characters")
    text = response
    if mode == "think":
        text = after_think(response)
        if text is None:
            return Extraction(None, "none", False, "no closed </think>")
    finders: tuple[tuple[Source, Callable[[str], str | None]], ...]
    if mode == "boxed":
        finders = (("boxed", last_boxed),)
    elif mode == "gsm8k":
        finders = (("gsm8k", gsm8k_answer), ("boxed", last_boxed), ("answer_line", answer_line))
    else:
        finders = (("boxed", last_boxed), ("answer_line", answer_line), ("gsm8k", gsm8k_answer))
    for source, find in finders:
        answer = find(text)
        if answer is None and source == "boxed" and _BOX_OPENER.search(text):
            return Extraction(None, "boxed", False, "the last box has no closed {...} argument")
        if answer is None or not answer.strip():
            continue
        if len(answer) > MAX_ANSWER_CHARS:
            return Extraction(None, source, False, f"answer longer than {MAX_ANSWER_CHARS} characters")
        if _BOX_OPENER.search(answer):
            return Extraction(None, source, False, "boxes nested inside the final answer")
        return Extraction(answer.strip(), source, True, f"answer from {source}")
    wanted = "a \\boxed{} answer" if mode == "boxed" else "a final answer"
    return Extraction(None, "none", False, f"no {wanted} found")
