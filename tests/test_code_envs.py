"""The code family: HumanEval, StdioCode and CodeDebug envs, their sandboxed graders and known hacks.

Env logic runs on the local sandbox backend (fast, no engine needed). Tests marked ``docker`` repeat the
HumanEval sweep and the hack tests in the Docker backend and skip with the reason when no engine or
sandbox image is available.
"""

from __future__ import annotations

import ast
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gymnasium.utils.env_checker import check_env

from reasongym.envs.code import CodeDebugEnv, HumanEvalEnv, StdioCodeEnv
from reasongym.envs.spaces import message_text
from reasongym.runtime.sandbox import SandboxError, WeakIsolationWarning
from reasongym.tasks.base import TaskItem
from reasongym.tasks.code import (
    FunctionGrader,
    StdioGrader,
    extract_code,
    items_from_records,
    load_stdio,
    outputs_match,
    parse_record,
    resolve_sandbox,
    syntax_error,
)
from reasongym.tasks.code.execution import read_result
from reasongym.tasks.code.harness import RESULT_PREFIX
from reasongym.tasks.code.harness.values import decode, encode
from reasongym.tasks.code.humaneval import load_items, make_item
from reasongym.tasks.code.results import Verdict, failure_report

pytestmark = pytest.mark.filterwarnings(f"ignore::{WeakIsolationWarning.__module__}.WeakIsolationWarning")

DATA = Path(__file__).parent / "data" / "code"
FORMATS = {"taco": DATA / "taco.jsonl", "code_contests": DATA / "code_contests.jsonl",
           "livecodebench": DATA / "livecodebench.jsonl"}
TRUNCATE_NUMBER = 2  # HumanEval/2: three asserts, the first passes with ``return 0.5``


def _sandbox_or_skip(backend: str):
    try:
        return resolve_sandbox(backend)
    except SandboxError as exc:
        pytest.skip(f"no {backend} sandbox: {exc}")


@pytest.fixture(scope="module")
def local():
    return resolve_sandbox("local")


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def sandbox(request):
    """Each backend the hack tests run on."""
    return _sandbox_or_skip(request.param)


def humaneval_item(index: int) -> TaskItem:
    return load_items()[index]


def fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\n"


# ------------------------------------------------------------------ extraction and comparison
def test_extraction_prefers_the_last_python_block():
    response = "```python\nx = 1\n```\ntext\n```\nplain = 2\n```\n```py\ny = 3\n```\n```text\nnot code\n```"
    assert extract_code(response).code == "y = 3\n"
    assert extract_code("```\na = 1\n```\n```bash\nls\n```").code == "ls\n"
    whole = extract_code("def f():\n    return 1\n")
    assert whole.fenced is False and "return 1" in whole.code
    assert extract_code("```python\ndef f():\n    return 2").code.endswith("return 2\n")  # unclosed: to the end


@pytest.mark.parametrize("text", ["\\boxed{0}", "I am not sure.", "", "   \n", "x = (", "a = 1\x00"])
def test_non_programs_are_rejected_without_running(text):
    assert syntax_error(extract_code(text).code) is not None


def test_output_comparison_rules():
    assert outputs_match("1 2  \n3\n\n\n", "1 2\n3")
    assert outputs_match("0.3333333", "0.333333333")
    assert outputs_match("1e-7", "0")  # absolute tolerance 1e-6
    assert not outputs_match("0.3334", "0.3333333")
    assert outputs_match("007\n", "7")
    assert not outputs_match("10000000000000000001", "10000000000000000000")  # integers are exact
    assert outputs_match("9" * 5000, "9" * 5000 + "\n")
    assert not outputs_match("1 2 3", "1 2")
    assert not outputs_match("nan", "0.5") and outputs_match("YES", "YES\n")


def test_value_codec_keeps_types_and_rejects_impostors():
    value = {"a": [1, 2.5, (3, "x")], 4: {1, 2}, "b": frozenset({b"z"}), "c": 1 + 2j, "n": None, "t": True}
    assert decode(json.loads(json.dumps(encode(value)))) == value
    assert type(decode(encode((1,)))) is tuple

    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

    assert type(decode(encode(AlwaysEqual(3)))) is int and decode(encode(AlwaysEqual(3))) != 4
    with pytest.raises(TypeError):
        encode(object())
    for bad in ({"x": 1, "y": 2}, {"zz": []}, {"d": [[1]]}, [1, 2], {"l": "abc"}):
        with pytest.raises(ValueError):
            decode(bad)


