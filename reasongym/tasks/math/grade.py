"""Grade a model response against a reference answer: extraction, cheap checks, then math-verify.

Order of the checks, cheapest first:

1. :func:`~reasongym.tasks.math.extract.extract_answer` picks the single final answer (or none).
2. Cleaned strings equal -> correct.
3. Guards against answers that hedge: more listed values than the reference has, an equation whose
   left side is a number (``3 = 204``) or an equality chain with contradicting numbers -> wrong. A single
   value where the reference lists several (``2`` for ``2, -2``, ``(1, 2)`` or ``\\pm 2``) -> wrong too.
4. Both sides plain numbers -> exact comparison in-process (:mod:`~reasongym.tasks.math.normalize`).
5. Both sides evaluate in-process (:mod:`~reasongym.tasks.math.numeric`: constants such as
   ``\\frac{\\sqrt{2}}{2}``, expressions in variables, words) -> certainly different values are wrong, equal
   exact rationals correct; close values go on to math-verify.
6. Otherwise ``math_verify.parse``/``verify`` on the two single answers, in a worker process with a hard
   timeout (:class:`~reasongym.runtime.workers.WorkerPool`). math-verify's own ``SIGALRM`` timeouts work
   there because the worker runs it on its main thread; the SIGKILL of an overrunning worker is the
   backstop for code that never returns to the interpreter. A timeout grades as wrong. Each worker keeps
   the parsed reference answers in an LRU cache, since a group of responses shares one reference.

math-verify is never shown the whole response: its ``parse`` returns several candidates and ``verify``
accepts when any of them matches, which a response listing many answers would exploit.
"""

from __future__ import annotations

import numbers
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Union

from reasongym.runtime.workers import CallTimeout, WorkerError, WorkerPool
from reasongym.tasks.math.extract import MAX_ANSWER_CHARS, extract_answer, gsm8k_answer, last_boxed
from reasongym.tasks.math.normalize import (
    clean_answer,
    comparison_key,
    count_values,
    equation_sides,
    numbers_equal,
    parse_number,
)
from reasongym.tasks.math.numeric import compare as compare_values, is_scalar

GoldAnswer = Union[str, int, float]

#: processes in the shared verifier pool (each holds sympy and math-verify, about 100 MB)
DEFAULT_POOL_SIZE = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Grade:
    """The outcome of grading one response.

    ``format_ok``: a final answer was found where the mode requires one. ``boxed``: it came from a box.
    ``timed_out``: the symbolic check overran its deadline (then ``correct`` is False).
    """

    correct: bool
    pred: str | None
    format_ok: bool
    timed_out: bool
    boxed: bool
    reason: str
    gold: str


class Verdict(NamedTuple):
    """Result of comparing two single answers."""

    correct: bool
    timed_out: bool
    reason: str


def grade(response: str, gold: GoldAnswer, mode: str = "auto", timeout: float = 5.0, *,
          pool: WorkerPool | None = None) -> Grade:
    """Grade ``response`` against ``gold`` under ``mode`` (``auto``, ``boxed``, ``gsm8k`` or ``think``).

    ``gold`` may be a number (``27.0`` from a JSON file), an answer string, a solution ending in a box,
    or in ``gsm8k`` mode a full GSM8K solution ending in ``#### N``. ``timeout`` bounds the symbolic check
    in seconds; ``pool`` defaults to the shared :func:`verifier_pool`.
    """
    reference = gold_answer(gold, mode)
    found = extract_answer(response, mode)
    boxed = found.source == "boxed"
    if found.answer is None:
        return Grade(False, None, found.format_ok, False, boxed, found.reason, reference)
    verdict = equivalent(found.answer, reference, timeout, pool=pool)
    return Grade(verdict.correct, found.answer, True, verdict.timed_out, boxed, verdict.reason, reference)


def grade_many(pairs: Iterable[tuple[str, GoldAnswer]], mode: str = "auto", timeout: float = 5.0, *,
               pool: WorkerPool | None = None) -> list[Grade]:
    """Grade ``(response, gold)`` pairs concurrently, one thread per pool worker; results keep their order."""
    items = list(pairs)
    workers = pool or verifier_pool()
    with ThreadPoolExecutor(max_workers=workers.size, thread_name_prefix="grade") as executor:
        return list(executor.map(lambda item: grade(item[0], item[1], mode, timeout, pool=workers), items))


def gold_answer(gold: GoldAnswer, mode: str = "auto") -> str:
    """The reference answer as a string: integral floats lose their ``.0``; solutions give their answer."""
    if isinstance(gold, bool) or not isinstance(gold, (str, numbers.Real)):
        raise TypeError(f"gold answer must be a str, int or float, got {type(gold).__name__}")
    if isinstance(gold, numbers.Integral):
        return str(int(gold))
    if isinstance(gold, numbers.Real):
        value = float(gold)
        return str(int(value)) if value.is_integer() else repr(value)
    if mode == "gsm8k" and "####" in gold:
        return gsm8k_answer(gold) or ""
    if re.search(r"\\(?:boxed|fbox)(?![A-Za-z])", gold):
        return last_boxed(gold) or gold.strip()
    return gold.strip()


