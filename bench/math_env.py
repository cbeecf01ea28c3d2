"""Episodes per second of reasongym's math env against GEM's ``MathEnv``, correct vs wrong answers.

One episode is ``reset`` on a given problem followed by one ``step`` with a fixed response. Both
libraries get the same problems (AIME 2024 and the first MATH-500 problems, read from
``$REASONGYM_DATA_DIR``, default ``/work/shared/data/math``) and the same two responses per problem:

* correct: ``<short reasoning> \\boxed{GOLD}``
* wrong:   ``<short reasoning> \\boxed{WRONG}``; WRONG is gold + 1 for an integer (or decimal) gold,
  otherwise the answer of a later problem that differs from gold.

Each library runs in its own fresh subprocess (so one's worker pools, imports and caches never touch
the other's). A subprocess is warmed up by one untimed pass over every problem in both cases (that
pass also gives the verdicts for the grading-agreement report), then times ``--n`` episodes per case.
``--repeats`` rounds each start a new subprocess per library, alternating the libraries and flipping
their order every round so that other load on the machine falls on both. The table shows the median
episodes/s over the rounds.

GEM side: ``gem.envs.math_env.MathEnv(dataset=datasets.Dataset.from_list(...), eval=True)`` (its
default ``use_mp=True``: a 1-process ``multiprocessing.Pool`` with a 1 s result timeout), reset with
``reset(idx=i)``. ``--gem-local`` adds a row for ``use_mp=False`` (in-process, SIGALRM timeout).
reasongym side: ``gym.make("reason/MATH500-v0", data_files=<the same problems as JSONL>)``, reset
with ``options={"index": i}``.

Usage::

    .venv/bin/python bench/math_env.py            # full run
    .venv/bin/python bench/math_env.py --quick    # 30 AIME + 50 MATH-500 problems, 1 round
    .venv/bin/python bench/math_env.py --n 1000 --repeats 5 --json out.json
    .venv/bin/python bench/math_env.py --sides reasongym --profile   # cProfile of the wrong-answer loop

Timings are reported, never asserted: the exit status only says whether every side ran.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

DEFAULT_DATA_DIR = "/work/shared/data/math"
CASES = ("correct", "wrong")
SIDES = ("reasongym", "gem")

REASONING = (
    "Let me work through this carefully.\n\n"
    "First I restate what is asked and name the unknown quantities. Then I set up the relations the "
    "problem gives, simplify them one step at a time, and check the result against every condition "
    "in the statement before committing to it.\n\n"
)


def respond(answer: str) -> str:
    """A model-like response whose final answer is ``answer`` in a box."""
    return f"{REASONING}Therefore, the final answer is $\\boxed{{{answer}}}$."


# --------------------------------------------------------------------------------------------------
# problems and responses (parent process)
# --------------------------------------------------------------------------------------------------

def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_problems(data_dir: Path, sets: list[str], math500_first: int) -> list[dict[str, str]]:
    """Read the chosen problem sets; exit with a clear message when a file is missing."""
    files = {"aime24": "aime24.jsonl", "math500": "math500.jsonl"}
    problems: list[dict[str, str]] = []
    for name in sets:
        if name not in files:
            sys.exit(f"unknown problem set {name!r}; choose from {sorted(files)}")
        path = data_dir / files[name]
        if not path.is_file():
            sys.exit(f"missing {path}: set REASONGYM_DATA_DIR (or --data-dir) to a folder holding "
                     f"{', '.join(files.values())}")
        rows = _read_jsonl(path)
        if name == "math500":
            rows = rows[:math500_first]
        for k, row in enumerate(rows):
            problem = row.get("problem") or row.get("question")
            answer = row.get("answer")
            if not problem or answer in (None, ""):
                sys.exit(f"{path} record {k} lacks a problem or an answer")
            problems.append({"id": f"{name}-{k}", "problem": str(problem), "answer": str(answer).strip()})
    if not problems:
        sys.exit("no problems selected")
    return problems


_INT = re.compile(r"-?\d+")
_DEC = re.compile(r"-?\d+\.\d+")


def _loose(text: str) -> str:
    return re.sub(r"\\left|\\right|\\!|[\s{}$]", "", text)


def wrong_answer(index: int, answers: list[str]) -> str:
    """A plausible wrong answer for problem ``index``: gold + 1, or another problem's answer."""
    gold = answers[index]
    if _INT.fullmatch(gold):
        return str(int(gold) + 1)
    if _DEC.fullmatch(gold):
        try:
            return str(Decimal(gold) + 1)
        except InvalidOperation:
            pass
    n = len(answers)
    others = [answers[(index + k) % n] for k in range(1, n)]
    differing = [a for a in others if _loose(a) != _loose(gold)]
    same_kind = [a for a in differing if not _INT.fullmatch(a)]  # a non-integer for a non-integer gold
    return (same_kind or differing or [gold + "+1"])[0]