# ------------------------------------------------------------------ HumanEval data and instrumentation
def test_humaneval_has_164_tasks_with_instrumented_tests():
    items = load_items()
    assert len(items) == 164
    assert sum(len(i.metadata["tests"].statements) for i in items) > 1000
    first = items[0]
    assert first.id == "HumanEval/0" and "```python" in first.prompt and "has_close_elements" in first.prompt
    assert "__rg_begin" in first.metadata["tests"].module


def test_instrumentation_keeps_setup_statements_and_function_scope():
    item = humaneval_item(38)  # setup (imports, assignments) then a loop of asserts that shadows `str`
    spec = item.metadata["tests"]
    assert len(spec.statements) == 1 and spec.statements[0].startswith("for _ in range(100)")
    tree = ast.parse(spec.module)
    check = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check")
    assert [type(s).__name__ for s in check.body] == ["ImportFrom", "Import", "Assign", "If"]


# ------------------------------------------------------------------ canonical solutions and mutants
def _grade_all(sandbox, jobs, fail_fast=True):
    grader = FunctionGrader()
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda job: grader.grade(job[0], job[1], sandbox, fail_fast=fail_fast), jobs))


def _assert_all_canonical_pass(sandbox):
    items = load_items()
    verdicts = _grade_all(sandbox, [(item, item.answer) for item in items], fail_fast=False)
    failing = {item.id: [t for t in v.tests if not t.passed][:1] or v.error
               for item, v in zip(items, verdicts) if not v.all_passed}
    assert not failing, f"{len(items) - len(failing)}/164 canonical solutions pass; failing: {failing}"


def test_all_164_canonical_solutions_pass_locally(local):
    _assert_all_canonical_pass(local)


@pytest.mark.docker
def test_all_164_canonical_solutions_pass_in_docker():
    _assert_all_canonical_pass(_sandbox_or_skip("docker"))


_FLIPPED = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def _mutate(item: TaskItem, kind: str) -> str | None:
    """``return_none``: every ``return x`` of the entry point returns None; ``flip``: its first comparison
    is negated. ``None`` when the function has nothing to mutate."""
    tree = ast.parse(item.answer)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == item.metadata["entry_point"])
    changed = False
    for node in ast.walk(function):
        if kind == "return_none" and isinstance(node, ast.Return) and node.value is not None:
            node.value, changed = ast.Constant(None), True
        elif kind == "flip" and isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIPPED:
            node.ops[0] = _FLIPPED[type(node.ops[0])]()
            changed = True
            break
    return ast.unparse(tree) if changed else None


def test_mutated_solutions_fail(local):
    items = load_items()[:60]
    jobs = [(item, kind, code) for item in items for kind in ("return_none", "flip")
            if (code := _mutate(item, kind)) is not None]
    verdicts = _grade_all(local, [(item, code) for item, _, code in jobs])
    survivors = {kind: [item.id for (item, k, _), v in zip(jobs, verdicts) if k == kind and v.all_passed]
                 for kind in ("return_none", "flip")}
    totals = {kind: sum(k == kind for _, k, _ in jobs) for kind in ("return_none", "flip")}
    assert totals["return_none"] == 60 and totals["flip"] >= 30
    assert not survivors["return_none"], survivors
    assert len(survivors["flip"]) <= 0.05 * totals["flip"], f"killed {totals} minus survivors {survivors}"


