"""Math answer grading: extraction, normalisation, equivalence, known hacks, the worker pool, real data."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from reasongym.runtime.workers import CallTimeout, WorkerError, WorkerPool
from reasongym.tasks.math import (Grade, Verdict, equivalent, extract_answer, grade, grade_many, last_boxed,
                                  verifier_pool)
from reasongym.tasks.math.grade import _symbolic_verdict, _value_of_equation
from reasongym.tasks.math.extract import MAX_ANSWER_CHARS, MAX_RESPONSE_CHARS
from reasongym.tasks.math.normalize import clean_answer, count_values, parse_number
from reasongym.tasks.math.numeric import compare as compare_values

from conftest import MATH_DATA as DATA_DIR

#: a power tower: sympy tries to evaluate it while comparing with a number and never finishes
POWER_TOWER = r"9^{9^{9^{9^{9}}}}"
#: generous bound for "returned promptly" on a loaded CI machine; not a performance assertion
SLACK_SECONDS = 6.0


def boxed(answer: str) -> str:
    return f"We compute carefully. Therefore the answer is $\\boxed{{{answer}}}$."


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not reaped-or-zombie) process."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --------------------------------------------------------------------------- equivalence

EQUIVALENT = [
    (r"\frac{1}{2}", "0.5"),
    ("0.5", r"\frac{1}{2}"),
    (r"\dfrac{3}{4}", r"\frac34"),
    (r"\tfrac{3}{4}", "0.75"),
    ("1/2", r"\frac{1}{2}"),
    (r"-\frac{1}{2}", "-0.5"),
    ("[1, 2)", "[1,2)"),
    (r"(-\infty, 3]", r"(-\infty,3]"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \frac{\pi}{2})"),
    (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
    ("27.0", "27"),
    ("27", "27.00"),
    ("7e37", r"7 \times 10^{37}"),
    (r"7\cdot10^{37}", "7e37"),
    ("7.0E+37", r"7 \times 10^{37}"),
    ("1,000", "1000"),
    ("1,000,000", "1000000"),
    (r"1{,}000", "1000"),
    (r"10\text{ cm}", "10"),
    (r"12 \mbox{ cm}^2", "12"),
    (r"\text{Evelyn}", "Evelyn"),
    (r"\text{(C)}", "C"),
    (r"30^\circ", "30"),
    (r"30^{\circ}", "30"),
    ("30 degrees", "30"),
    (r"50\%", "50"),
    (r"\$18", "18"),
    ("18 dollars", "18"),
    ("0.333333", r"\frac{1}{3}"),
    ("x^2+2x+1", "(x+1)^2"),
    (r"\frac{1}{\sqrt{2}}", r"\frac{\sqrt{2}}{2}"),
    (r"\sqrt{4}", "2"),
    (r"2\sqrt{2}", r"\sqrt{8}"),
    ("x = 5", "5"),
    ("2, -2", r"\pm 2"),
    (r"\{1, 2\}", "1, 2"),
    ("x=1, y=2", "(1, 2)"),
]

NOT_EQUIVALENT = [
    ("0.33", r"\frac{1}{3}"),
    ("1.999999", "2"),
    ("12", "13"),
    ("-5", "5"),
    ("(1,2]", "[1,2)"),
    ("(1,2)", "(2,1)"),
    ("x^2+2x", "(x+1)^2"),
    ("7e36", r"7 \times 10^{37}"),
    ("1,001", "1000"),
    (r"\begin{pmatrix} 1 \\ 3 \end{pmatrix}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
    (r"\frac{\sqrt{3}}{3}", r"\frac{\sqrt{3}}{2}"),
    ("banana", "2"),
]


@pytest.mark.parametrize(("pred", "gold"), EQUIVALENT)
def test_equivalent_answers_grade_correct(pred: str, gold: str) -> None:
    result = grade(boxed(pred), gold)
    assert result.correct, result
    assert result.format_ok and result.boxed and not result.timed_out


@pytest.mark.parametrize(("pred", "gold"), NOT_EQUIVALENT)
def test_different_answers_grade_wrong(pred: str, gold: str) -> None:
    result = grade(boxed(pred), gold)
    assert not result.correct, result
    assert result.format_ok and not result.timed_out


def test_numeric_gold_values_are_stringified() -> None:
    assert grade(boxed("27"), 27.0).correct
    assert grade(boxed("27.0"), 27).correct
    assert grade(boxed("0.25"), 0.25).correct
    assert not grade(boxed("28"), 27.0).correct
    assert grade(boxed("27"), 27.0).gold == "27"
    with pytest.raises(TypeError):
        grade(boxed("1"), True)


def test_numeric_fast_path_needs_no_worker() -> None:
    assert parse_number(clean_answer("7 \\times 10^{37}")).value == 7 * 10**37
    assert parse_number(clean_answer("\\frac{3}{0}")) is None
    assert parse_number("1e999999") is None  # exponent bound: never builds a huge integer
    pool = WorkerPool(1)
    try:
        assert not grade(boxed("123"), "124", pool=pool).correct
        assert grade(boxed("1,000"), "1000.0", pool=pool).correct
        assert pool.pids() == []  # decided in-process
    finally:
        pool.close()


def test_normalisation_details() -> None:
    assert clean_answer("$\\dfrac{1}{2}$") == "\\frac{1}{2}"
    assert clean_answer("\\left( 1, 2 \\right)") == "( 1, 2 )"
    assert clean_answer("(1,2)") == "(1,2)"  # a tuple is not a thousands-separated number
    assert clean_answer("12 square feet") == "12"
    assert clean_answer("\\frac12") == "\\frac{1}{2}"
    assert count_values("1, 2, 3") == 3
    assert count_values("(1, 2)") == 2
    assert count_values("(-\\infty, 1) \\cup (2, \\infty)") == 1
    assert count_values("\\pm 3") == 2


# --------------------------------------------------------------------------- in-process evaluation


class RefusingPool:
    """Stands in for the worker pool and fails the test if a symbolic check is attempted."""

    size = 1

    def call(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("math-verify was called")


def fast(pred: str, gold: str) -> Verdict:
    """``equivalent`` that must decide without math-verify."""
    return equivalent(pred, gold, pool=RefusingPool())  # type: ignore[arg-type]


SAME_VALUE_OTHER_FORM = [  # stay correct; close values go on to math-verify, which has the last word
    (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}"),
    (r"2\pi", r"\pi \cdot 2"),
    (r"\frac{14}{3}", r"4\frac{2}{3}"),
    ("0.5", r"\frac12"),
    ("1+i", "i+1"),
    (r"\frac{\sqrt{6}}{3}", r"\sqrt{\frac{2}{3}}"),
    (r"\frac{\pi}{2}", r"1/2 \cdot \pi"),
    (r"\sqrt[3]{16}", r"2\sqrt[3]{2}"),
    ("3.1415927", r"\pi"),  # math-verify rounds decimals to 6 places
    ("2x+2", "2(x+1)"),
    ("(x, y) = (1, 2)", "(1, 2)"),  # fewer top-level values, but not a single value: math-verify decides
    (r"x \in \{1, 2\}", r"\{1,2\}"),
    (r"\{1, 2\} \cup \{3\}", "1, 2, 3"),
]


@pytest.mark.parametrize(("pred", "gold"), SAME_VALUE_OTHER_FORM)
def test_same_value_in_another_form_stays_correct(pred: str, gold: str) -> None:
    result = grade(boxed(pred), gold)
    assert result.correct and not result.timed_out, result


@pytest.mark.parametrize(("pred", "gold"), [
    (r"\frac{14}{3}", r"4\frac{2}{3}"),
    (r"2^{10}", "1024"),
    (r"\sqrt{\frac{9}{4}}", r"\frac{3}{2}"),
    (r"-2^{2}", "-4"),
    ("(5)", "5"),
])
def test_equal_exact_rationals_are_correct_in_process(pred: str, gold: str) -> None:
    verdict = fast(pred, gold)
    assert verdict.correct and verdict.reason == "same exact value", verdict


FAST_WRONG = [
    # constant expressions with different values
    (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt{2}}{2}", "values differ"),
    (r"3\pi", r"\pi \cdot 2", "values differ"),
    (r"\frac{1}{2\pi}", r"\frac{\pi}{2}", "values differ"),
    (r"4\frac{1}{3}", r"\frac{14}{3}", "values differ"),
    ("1-i", "1+i", "values differ"),
    (r"e^{2}", r"\pi^{2}", "values differ"),
    (r"\sqrt[3]{16}", r"2\sqrt{2}", "values differ"),
    (r"2^{10}", r"10^{3}", "values differ"),
    # a variable where a constant is expected, and expressions that differ
    ("x", "5", "values differ"),
    ("3n+1", r"\frac{1}{2}", "values differ"),
    ("x^2+2x", "(x+1)^2", "values differ"),
    ("i", "2", "values differ"),
    # words
    (r"\text{even}", "odd", "values differ"),
    (r"\text{Yes}", r"\text{No}", "values differ"),
    # a single value where the reference lists several
    ("2", "2, -2", "1 values given where the reference has 2"),
    ("3", r"\pm 3", "1 values given where the reference has 2"),
    ("1", "(1, 2)", "1 values given where the reference has 2"),
    ("5", r"\{1, 5\}", "1 values given where the reference has 2"),
]


@pytest.mark.parametrize(("pred", "gold", "reason"), FAST_WRONG)
def test_different_values_are_wrong_in_process(pred: str, gold: str, reason: str) -> None:
    verdict = fast(pred, gold)
    assert not verdict.correct and not verdict.timed_out and reason in verdict.reason, verdict


@pytest.mark.parametrize(("pred", "gold"), [
    (r"\frac{\sqrt{2}}{2}", r"\frac{1}{\sqrt{2}}"),  # close floats: only math-verify may accept
    ("3.14159", r"\pi"),  # within the tolerance, which covers math-verify's rounding to 6 places
    ("i^{2}", "-1"),  # i may be the imaginary unit
    ("e", "2.718281828"),  # e is Euler's number, as in latex2sympy
    (r"(10^{20}\pi+1)-10^{20}\pi", "1"),  # cancellation: the error bound says "unknown", not 0
    ("5d", "5"),  # math-verify strips trailing unit words ("d" is one)
    ("2 3", "5"),  # latex2sympy reads juxtaposed numbers as a sum
    ("(2)(3)", "6"),
    (r"2\frac{1}{2}^{2}", r"\frac{1}{2}"),
    (r"\sqrt[3]{-8}", "-2"),  # a root of a negative number: branch conventions differ
    (r"2^{3^{2}}", "512"),  # nested power
    (r"10^{1001}", "1"),  # exponent above the bound
    (r"e^{1000}", "1"),  # overflow
    (POWER_TOWER, "5"),
    (r"\log 2", "1"),  # unknown command
    ("x_{1}", "1"),
    ("x or y", "x"),
    ("infinity", "1"),
    ("(" * 100 + "1" + ")" * 100, "2"),
])
def test_evaluation_leaves_unclear_cases_to_math_verify(pred: str, gold: str) -> None:
    assert compare_values(clean_answer(pred), clean_answer(gold)) is None


def test_evaluation_never_raises_on_arbitrary_token_soup() -> None:
    pieces = ["1", "2", "0", ".5", "3.25", "x", "i", "e", "E", "d", r"\pi", r"\frac", r"\sqrt", r"\cdot", "{", "}",
              "(", ")", "[", "]", "^", "+", "-", "*", "/", " ", "10^{999}", "2^{1000}", r"\infty", "_", ","]
    rng = random.Random(0)
    start = time.monotonic()
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 24)))
        assert compare_values(text, r"\frac{1}{2}") in (True, False, None)
    assert time.monotonic() - start < SLACK_SECONDS


def test_worker_caches_parsed_reference_answers() -> None:
    grading = sys.modules["reasongym.tasks.math.grade"]
    grading._gold_cache.clear()
    assert grading._symbolic_verdict(r"\sqrt{2}", r"\frac{2}{\sqrt{2}}", 5).correct
    assert grading._symbolic_verdict(r"\sqrt{3}", r"\frac{2}{\sqrt{2}}", 5) == Verdict(False, False,
                                                                                     "symbolically different")
    assert list(grading._gold_cache) == [r"\frac{2}{\sqrt{2}}"]
    assert not grading._symbolic_verdict("1", r"\frac{", 5).correct
    assert r"\frac{" not in grading._gold_cache  # an empty parse (perhaps a timeout) is not kept


# --------------------------------------------------------------------------- extraction


def test_extracts_last_box_with_nested_braces() -> None:
    text = r"First $\boxed{1}$, finally $\boxed{\frac{\sqrt{3}}{2^{\{1\}}}}$."
    assert last_boxed(text) == r"\frac{\sqrt{3}}{2^{\{1\}}}"
    assert last_boxed(r"so \fbox{42} done") == "42"
    assert last_boxed(r"\boxed{\boxed{5}}") == "5"
    assert last_boxed(r"\boxed { 7 }") == "7"
    assert last_boxed("no box here") is None
    assert last_boxed(r"unbalanced }} then \boxed{8}") == "8"


def test_unclosed_final_box_does_not_fall_back() -> None:
    found = extract_answer(r"\boxed{204} wait, actually \boxed{3")
    assert found.answer is None and not found.format_ok
    assert not grade(r"The answer is 204. Final: \boxed{20", "204").correct


def test_answer_line_and_gsm8k_fallbacks() -> None:
    assert extract_answer("So the final answer is $\\frac{1}{2}$. I hope it is correct.").answer == "\\frac{1}{2}"
    assert extract_answer("Work...\nAnswer: 3.5 apples.").answer == "3.5 apples"
    assert extract_answer("**Final Answer:** 17").answer == "17"
    assert extract_answer("blah\n#### 1,000").answer == "1,000"
    assert grade("Reasoning...\nThe answer is 42.", "42").correct
    assert grade("Reasoning...\n#### 1,234", "1234").correct
    assert extract_answer("nothing to see").answer is None


def test_boxed_mode_requires_a_box() -> None:
    result = grade("The answer is 42.", "42", mode="boxed")
    assert not result.correct and not result.format_ok and not result.boxed
    result = grade(boxed("42"), "42", mode="boxed")
    assert result.correct and result.format_ok and result.boxed


def test_gsm8k_mode_takes_gold_after_hashes() -> None:
    gold = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
    assert grade("She makes $18.\n#### 18", gold, mode="gsm8k").correct
    assert grade(boxed("18"), gold, mode="gsm8k").correct
    assert grade("The answer is $18.", gold, mode="gsm8k").correct
    assert not grade("#### 19", gold, mode="gsm8k").correct
    assert grade("#### 18", gold, mode="gsm8k").gold == "18"


def test_think_mode_grades_only_after_closed_think() -> None:
    assert grade("<think>maybe \\boxed{3}</think> It is \\boxed{204}.", "204", mode="think").correct
    inside_only = grade("<think>so \\boxed{204}</think> I am not sure.", "204", mode="think")
    assert not inside_only.correct and not inside_only.format_ok
    unclosed = grade("<think>long reasoning \\boxed{204}", "204", mode="think")
    assert not unclosed.correct and not unclosed.format_ok and unclosed.pred is None
    assert grade("I started thinking</think>\nThe answer is 204.", "204", mode="think").correct


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError):
        grade(boxed("1"), "1", mode="loose")


# --------------------------------------------------------------------------- known hacks


def test_answer_outside_the_final_box_does_not_count() -> None:
    result = grade(r"So $\boxed{3}$. Hmm, on reflection it is 204.", "204")
    assert not result.correct and result.pred == "3"


def test_only_the_last_of_several_boxes_counts() -> None:
    assert not grade(r"\boxed{204} no wait \boxed{3}", "204").correct
    assert grade(r"\boxed{3} no wait \boxed{204}", "204").correct
    many = " ".join(f"\\boxed{{{i}}}" for i in range(1, 1000))  # contains \boxed{204}
    assert not grade(many, "204").correct


def test_box_echoed_from_the_prompt_does_not_count() -> None:
    response = ("Problem (copied): show that the result is $\\boxed{204}$ when n = 3.\n"
                "Solution: the computation gives $\\boxed{17}$.")
    assert not grade(response, "204").correct


@pytest.mark.parametrize("pred", [
    ", ".join(str(i) for i in range(1, 300)),
    r"\{" + ", ".join(str(i) for i in range(195, 215)) + r"\}",
    r"1 \text{ or } 204",
    "3 or 204",
    r"204 \text{ and } 205",
    r"\pm 204",
    r"\boxed{1}\boxed{204}",
])
def test_a_box_listing_candidates_fails_a_single_answer(pred: str) -> None:
    result = grade(boxed(pred), "204")
    assert not result.correct, result


def test_answer_line_listing_candidates_fails() -> None:
    assert not grade("The answer is 1 or 2 or 3 or 204 or 5.", "204").correct


def test_equations_that_hedge_are_rejected() -> None:
    assert grade(boxed("x = 204"), "204").correct
    assert not grade(boxed("3 = 204"), "204").correct
    assert not grade(boxed("x = 3 = 204"), "204").correct
    assert grade(boxed("x = 200 + 4 = 204"), "204").correct


def test_huge_answers_are_rejected_fast() -> None:
    start = time.monotonic()
    result = grade(boxed("1" * 100_000), "1" * 100_000)
    assert not result.correct and not result.format_ok
    assert str(MAX_ANSWER_CHARS) in result.reason
    flood = "{" * (MAX_RESPONSE_CHARS - 20) + r"\boxed{204}"
    assert grade(flood, "204").correct  # a long response is scanned in one linear pass
    assert not grade("x" * (MAX_RESPONSE_CHARS + 1) + r"\boxed{204}", "204").correct
    assert time.monotonic() - start < SLACK_SECONDS


def test_expression_that_never_finishes_times_out() -> None:
    start = time.monotonic()
    result = grade(boxed(POWER_TOWER), "5", timeout=2.0)
    elapsed = time.monotonic() - start
    assert result.timed_out and not result.correct and result.format_ok
    assert elapsed < 2.0 + SLACK_SECONDS


def test_hard_kill_backstop_and_recovery() -> None:
    pool = WorkerPool(1)
    try:
        assert grade(boxed("x^2-1"), "(x-1)(x+1)", pool=pool).correct  # equal values: needs math-verify
        (pid,) = pool.pids()
        start = time.monotonic()
        # below one second math-verify's own alarm cannot fire first: the pool must kill the worker
        result = grade(boxed(POWER_TOWER), "5", timeout=0.5, pool=pool)
        assert result.timed_out and not result.correct and "killed" in result.reason
        assert time.monotonic() - start < 0.5 + SLACK_SECONDS
        assert not _alive(pid)
        assert grade(boxed("(x+2)^2"), "x^2+4x+4", pool=pool).correct
    finally:
        pool.close()


def test_grading_from_threads() -> None:
    pairs = [(boxed(r"\frac{\sqrt{2}}{2}"), r"\frac{1}{\sqrt{2}}"), (boxed("x^2-1"), "(x-1)(x+1)"),
             (boxed("13"), "12"), (boxed(r"\pi"), "3.14")] * 3
    results = grade_many(pairs)
    assert [r.correct for r in results] == [True, True, False, False] * 3
    assert all(isinstance(r, Grade) for r in results)


# --------------------------------------------------------------------------- worker pool


def test_pool_returns_results_and_propagates_errors() -> None:
    with WorkerPool(2) as pool:
        assert pool.call(pow, 2, 10, timeout=10) == 1024
        with pytest.raises(WorkerError, match="ValueError: invalid literal"):
            pool.call(int, "not a number", timeout=10)
        with pytest.raises(Exception):
            pool.call(lambda: 1, timeout=10)  # not picklable: fails in the caller
        assert pool.call(pow, 3, 3, timeout=10) == 27


def test_pool_timeout_kills_and_replaces_the_worker() -> None:
    with WorkerPool(1) as pool:
        first = pool.call(os.getpid, timeout=10)
        start = time.monotonic()
        with pytest.raises(CallTimeout):
            pool.call(time.sleep, 60, timeout=0.5)
        assert time.monotonic() - start < 0.5 + SLACK_SECONDS
        assert not _alive(first)
        second = pool.call(os.getpid, timeout=10)
        assert second != first and _alive(second)


def test_pool_survives_a_dying_worker() -> None:
    with WorkerPool(1) as pool:
        with pytest.raises(WorkerError, match="died"):
            pool.call(os._exit, 3, timeout=10)
        assert pool.call(pow, 2, 5, timeout=10) == 32


def test_pool_is_thread_safe_and_bounded() -> None:
    pids: list[int] = []
    lock = threading.Lock()
    with WorkerPool(2) as pool:
        def work() -> None:
            pid = pool.call(os.getpid, timeout=30)
            with lock:
                pids.append(pid)

        threads = [threading.Thread(target=work) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(pids) == 12 and len(set(pids)) <= 2


def test_close_leaves_no_worker_processes() -> None:
    pool = WorkerPool(2)
    barrier = threading.Barrier(2)

    def call() -> None:
        barrier.wait()
        pool.call(time.sleep, 0.2, timeout=30)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pids = pool.pids()
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    pool.close()
    assert not any(_alive(pid) for pid in pids)
    assert not {p.pid for p in multiprocessing.active_children()} & set(pids)
    descendants = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not descendants & set(pids)
    with pytest.raises(RuntimeError):
        pool.call(pow, 1, 1, timeout=1)


def test_workers_end_with_the_interpreter() -> None:
    code = ("from reasongym.runtime.workers import WorkerPool\n"
            "if __name__ == '__main__':\n"
            "    import os\n"
            "    pool = WorkerPool(2)\n"
            "    print(pool.call(os.getpid, timeout=30))\n")  # exits without close()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    worker_pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + SLACK_SECONDS
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker_pid)


def test_import_is_light() -> None:
    code = ("import sys, reasongym.tasks.math; "
            "heavy = [m for m in ('torch', 'sympy', 'math_verify') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# --------------------------------------------------------------------------- real data


def _jsonl(name: str) -> list[dict]:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"benchmark file {path} not found (the shared data folder is not beside the checkout)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_math500_reference_solutions_grade_correct() -> None:
    rows = _jsonl("math500.jsonl")
    results = grade_many([(row["solution"], row["answer"]) for row in rows], mode="boxed")
    failures = [(row["unique_id"], r.pred, row["answer"], r.reason)
                for row, r in zip(rows, results) if not r.correct]
    rate = 1 - len(failures) / len(rows)
    print(f"MATH-500 self-consistency: {rate:.2%} ({len(rows) - len(failures)}/{len(rows)})")
    for failure in failures:
        print("  FAIL", failure)
    assert rate >= 0.99


def test_amc23_float_answers() -> None:
    rows = _jsonl("amc23.jsonl")
    for row in rows:
        answer = row["answer"]
        assert isinstance(answer, float)
        assert grade(boxed(str(int(answer))), answer).correct, row["id"]
        assert grade(boxed(repr(answer)), str(int(answer))).correct, row["id"]
        assert not grade(boxed(str(int(answer) + 1)), answer).correct, row["id"]


def test_gsm8k_reference_solutions_grade_correct() -> None:
    rows = _jsonl("gsm8k.jsonl")[:200]
    for row in rows:
        assert grade(row["answer"], row["answer"], mode="gsm8k").correct, row["idx"]


class DeferringPool:
    """Stands in for the worker pool: marks the verdicts that would need math-verify."""

    size = 1

    def call(self, *args: object, **kwargs: object) -> Verdict:
        return Verdict(False, False, "deferred to math-verify")


def test_in_process_verdicts_agree_with_math_verify_on_math500() -> None:
    """Soundness sweep of the value count and the numeric evaluation against math-verify's own verdicts.

    Pairs: each reference solution's boxed answer against its own item's answer and the next item's,
    2000 seeded random pairs of two items' answers, and each single-valued answer rewritten into forms of
    the same value against itself. Every pair that those rules decide is also sent to math-verify (as the
    grader would send it): a rule may never call wrong what math-verify calls correct, nor the reverse.
    """
    rows = _jsonl("math500.jsonl")
    answers = [row["answer"] for row in rows]
    solutions = [last_boxed(row["solution"]) or row["answer"] for row in rows]
    rng = random.Random(0)
    pairs = [*zip(solutions, answers), *zip(solutions, answers[1:] + answers[:1])]
    pairs += [(answers[j], answers[k]) for j, k in (rng.sample(range(len(rows)), 2) for _ in range(2000))]
    pairs += [(form.format(a), a) for a in answers if count_values(clean_answer(a)) == 1
              for form in ("({})", "1\\cdot ({})", "({})+0", "\\frac{{2({})}}{{2}}")]

    decided = []
    for pred, gold in pairs:
        verdict = equivalent(pred, gold, pool=DeferringPool())  # type: ignore[arg-type]
        cleaned_pred, cleaned_gold = clean_answer(pred), clean_answer(gold)
        fewer = count_values(cleaned_pred) < count_values(cleaned_gold)
        if verdict.reason in ("same exact value", "values differ numerically") or \
                fewer and "values given" in verdict.reason:
            decided.append((_value_of_equation(cleaned_pred, cleaned_gold)[0], cleaned_gold, verdict))
    pool = verifier_pool()
    with ThreadPoolExecutor(max_workers=pool.size) as executor:
        references = list(executor.map(lambda item: pool.call(_symbolic_verdict, item[0], item[1], 4, timeout=5),
                                       decided))
    disagreements = [(pred, gold, verdict.reason, reference.reason)
                     for (pred, gold, verdict), reference in zip(decided, references)
                     if verdict.correct != reference.correct]
    print(f"soundness sweep: {len(pairs)} pairs, {len(decided)} decided by the value count or evaluation, "
          f"{len(disagreements)} disagree with math-verify")
    assert not disagreements