def equivalent(pred: str, gold: str, timeout: float = 5.0, *, pool: WorkerPool | None = None) -> Verdict:
    """Whether the single answer ``pred`` means the same as the reference ``gold``.

    ``pred`` longer than :data:`~reasongym.tasks.math.extract.MAX_ANSWER_CHARS` is wrong without a look.
    """
    if len(pred) > MAX_ANSWER_CHARS:
        return Verdict(False, False, f"answer longer than {MAX_ANSWER_CHARS} characters")
    pred, gold = clean_answer(pred), clean_answer(gold)
    if not pred or not gold:
        return Verdict(False, False, "empty answer" if not pred else "empty reference answer")
    if comparison_key(pred) == comparison_key(gold):
        return Verdict(True, False, "same normalised answer")
    given, expected = count_values(pred), count_values(gold)
    if given > expected or (given < expected and is_scalar(pred)):
        return Verdict(False, False, f"{given} values given where the reference has {expected}")
    pred, problem = _value_of_equation(pred, gold)
    if problem:
        return Verdict(False, False, problem)
    if comparison_key(pred) == comparison_key(gold):
        return Verdict(True, False, "same normalised answer")
    pred_number, gold_number = parse_number(pred), parse_number(gold)
    if pred_number is not None and gold_number is not None:
        same = numbers_equal(pred_number, gold_number)
        return Verdict(same, False, "numbers are equal" if same else "numbers differ")
    same = compare_values(pred, gold)
    if same is not None:
        return Verdict(same, False, "same exact value" if same else "values differ numerically")
    try:
        return (pool or verifier_pool()).call(_symbolic_verdict, pred, gold, _inner_timeout(timeout),
                                              timeout=timeout)
    except CallTimeout:
        return Verdict(False, True, f"symbolic check killed after {timeout:g}s")
    except WorkerError as exc:
        return Verdict(False, False, f"symbolic check failed: {str(exc).splitlines()[0]}")


def _value_of_equation(pred: str, gold: str) -> tuple[str, str | None]:
    """Reduce ``x = ... = v`` to ``v`` when the reference is not an equation; reject hedging equations.

    The left side must name something (``x``, ``f(2)``), not be a number (``3 = 204``), and numeric
    middle terms must equal the final value (``x = 3 = 204`` is rejected). Answers listing several values
    are left whole for math-verify, which pairs ``x=1, y=2`` with ``(1, 2)``.
    """
    sides = equation_sides(pred)
    if len(sides) < 2 or len(equation_sides(gold)) > 1 or count_values(pred) > 1:
        return pred, None
    value = sides[-1]
    if not value:
        return pred, "equation without a right-hand side"
    if not re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", sides[0])):
        return pred, "equation whose left side is not a variable"
    value_number = parse_number(value)
    for middle in sides[1:-1]:
        middle_number = parse_number(middle)
        if value_number and middle_number and not numbers_equal(middle_number, value_number):
            return pred, "equality chain with different numbers"
    return value, None


def _inner_timeout(timeout: float) -> int:
    """math-verify's own (whole-second, per parse/verify step) timeout, set below the hard deadline."""
    return max(1, int(timeout) - 1)


def _symbolic_verdict(pred: str, gold: str, inner_timeout: int) -> Verdict:
    """Worker side: parse each single answer with math-verify (LaTeX only, one candidate) and verify."""
    from math_verify import verify
    from math_verify.errors import TimeoutException

    started = time.monotonic()
    try:
        gold_parsed = _parsed_gold(gold, inner_timeout)
        pred_parsed = _parse_latex(pred, inner_timeout)
        if not gold_parsed or not pred_parsed:
            # math-verify swallows a parse timeout as "no parse"; the clock tells them apart
            slow = time.monotonic() - started >= inner_timeout
            side = "reference answer" if not gold_parsed else "answer"
            return Verdict(False, slow, f"{side} parse timed out" if slow else f"{side} is not parseable LaTeX")
        same = verify(gold_parsed, pred_parsed, timeout_seconds=inner_timeout, raise_on_error=True)
    except TimeoutException:
        return Verdict(False, True, f"math-verify timed out after {inner_timeout}s")
    except Exception as exc:  # sympy raises many types on odd input; each means "not shown equal"
        return Verdict(False, False, f"math-verify error: {type(exc).__name__}")
    return Verdict(bool(same), False, "symbolically equal" if same else "symbolically different")


def _parse_latex(answer: str, inner_timeout: int) -> list[object]:
    """math-verify's parse of one single answer as LaTeX (first candidate only)."""
    from math_verify import LatexExtractionConfig, parse

    config = [LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False)]
    return parse(f"\\boxed{{{answer}}}", config, fallback_mode="no_fallback", extraction_mode="first_match",
                 parsing_timeout=inner_timeout, raise_on_error=True)


#: reference answers whose parse a worker keeps: RL groups grade many responses against the same reference
GOLD_CACHE_SIZE = 4096
_gold_cache: OrderedDict[str, list[object]] = OrderedDict()


def _parsed_gold(gold: str, inner_timeout: int) -> list[object]:
    """:func:`_parse_latex` of a reference answer through a per-worker LRU cache (workers are single-threaded).

    An empty parse is not kept: it may be a parse timeout that math-verify swallowed.
    """
    if gold in _gold_cache:
        _gold_cache.move_to_end(gold)
        return _gold_cache[gold]
    parsed = _parse_latex(gold, inner_timeout)
    if parsed:
        _gold_cache[gold] = parsed
        if len(_gold_cache) > GOLD_CACHE_SIZE:
            _gold_cache.popitem(last=False)
    return parsed


def _warm_up() -> None:
    """Worker initializer: import math-verify and build its parser once, outside any call's deadline."""
    _symbolic_verdict("\\frac{1}{2}", "0.5", 5)


_shared_pool: WorkerPool | None = None
_shared_pool_lock = threading.Lock()


def verifier_pool() -> WorkerPool:
    """The process-wide pool for symbolic checks, created on first use and again after ``close()``."""
    global _shared_pool
    with _shared_pool_lock:
        if _shared_pool is None or _shared_pool.closed:
            _shared_pool = WorkerPool(DEFAULT_POOL_SIZE, initializer=_warm_up)
        return _shared_pool