# ------------------------------------------------------------------ hacks: none may earn credit
_SIGNATURE = "def has_close_elements(numbers, threshold):\n"
_FAKE_LINE = f"{RESULT_PREFIX} {'0' * 32} " + json.dumps({"tests": [{"status": "passed", "detail": ""}] * 7})
HACKS = {
    "sys_exit_before_tests": "import sys\nsys.exit(0)\n",
    "os_exit_before_tests": "import os\nos._exit(0)\n",
    "os_exit_inside_the_call": _SIGNATURE + "    import os\n    os._exit(0)\n",
    "print_all_tests_passed": "print('All tests passed')\nprint(" + repr(_FAKE_LINE) + ")\nimport sys\n"
                              "sys.stderr.write(" + repr(_FAKE_LINE) + ")\n" + _SIGNATURE + "    return None\n",
    "redefine_check": "def check(candidate):\n    return True\n" + _SIGNATURE + "    return None\n",
    "patch_builtins": "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\n"
                      "builtins.abs = lambda x: 0\nbuiltins.__import__ = None\n" + _SIGNATURE + "    return None\n",
    "eq_always_true": "class Yes:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
                      + _SIGNATURE + "    return Yes()\n",
    "eq_always_true_subclass": "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
                               + _SIGNATURE + "    return Yes(7)\n",
    "atexit_exit_zero": "import atexit, os\natexit.register(lambda: os._exit(0))\n" + _SIGNATURE
                        + "    raise SystemExit(0)\n",
    "tamper_sys_modules": "import sys\nclass Fake:\n    def __getattr__(self, name):\n"
                          "        return lambda *a, **k: {'value': True}\n"
                          "for name in ('json', 'values', 'guard', 'builtins'):\n    sys.modules[name] = Fake()\n"
                          + _SIGNATURE + "    return None\n",
    "kill_the_supervisor": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + _SIGNATURE
                           + "    return True\n",
    "forge_through_parent_fds": "import os\nfor fd in range(64):\n    try:\n"
                                "        with open(f'/proc/{os.getppid()}/fd/{fd}', 'w') as h:\n"
                                "            h.write(" + repr(_FAKE_LINE + "\n") + ")\n"
                                "    except Exception:\n        pass\n" + _SIGNATURE + "    return True\n",
}


@pytest.mark.parametrize("hack", sorted(HACKS))
def test_hacks_earn_no_credit(hack, sandbox):
    verdict = FunctionGrader(timeout_s=2.0, time_budget_s=8.0).grade(humaneval_item(0), HACKS[hack], sandbox,
                                                                     fail_fast=False)
    assert not verdict.all_passed, verdict
    # returning True or False is as good as these hacks get: the honest constant's score
    assert verdict.passed <= 4, verdict


def test_fake_result_lines_need_the_run_token():
    payload = {"tests": [{"status": "passed"}]}
    token = secrets.token_hex(16)
    forged = f"{RESULT_PREFIX} {'f' * 32} {json.dumps(payload)}"
    assert read_result(forged + "\n", token) is None
    assert read_result(f"{RESULT_PREFIX} {token} {json.dumps(payload)}\nnoise", token) == payload
    assert read_result("All tests passed\n", token) is None


def _secret_item(secret: str) -> TaskItem:
    """A task whose only test expects a value that exists nowhere but in this test run's memory."""
    return make_item({"task_id": "Secret/0", "entry_point": "reveal", "prompt": "def reveal():\n    '''?'''\n",
                      "canonical_solution": f"    return {secret!r}\n",
                      "test": f"def check(candidate):\n    assert candidate() == {secret!r}\n"})


_SNOOP = r'''
import os, re
PATTERN = re.compile(rb"secret-[0-9a-f]{16}")
FOUND, SEEN = [], []

def look(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 22)
    except Exception as exc:
        SEEN.append(f"{path}: {type(exc).__name__}")
        return
    SEEN.append(f"{path}: read")
    FOUND.extend(m.decode() for m in PATTERN.findall(data))

parent = os.getppid()
places = [os.getcwd(), f"/proc/{parent}/cwd", os.environ.get("TMPDIR", "/tmp"), "/tmp", "/workspace", "/workspace/run"]
for place in places:
    try:
        names = os.listdir(place)
    except Exception as exc:
        SEEN.append(f"{place}: {type(exc).__name__}")
        continue
    for name in names:
        look(os.path.join(place, name))
for name in ("environ", "cmdline", "mem", "fd/0", "fd/3", "fd/4"):
    look(f"/proc/{parent}/{name}")
FOUND.extend(re.findall(r"secret-[0-9a-f]{16}", repr(dict(os.environ))))

def reveal():
    return FOUND[0] if FOUND else "nothing found: " + "; ".join(SEEN)
'''


def test_tests_and_job_cannot_be_read_by_the_candidate(sandbox):
    secret = f"secret-{secrets.token_hex(8)}"
    item = _secret_item(secret)
    honest = FunctionGrader().grade(item, item.answer, sandbox, fail_fast=False)
    assert honest.all_passed, honest
    verdict = FunctionGrader().grade(item, _SNOOP, sandbox, fail_fast=False)
    assert not verdict.all_passed and "nothing found" in verdict.tests[0].detail, verdict
    assert "job.json: read" not in verdict.tests[0].detail
    assert verdict.isolation["undumpable"] and verdict.isolation["no_capabilities"]