# --------------------------------------------------------------------------------------------------
# one side, in its own subprocess
# --------------------------------------------------------------------------------------------------

Episode = Callable[[int, str], "tuple[bool, bool]"]  # (index, response) -> (correct, timed_out)


def _make_gem(problems: list[dict[str, str]], use_mp: bool) -> tuple[Episode, Callable[[], None]]:
    import logging

    from datasets import Dataset
    try:
        from gem.envs.math_env import MathEnv
    except ImportError as exc:  # gem-llm 0.1.0 also imports pylatexenc without declaring it
        raise SystemExit(f"cannot import GEM ({exc}); install the bench extra: pip install -e '.[bench]'") from exc

    # something in gem's import chain configures root logging at INFO, and reset(idx=) logs every call;
    # printing that would time the terminal, not the env.
    logging.getLogger().setLevel(logging.WARNING)
    dataset = Dataset.from_list([{"problem": p["problem"], "answer": p["answer"]} for p in problems])
    env = MathEnv(dataset=dataset, eval=True, use_mp=use_mp)  # eval=True: no shuffle, idx == row

    def episode(index: int, response: str) -> tuple[bool, bool]:
        env.reset(idx=index)
        _, _, _, _, info = env.step(response)
        return bool(info["correct"]), False  # GEM does not report timeouts (a timeout is just False)

    def close() -> None:
        if use_mp:
            env.close()
            env.mp_pool.join()

    return episode, close


def _make_reasongym(problems: list[dict[str, str]], jsonl: str) -> tuple[Episode, Callable[[], None]]:
    import gymnasium as gym

    import reasongym  # noqa: F401  (registers reason/*)

    env = gym.make("reason/MATH500-v0", data_files=jsonl)
    for i, p in enumerate(problems):  # same problem order and gold on both sides
        env.reset(seed=0, options={"index": i})
        if env.unwrapped.item.answer != p["answer"]:
            raise SystemExit(f"reasongym item {i} gold {env.unwrapped.item.answer!r} != {p['answer']!r}")

    def episode(index: int, response: str) -> tuple[bool, bool]:
        env.reset(options={"index": index})
        _, reward, _, _, info = env.step(response)
        correct = info["correct"] if "correct" in info else reward > 0
        return bool(correct), bool(info.get("timed_out", False))

    return episode, env.close


def _children_cpu() -> float | None:
    """CPU seconds (user + system) used so far by every live descendant of this process (Linux /proc).

    Worker processes (GEM's ``multiprocessing.Pool``, reasongym's fork-server workers) do the grading, so
    the CPU an episode costs is this process's own ``process_time`` plus its descendants'. Clock-tick
    resolution (10 ms): meaningful over a pass of hundreds of episodes, not per episode.
    """
    try:
        tick = os.sysconf("SC_CLK_TCK")
        parent_of: dict[int, int] = {}
        cpu_of: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
            parent_of[int(entry)] = int(fields[1])
            cpu_of[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, ValueError, AttributeError):
        return None
    total, frontier = 0, [os.getpid()]
    while frontier:
        pid = frontier.pop()
        for child, parent in parent_of.items():
            if parent == pid:
                total += cpu_of[child]
                frontier.append(child)
    return total / tick


