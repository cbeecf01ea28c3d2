"""Final answers of multi-step tool episodes: ``<answer>...</answer>`` or ``\\boxed{...}``, compared exactly.

The answer is read from the text outside tool-call blocks and outside ``<think>`` blocks, so a program
or a thought that mentions an answer tag is not taken as the final answer. A message with two or more
answers (tags or boxes) is ambiguous and gets none: listing candidates must not pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reasongym.tasks.math.extract import last_boxed

MAX_ANSWER_CHARS = 200
OPEN, CLOSE = "<answer>", "</answer>"
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class FinalAnswer:
    """What a message says about the final answer."""

    #: the answer text, or ``None``
    answer: str | None
    #: an answer was attempted (a tag or box), even if it could not be read
    attempted: bool
    #: why no answer could be read, when one was attempted
    problem: str = ""


def final_answer(text: str) -> FinalAnswer:
    """The single final answer of ``text`` (the text outside tool-call blocks)."""
    visible = _THINK.sub(" ", text)
    tagged = _tagged(visible)
    boxes = visible.count("\\boxed")
    if len(tagged) + boxes == 0:
        return FinalAnswer(None, OPEN in visible, f"{OPEN} is never closed with {CLOSE}" if OPEN in visible else "")
    if len(tagged) + boxes > 1:
        return FinalAnswer(None, True, "several final answers were given; give exactly one")
    answer = tagged[0] if tagged else last_boxed(visible)
    if answer is None:
        return FinalAnswer(None, True, "the \\boxed{} answer is not closed")
    answer = answer.strip()
    if not answer or len(answer) > MAX_ANSWER_CHARS:
        return FinalAnswer(None, True, f"the answer must have 1 to {MAX_ANSWER_CHARS} characters")
    return FinalAnswer(answer, True)


def _tagged(text: str) -> list[str]:
    """The contents of the closed ``<answer>`` blocks, in one linear scan."""
    found = []
    pos = 0
    while (start := text.find(OPEN, pos)) >= 0:
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            break
        found.append(text[start + len(OPEN): end])
        pos = end + len(CLOSE)
    return found


def normalize(answer: str) -> str:
    """Case, surrounding space and thousands separators ignored; numbers in canonical form (``12.0`` -> ``12``)."""
    text = " ".join(answer.strip().lower().split())
    compact = text.replace(",", "").replace(" ", "")
    if _NUMBER.match(compact):
        value = float(compact)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return text


def same_answer(predicted: str, gold: str) -> bool:
    """Exact match after :func:`normalize`."""
    return normalize(predicted) == normalize(gold)
