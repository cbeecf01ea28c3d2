"""The ToolRL reward (Qian et al. 2025, "ToolRL: Reward is All Tool Learning Needs"), written from the paper.

``R = R_format + R_correct``, with

* ``R_format`` in {0, 1}: 1 when the response has the required structure (below);
* ``R_correct`` in [-3, 3]: for predicted calls ``P`` and gold calls ``G``,

  - tool-name matching ``r_name = |N_G ∩ N_P| / |N_G ∪ N_P|`` over the multisets of names (1 when both
    are empty);
  - for a gold call paired with a predicted call of the same name: parameter-name matching
    ``r_param = |keys(G_j) ∩ keys(P_i)| / |keys(G_j) ∪ keys(P_i)|`` (1 when both are empty) plus
    parameter-value matching ``r_value = #{k in keys(G_j) : P_i[k] matches G_j[k]}``;
  - the pairing of predicted to gold calls is the one maximising the total (the paper's optimal
    matching; the authors' code pairs greedily), and ``S_max = 1 + |G| + sum_j |keys(G_j)|``;
  - ``R_correct = 6 * (r_name + sum over pairs (r_param + r_value)) / S_max - 3``.

  A response with a malformed call block gets ``-3`` (as in the authors' code). When the gold has no
  call (a question to answer without tools), no call scores ``+3`` and any call ``-3`` — the same formula
  with ``S_max = 1`` (the authors' code returns 0 there, which cannot tell the two apart).

The format follows ToolRL's template, adapted to one ``<tool_call>`` block per call: an optional
``<think>...</think>`` first, then one or more ``<tool_call>`` blocks (when the gold has calls) and an
optional ``<response>...</response>``, or only a ``<response>`` block (when the gold has no call);
nothing else but whitespace, and every call well-formed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Sequence

from reasongym.tasks.tools.calls import CLOSE, OPEN, ParsedAction, ToolCall
from reasongym.tasks.tools.matching import max_weight_assignment

#: ``value_matches(gold_index, parameter, predicted_value)``: does a predicted value count as correct?
ValueMatcher = Callable[[int, str, Any], bool]
MAX_CORRECTNESS = 3.0


def name_score(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Multiset Jaccard similarity of two lists of names (1 when both are empty)."""
    if not gold and not predicted:
        return 1.0
    a, b = Counter(gold), Counter(predicted)
    common = sum((a & b).values())
    return common / (len(gold) + len(predicted) - common)


def _key_score(gold: set[str], predicted: set[str]) -> float:
    if not gold and not predicted:
        return 1.0
    return len(gold & predicted) / len(gold | predicted)


def correctness(predicted: Sequence[ToolCall], gold: Sequence[ToolCall],
                value_matches: ValueMatcher | None = None) -> float:
    """``R_correct`` in [-3, 3] (module docstring); values compare with ``==`` unless ``value_matches`` says."""
    match = value_matches or (lambda j, key, value: value == gold[j].arguments[key])
    total = name_score([g.name for g in gold], [p.name for p in predicted])
    s_max = 1.0 + sum(1 + len(g.arguments) for g in gold)
    weights = [[_pair_score(j, g, p, match) if g.name == p.name else 0.0 for p in predicted]
               for j, g in enumerate(gold)]
    for j, paired in enumerate(max_weight_assignment(weights)):
        if paired is not None:
            total += weights[j][paired]
    return 2 * MAX_CORRECTNESS * total / s_max - MAX_CORRECTNESS


def _pair_score(j: int, gold: ToolCall, predicted: ToolCall, match: ValueMatcher) -> float:
    keys = _key_score(set(gold.arguments), set(predicted.arguments))
    values = sum(1 for key in gold.arguments if key in predicted.arguments and match(j, key, predicted.arguments[key]))
    return keys + values


def format_ok(action: str, parsed: ParsedAction, *, expect_calls: bool) -> bool:
    """ToolRL's structure check (module docstring) for ``action``, whose calls ``parsed`` holds."""
    if not parsed.ok:
        return False
    pos = _skip_space(action, 0)
    pos = _block_end(action, pos, "<think>", "</think>") or pos
    if expect_calls:
        blocks = 0
        while (end := _block_end(action, _skip_space(action, pos), OPEN, CLOSE)) is not None:
            pos, blocks = end, blocks + 1
        if blocks == 0:
            return False
        pos = _block_end(action, _skip_space(action, pos), "<response>", "</response>") or pos
    else:
        end = _block_end(action, _skip_space(action, pos), "<response>", "</response>")
        if end is None:
            return False
        pos = end
    return _skip_space(action, pos) == len(action)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _block_end(text: str, pos: int, opener: str, closer: str) -> int | None:
    """The position after ``opener ... closer`` when ``text`` has such a block at ``pos``."""
    if not text.startswith(opener, pos):
        return None
    end = text.find(closer, pos + len(opener))
    if end < 0 or text.find(opener, pos + len(opener), end) >= 0:
        return None
    return end + len(closer)


def toolrl_parts(action: str, parsed: ParsedAction, gold: Sequence[ToolCall],
                 value_matches: ValueMatcher | None = None) -> dict[str, float]:
    """``{"format": R_format, "correctness": R_correct}`` for one response."""
    fmt = 1.0 if format_ok(action, parsed, expect_calls=bool(gold)) else 0.0
    correct = -MAX_CORRECTNESS if not parsed.ok else correctness(parsed.calls, gold, value_matches)
    return {"format": fmt, "correctness": correct}