def run_side(args: argparse.Namespace) -> None:
    spec = json.loads(Path(args._spec).read_text())
    problems = spec["problems"]
    responses = {case: spec[case] for case in CASES}
    t_setup = time.perf_counter()
    if args._side == "reasongym":
        episode, close = _make_reasongym(problems, spec["jsonl"])
    else:
        episode, close = _make_gem(problems, use_mp=args._side == "gem")
    setup_s = time.perf_counter() - t_setup

    # warm-up: one untimed pass over every problem in both cases; its verdicts are the agreement data
    t_warm = time.perf_counter()
    verdicts: dict[str, list[bool]] = {}
    timeouts: dict[str, int] = {}
    for case in CASES:
        got = [episode(i, responses[case][i]) for i in range(len(problems))]
        verdicts[case] = [c for c, _ in got]
        timeouts[case] = sum(t for _, t in got)
    warm_s = time.perf_counter() - t_warm

    order = [i % len(problems) for i in range(spec["n"])]
    runs: dict[str, list[dict[str, float]]] = {case: [] for case in CASES}
    profiler = None
    for _ in range(spec["repeats"]):
        for case in CASES:
            if args._profile and case == "wrong" and profiler is None:
                import cProfile
                profiler = cProfile.Profile()
                profiler.enable()
            lat = []
            slow = 0
            children0, own0 = _children_cpu(), time.process_time()
            start = time.perf_counter()
            for i in order:
                t0 = time.perf_counter()
                episode(i, responses[case][i])
                dt = time.perf_counter() - t0
                lat.append(dt)
                slow += dt >= 0.9
            total = time.perf_counter() - start
            own, children1 = time.process_time() - own0, _children_cpu()
            cpu = own + (children1 - children0) if children0 is not None and children1 is not None else None
            if profiler is not None and profiler is not False:
                profiler.disable()
                _print_profile(profiler, args._side)
                profiler = False  # profile only the first wrong-answer pass
            lat.sort()
            runs[case].append({
                "episodes": len(order), "seconds": total, "eps": len(order) / total,
                "p50_ms": 1e3 * lat[len(lat) // 2], "p99_ms": 1e3 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
                "max_ms": 1e3 * lat[-1], "slow_ge_0.9s": slow,
                "cpu_ms": None if cpu is None else 1e3 * cpu / len(order),
            })
    close()
    Path(args._out).write_text(json.dumps({
        "side": args._side, "setup_s": setup_s, "warmup_s": warm_s, "verdicts": verdicts,
        "warmup_timeouts": timeouts, "runs": runs,
    }))


def _print_profile(profiler: Any, side: str) -> None:
    import io
    import pstats

    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats(key).print_stats(30)
        print(f"\n===== cProfile of {side}, wrong answers, sorted by {key} (parent process only; "
              f"work done in worker processes shows up as waiting) =====")
        print(buf.getvalue())
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------------
# orchestration and report (parent process)
# --------------------------------------------------------------------------------------------------

def _spawn(side: str, spec_path: str, python: str, profile: bool, timeout: float) -> dict[str, Any] | str:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    cmd = [python, os.path.abspath(__file__), "--_side", side, "--_spec", spec_path, "--_out", out]
    if profile:
        cmd.append("--_profile")
    env = dict(os.environ, PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    try:
        proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, timeout=timeout,
                              stdout=None if profile else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    try:
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            return f"exit {proc.returncode}:\n{tail}"
        return json.loads(Path(out).read_text())
    finally:
        Path(out).unlink(missing_ok=True)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _cpu(runs: list[dict[str, Any]]) -> float | None:
    """Median CPU ms per episode (driver + worker processes), or None where /proc was unreadable."""
    values = [r["cpu_ms"] for r in runs if r.get("cpu_ms") is not None]
    return statistics.median(values) if values else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def report(results: dict[str, dict[str, Any]], problems: list[dict[str, str]], wrong: list[str],
           show: int) -> None:
    print()
    header = f"{'env':<12} {'case':<8} {'episodes/s':>11} {'min-max':>15} {'p50 ms':>8} {'p99 ms':>8} " \
             f"{'max ms':>8} {'>=0.9s':>6} {'cpu ms/ep':>10}"
    print(header)
    print("-" * len(header))
    for side, res in results.items():
        for case in CASES:
            runs = res["runs"][case]
            eps = [r["eps"] for r in runs]
            print(f"{side:<12} {case:<8} {_median(runs, 'eps'):>11.1f} {f'{min(eps):.0f}-{max(eps):.0f}':>15} "
                  f"{_median(runs, 'p50_ms'):>8.2f} {_median(runs, 'p99_ms'):>8.2f} "
                  f"{max(r['max_ms'] for r in runs):>8.1f} {sum(r['slow_ge_0.9s'] for r in runs):>6} "
                  f"{_fmt(_cpu(runs)):>10}")
    print()
    if "reasongym" in results and "gem" in results:
        for case in CASES:
            ratio = _median(results["reasongym"]["runs"][case], "eps") / _median(results["gem"]["runs"][case], "eps")
            rg_cpu, gem_cpu = _cpu(results["reasongym"]["runs"][case]), _cpu(results["gem"]["runs"][case])
            cpu_ratio = f"{gem_cpu / rg_cpu:.2f}x" if rg_cpu and gem_cpu else "n/a"
            print(f"ratio reasongym/GEM, {case:<7}: {ratio:6.2f}x episodes/s (median of rounds); "
                  f"{cpu_ratio} by CPU time per episode")
        print()
    for side, res in results.items():
        v = res["verdicts"]
        print(f"{side:<12} grading: correct answers marked correct {sum(v['correct'])}/{len(problems)}, "
              f"wrong answers marked wrong {len(problems) - sum(v['wrong'])}/{len(problems)}; "
              f"timeouts reported in warm-up passes {sum(res['warmup_timeouts'].values())}; verdicts that "
              f"changed between rounds {res.get('verdict_flips', 0)}; setup {res['setup_s']:.2f} s, "
              f"warm-up pass {res['warmup_s']:.2f} s")
    if "reasongym" in results and "gem" in results:
        a, b = results["reasongym"]["verdicts"], results["gem"]["verdicts"]
        diffs = [(case, i) for case in CASES for i in range(len(problems)) if a[case][i] != b[case][i]]
        print(f"\nagreement reasongym vs GEM: {2 * len(problems) - len(diffs)}/{2 * len(problems)} verdicts agree, "
              f"{len(diffs)} disagree")
        for case, i in diffs[:show]:
            given = problems[i]["answer"] if case == "correct" else wrong[i]
            print(f"  {problems[i]['id']:<12} {case:<7} gold={problems[i]['answer']!r} given={given!r} "
                  f"reasongym={a[case][i]} gem={b[case][i]}")
        if len(diffs) > show:
            print(f"  ... {len(diffs) - show} more (--show N to list them)")
    for side, res in results.items():  # verdicts that are off the expected value on a side
        v = res["verdicts"]
        off = [("correct", i) for i, ok in enumerate(v["correct"]) if not ok] + \
              [("wrong", i) for i, ok in enumerate(v["wrong"]) if ok]
        if off:
            print(f"\n{side}: {len(off)} verdicts differ from the intended label:")
            for case, i in off[:show]:
                given = problems[i]["answer"] if case == "correct" else wrong[i]
                print(f"  {problems[i]['id']:<12} {case:<7} gold={problems[i]['answer']!r} given={given!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run: first 50 MATH-500 problems, 1 pass, 1 round")
    ap.add_argument("--n", type=int, default=None, help="timed episodes per case, env and round (default: 2 passes over the problems, "
                    "460; quick: 1 pass, 80); a multiple of the problem count keeps the answer mix")
    ap.add_argument("--repeats", type=int, default=None, help="rounds, each a fresh subprocess per env with one timed pass per case (default 3; quick 1)")
    ap.add_argument("--sets", default="aime24,math500", help="problem sets, comma-separated (aime24, math500)")
    ap.add_argument("--math500-first", type=int, default=None, help="how many MATH-500 problems (default 200)")
    ap.add_argument("--data-dir", default=os.environ.get("REASONGYM_DATA_DIR", DEFAULT_DATA_DIR))
    ap.add_argument("--sides", default="reasongym,gem", help="which envs to run, comma-separated")
    ap.add_argument("--gem-local", action="store_true", help="also run GEM with use_mp=False (in-process grading)")
    ap.add_argument("--gem-python", default=sys.executable,
                    help="interpreter for the GEM side (e.g. a separate venv's python); default: this one")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of each side's first wrong-answer pass")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per side")
    ap.add_argument("--show", type=int, default=10, help="disagreements to list")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--_side", help=argparse.SUPPRESS)
    ap.add_argument("--_spec", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    ap.add_argument("--_profile", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._side:
        run_side(args)
        return 0

    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    first = args.math500_first if args.math500_first is not None else (50 if args.quick else 200)
    if repeats < 1:
        sys.exit("--repeats must be positive")
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    problems = load_problems(Path(args.data_dir), sets, first)
    answers = [p["answer"] for p in problems]
    wrong = [wrong_answer(i, answers) for i in range(len(problems))]
    n = args.n if args.n is not None else len(problems) * (1 if args.quick else 2)
    if n < 1:
        sys.exit("--n must be positive")

    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    for s in sides:
        if s not in SIDES:
            sys.exit(f"unknown side {s!r}; choose from {list(SIDES)}")
    if args.gem_local:
        sides.append("gem-local")

    with tempfile.TemporaryDirectory(prefix="bench-math-") as tmp:
        jsonl = Path(tmp) / "problems.jsonl"
        jsonl.write_text("".join(json.dumps(p) + "\n" for p in problems), encoding="utf-8")
        spec = Path(tmp) / "spec.json"
        spec.write_text(json.dumps({
            "problems": problems, "jsonl": str(jsonl), "n": n, "repeats": 1,
            "correct": [respond(a) for a in answers], "wrong": [respond(w) for w in wrong],
        }))
        print(f"{len(problems)} problems ({', '.join(sets)}; MATH-500 first {first}) from {args.data_dir}; "
              f"{n} timed episodes per case, env and round, {repeats} round(s), each after a warm-up pass over "
              f"all problems; python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
        results: dict[str, dict[str, Any]] = {}
        failed: set[str] = set()
        # one fresh subprocess per side and round, sides alternating (and their order flipping every
        # round), so that load from elsewhere on the machine spreads over both sides
        for rnd in range(repeats):
            for side in (sides if rnd % 2 == 0 else sides[::-1]):
                if side in failed:
                    continue
                python = args.gem_python if side.startswith("gem") else sys.executable
                t0 = time.perf_counter()
                res = _spawn(side, str(spec), python, args.profile and rnd == 0, args.timeout)
                if isinstance(res, str):
                    failed.add(side)
                    print(f"  round {rnd + 1}/{repeats} {side} failed: {res}", flush=True)
                    continue
                print(f"  round {rnd + 1}/{repeats} {side:<10} {time.perf_counter() - t0:5.1f} s  "
                      + "  ".join(f"{c} {res['runs'][c][0]['eps']:.0f}/s" for c in CASES), flush=True)
                if side not in results:
                    res["verdict_flips"] = 0
                    results[side] = res
                    continue
                kept = results[side]
                for case in CASES:
                    kept["runs"][case].extend(res["runs"][case])
                    kept["verdict_flips"] += sum(x != y for x, y in zip(kept["verdicts"][case], res["verdicts"][case]))
                    kept["warmup_timeouts"][case] += res["warmup_timeouts"][case]
    if results:
        report(results, problems, wrong, args.show)
    if args.json:
        Path(args.json).write_text(json.dumps({"problems": problems, "wrong": wrong, "results": results}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