# ------------------------------------------------------------------ time limits and worker restarts
def test_a_slow_call_times_out_and_the_other_tests_still_run(local):
    code = ("def truncate_number(number):\n    if number > 100:\n        while True:\n            pass\n"
            "    return number % 1.0\n")
    verdict = FunctionGrader(timeout_s=1.0).grade(humaneval_item(TRUNCATE_NUMBER), code, local, fail_fast=False)
    assert [t.status for t in verdict.tests] == ["passed", "passed", "timeout"]


def test_the_time_budget_skips_the_remaining_tests(local):
    code = "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"
    verdict = FunctionGrader(timeout_s=1.0, time_budget_s=2.5).grade(humaneval_item(0), code, local, fail_fast=False)
    statuses = [t.status for t in verdict.tests]
    assert "timeout" in statuses and statuses[-1] == "skipped" and "passed" not in statuses


def test_code_that_fails_to_load_fails_every_test_with_the_reason(local):
    verdict = FunctionGrader().grade(humaneval_item(0), "import no_such_module_here\n", local, fail_fast=False)
    assert not verdict.passed and "no_such_module_here" in verdict.error
    assert {t.status for t in verdict.tests} == {"error"}


# ------------------------------------------------------------------ HumanEval env
def test_humaneval_env_oracle_and_reward_parts(local):
    env = HumanEvalEnv(sandbox=local, format_reward=0.1)
    observation, info = env.reset(seed=3)
    assert info["max_turns"] == 1 and "```python" in message_text(observation[0])
    _, reward, terminated, truncated, info = env.step(env.oracle_action())
    assert (terminated, truncated) == (True, False)
    assert info["reward_parts"] == {"outcome": 1.0, "format": 0.1} and reward == pytest.approx(1.1)
    assert info["valid_action"] and info["sandbox_status"] == "ok" and info["fenced"]
    assert info["passed_tests"] == info["total_tests"] == len(info["tests"]) > 0
    assert set(info["tests"][0]) == {"name", "passed", "status", "detail"}
    env.reset(seed=3)
    unfenced = env.item.answer  # the bare program is accepted; only the format part is withheld
    assert env.step(unfenced)[4]["reward_parts"] == {"outcome": 1.0, "format": 0.0}


class _NoRuns:
    """A sandbox double proving that nothing was executed."""

    def run(self, request):
        raise AssertionError("the sandbox must not be used for this action")

    async def arun(self, request):
        raise AssertionError("the sandbox must not be used for this action")

    def close(self):
        pass


@pytest.mark.parametrize("env_class", [HumanEvalEnv, StdioCodeEnv, CodeDebugEnv])
def test_invalid_actions_are_judged_without_a_sandbox_run(env_class):
    env = env_class(sandbox=_NoRuns())
    env.reset(seed=0)
    for action in ("\\boxed{0}", "I am not sure.", "```python\ndef broken(:\n```"):
        env.reset(seed=1)
        observation, reward, terminated, truncated, info = env.step(action)
        assert info["valid_action"] is False and info["sandbox_status"] == "not_run"
        assert info["reward_parts"]["outcome"] == 0.0 and reward == 0.0 and info["tests"] == []
        assert "no runnable program" in message_text(observation[0])


def test_reward_modes_on_a_partly_correct_program(local):
    partial = fenced("def truncate_number(number):\n    return 0.5")
    outcomes = {}
    for mode, first_n in (("all_pass", None), ("pass_rate", None), ("first_n_pass_rate", 1), ("first_n_pass_rate", 2)):
        env = HumanEvalEnv(sandbox=local, reward_mode=mode, first_n=first_n)
        env.reset(options={"index": TRUNCATE_NUMBER})
        outcomes[(mode, first_n)] = env.step(partial)[4]["reward_parts"]["outcome"]
    assert outcomes == {("all_pass", None): 0.0, ("pass_rate", None): pytest.approx(1 / 3),
                        ("first_n_pass_rate", 1): 1.0, ("first_n_pass_rate", 2): 0.5}


def test_constructor_errors_are_clear():
    with pytest.raises(ValueError, match="reward_mode"):
        HumanEvalEnv(reward_mode="nope")
    with pytest.raises(ValueError, match="first_n"):
        HumanEvalEnv(reward_mode="first_n_pass_rate")
    with pytest.raises(TypeError, match="sandbox"):
        _ = HumanEvalEnv(sandbox=42).sandbox


def test_envs_share_one_sandbox_per_backend_name():
    first, second = HumanEvalEnv(sandbox="local"), StdioCodeEnv(sandbox="local")
    assert first.sandbox is second.sandbox


@pytest.mark.parametrize("env_class", [HumanEvalEnv, StdioCodeEnv, CodeDebugEnv])
def test_gymnasium_env_checker(env_class, local):
    check_env(env_class(sandbox=local), skip_render_check=True)


def test_same_seed_same_episode_and_no_history_across_reset(local):
    env = CodeDebugEnv(sandbox=local, render_mode="ansi")
    first, info = env.reset(seed=11)
    env.step("not code")
    again, info_again = env.reset(seed=11)
    assert again == first and info_again["index"] == info["index"]
    assert "not code" not in env.render()


# ------------------------------------------------------------------ stdin/stdout problems
def test_the_three_formats_are_parsed():
    taco = load_stdio(data_files=FORMATS["taco"])
    assert [i.id for i in taco._items] == ["digit-sum", "taco-2"]  # the call-based record is skipped
    assert taco[1].metadata["tests"][0].input == "1\n"  # a list of lines becomes text
    contests = load_stdio(data_files=FORMATS["code_contests"])
    assert [t.name for t in contests[0].metadata["tests"]] == ["public_0", "private_0", "private_1", "generated_0"]
    assert contests[0].answer.startswith("n = int(input())")  # the Python 3 solution, not the C++ one
    lcb = load_stdio(data_files=FORMATS["livecodebench"])
    assert [i.id for i in lcb._items] == ["lcb-count-a", "lcb-echo"]  # the functional-only record is skipped
    assert [t.name for t in lcb[0].metadata["tests"]] == ["public_0", "private_0", "private_1"]  # compressed
    assert lcb[0].prompt.startswith("Count the a") and "standard input" in lcb[0].prompt
    capped = load_stdio(data_files=FORMATS["code_contests"], max_tests=2)
    assert [len(i.metadata["tests"]) for i in capped._items] == [2, 2]


def test_unknown_records_and_pickled_code_are_refused():
    with pytest.raises(ValueError, match="unrecognised"):
        parse_record({"prompt": "x"}, 0)
    import base64
    import pickle
    import zlib

    evil = base64.b64encode(zlib.compress(pickle.dumps(print))).decode()
    with pytest.raises(pickle.UnpicklingError):
        items_from_records([{"question_content": "q", "public_test_cases": "[]", "private_test_cases": evil}], "t")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_reference_solutions_pass_in_every_format(fmt, local):
    env = StdioCodeEnv(data_files=FORMATS[fmt], sandbox=local)
    for index in range(len(env.source)):
        env.reset(options={"index": index})
        _, reward, terminated, _, info = env.step(env.oracle_action())
        assert reward == 1.0 and terminated, info["tests"]


def test_embedded_demo_problems_are_solvable(local):
    env = StdioCodeEnv(sandbox=local)
    assert len(env.source) >= 5
    for index in range(len(env.source)):
        env.reset(options={"index": index})
        assert env.step(env.oracle_action())[4]["reward_parts"]["outcome"] == 1.0, env.item.id


def _demo(name: str) -> TaskItem:
    return next(item for item in load_stdio()._items if item.id == name)


def test_float_outputs_are_compared_with_tolerance(local):
    item = _demo("demo-mean-spread")
    template = ("import math\nn = int(input())\nxs = [float(x) for x in input().split()]\nm = sum(xs) / n\n"
                "print(f'{m:.DIGITSf} {math.sqrt(sum((x - m) ** 2 for x in xs) / n):.DIGITSf}')\n")
    grader = StdioGrader()
    assert grader.grade(item, template.replace("DIGITS", "7"), local, fail_fast=False).all_passed
    coarse = grader.grade(item, template.replace("DIGITS", "2"), local, fail_fast=False)
    assert not coarse.all_passed and "expected" in next(t for t in coarse.tests if not t.passed).detail


def test_stdio_failure_statuses(local):
    item = _demo("demo-longest-run")
    grader = StdioGrader(timeout_s=1.0)
    wrong = grader.grade(item, "print(1)\n", local, fail_fast=False)
    assert [t.status for t in wrong.tests] == ["failed", "passed", "passed", "failed"]
    crash = grader.grade(item, "raise ValueError('boom')\n", local, fail_fast=False)
    assert {t.status for t in crash.tests} == {"error"} and "boom" in crash.tests[0].detail
    hang = grader.grade(item, "while True:\n    pass\n", local, fail_fast=True)
    assert [t.status for t in hang.tests] == ["timeout", "skipped", "skipped", "skipped"]
    flood = grader.grade(item, "while True:\n    print('x' * 1000)\n", local, fail_fast=False)
    assert {t.status for t in flood.tests} == {"output_limit"}


def test_stdio_forged_result_lines_earn_nothing(sandbox):
    item = _demo("demo-pair-sums")
    forged = json.dumps({"tests": [{"status": "ok", "stdout": "3\n0\n123\n"}] * 3})
    code = (f"import os, sys\nline = {RESULT_PREFIX!r} + ' ' + '0' * 32 + ' ' + {forged!r} + '\\n'\n"
            "print(line)\nsys.stderr.write(line)\n"
            "for fd in range(64):\n    try:\n"
            "        with open(f'/proc/{os.getppid()}/fd/{fd}', 'w') as h:\n            h.write(line)\n"
            "    except Exception:\n        pass\n")
    verdict = StdioGrader().grade(item, code, sandbox, fail_fast=False)
    assert not verdict.passed, verdict


# ------------------------------------------------------------------ CodeDebug: multi-turn
def test_code_debug_reports_failures_and_pays_newly_passing_tests(local):
    env = CodeDebugEnv(sandbox=local)
    observation, info = env.reset(options={"index": TRUNCATE_NUMBER})
    assert info["max_turns"] == 3 and "3 submissions" in message_text(observation[0])

    feedback, reward, terminated, truncated, info = env.step(fenced("def truncate_number(number):\n    return 0.5"))
    assert (terminated, truncated) == (False, False)
    assert info["reward_parts"] == {"outcome": 0.0, "step": pytest.approx(1 / 3)}
    text = message_text(feedback[0])
    assert "1 of 3 tests passed" in text and "test_1 [failed]" in text and "returned 0.5" in text
    assert "2 attempts left" in text

    feedback, reward, terminated, _, info = env.step("no code this time")
    assert info["valid_action"] is False and info["reward_parts"] == {"outcome": 0.0, "step": 0.0}
    assert "no runnable program" in message_text(feedback[0]) and not terminated

    feedback, reward, terminated, truncated, info = env.step(env.oracle_action())
    assert (terminated, truncated) == (True, False)
    assert info["reward_parts"] == {"outcome": 1.0, "step": pytest.approx(2 / 3)}  # only the two new tests


def test_code_debug_final_submission_sets_the_outcome(local):
    env = CodeDebugEnv(sandbox=local, max_attempts=2, reward_mode="pass_rate")
    env.reset(options={"index": TRUNCATE_NUMBER})
    partial = fenced("def truncate_number(number):\n    return 0.5")
    assert env.step(partial)[4]["reward_parts"] == {"outcome": 0.0, "step": pytest.approx(1 / 3)}
    feedback, _, terminated, truncated, info = env.step(partial)
    assert (terminated, truncated) == (True, False)
    assert info["reward_parts"] == {"outcome": pytest.approx(1 / 3), "step": 0.0}  # nothing new passed
    assert "No attempts left" in message_text(feedback[0])


def test_code_debug_on_stdio_problems(local):
    env = CodeDebugEnv(data_files=FORMATS["code_contests"], sandbox=local)
    env.reset(options={"index": 0})
    feedback, _, terminated, _, info = env.step(fenced("print('EVEN')"))
    assert not terminated and info["passed_tests"] == 2 and info["reward_parts"]["step"] == pytest.approx(0.5)
    assert "private_0 [failed]" in message_text(feedback[0]) and "expected: 'ODD'" in message_text(feedback[0])
    assert env.step(env.oracle_action())[4]["reward_parts"] == {"outcome": 1.0, "step": pytest.approx(0.5)}


def test_failure_report_is_bounded():
    from reasongym.tasks.code.results import TestResult

    verdict = Verdict(tuple(TestResult(f"t{i}", False, "failed", "x" * 1000) for i in range(50)), "ok")
    report = failure_report(verdict)
    assert len(report) <= 3010 and "45 more failing tests" in report
