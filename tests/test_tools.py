"""The tools family: call parsing, real tools, user tools, ToolRL reward, BFCL AST checker, tool envs.

BFCL tests read the v4 files beside the checkout (``../shared/data/bfcl``) and skip with the reason when
that folder is absent. Python-tool tests use the local sandbox backend (fast, no engine); one test
repeats a run through ``make_sandbox("auto")``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal, Optional

import pytest

from reasongym.envs.spaces import message_text
from reasongym.envs.tools import BFCLEnv, ToolEnv, ToolPythonEnv, ToolSearchCalcEnv
from reasongym.runtime.sandbox import EngineUnavailable, Limits, WeakIsolationWarning
from reasongym.tasks.base import ListSource, TaskItem
from reasongym.tasks.code import resolve_sandbox
from reasongym.tasks.loading import DataUnavailableError
from reasongym.tasks.tools import (
    BM25,
    CALCULATOR,
    DocumentSearch,
    PythonRunner,
    Tool,
    Toolbox,
    ToolCall,
    ToolError,
    ToolUnavailable,
    Workspace,
    canonical_calls,
    check_call,
    check_calls,
    correctness,
    evaluate,
    format_ok,
    load_bfcl,
    normalize_path,
    parse_tool_calls,
    tool,
    toolrl_parts,
)
from reasongym.tasks.tools.answers import final_answer, same_answer
from reasongym.tasks.tools.ast_checker import PYTHON_TYPES, standardize
from reasongym.tasks.tools.bfcl import to_json_schema
from reasongym.tasks.tools.calls import MAX_CALL_CHARS, MAX_CALLS
from reasongym.tasks.tools.toolrl import name_score

pytestmark = pytest.mark.filterwarnings(f"ignore::{WeakIsolationWarning.__module__}.WeakIsolationWarning")

REPO = Path(__file__).resolve().parents[1]
BFCL = REPO.parent / "shared" / "data" / "bfcl"
CALL_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple")


def bfcl_dir() -> Path:
    if not BFCL.is_dir():
        pytest.skip(f"BFCL v4 files not found at {BFCL} (the shared data folder beside the checkout)")
    return BFCL


@pytest.fixture(scope="module")
def local_sandbox():
    return resolve_sandbox("local")


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name, arguments)


# --------------------------------------------------------------------------------------------- parsing
def test_parse_one_valid_call_and_render_round_trip():
    parsed = parse_tool_calls('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2.5}}\n</tool_call>')
    assert parsed.ok and parsed.blocks == 1
    assert parsed.calls == (call("add", a=1, b=2.5),)
    assert parse_tool_calls(parsed.calls[0].render()).calls == parsed.calls


def test_parse_several_calls_with_text_around_them():
    x, y = (ToolCall("search", {"query": q}).render() for q in "xy")
    action = f"Let me look both up.\n{x} and {y}\nDone <answer>3</answer>"
    parsed = parse_tool_calls(action)
    assert [c.arguments["query"] for c in parsed.calls] == ["x", "y"]
    assert parsed.text == "Let me look both up.\n and \nDone <answer>3</answer>"


def test_parse_malformed_json_is_a_readable_error_not_an_exception():
    parsed = parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 1,}}</tool_call>')
    assert not parsed.ok and parsed.calls == () and parsed.blocks == 1
    message = str(parsed.errors[0])
    assert message.startswith("tool call 1: invalid JSON") and "line 1, column" in message and '"name"' in message


@pytest.mark.parametrize("body, fragment", [
    ("", "empty block"),
    ('["not", "a", "call"]', "expected a JSON object"),
    ('{"arguments": {}}', 'no "name"'),
    ('{"name": "f", "arguments": [1, 2]}', "must be a JSON object"),
    ('{"name": "f", "arguments": "{not json"}', "not a JSON object"),
    ("[" * 100_000 + "]" * 100_000, "limit"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ('{"name": "f", "arguments": {"n": ' + "9" * 5000 + "}}", "unreadable JSON value"),
])
def test_parse_malformed_shapes(body, fragment):
    parsed = parse_tool_calls(f"<tool_call>{body}</tool_call>")
    assert not parsed.ok and not parsed.calls
    assert fragment in parsed.errors[0].message


def test_parse_unclosed_and_reopened_blocks():
    parsed = parse_tool_calls('<tool_call>{"name": "a"}\n<tool_call>{"name": "b"}</tool_call> <tool_call>{"name": "c"}')
    assert [c.name for c in parsed.calls] == ["b"]
    assert [e.block for e in parsed.errors] == [1, 3]
    assert all("never closed" in e.message for e in parsed.errors)


def test_parse_accepts_the_common_variants():
    variants = (
        '<tool_call>{"name": "f", "parameters": {"x": 1}}</tool_call>',  # ToolRL's key
        '<tool_call>{"name": "f", "arguments": "{\\"x\\": 1}"}</tool_call>',  # OpenAI-style string
        '<tool_call>\n```json\n{"name": "f", "arguments": {"x": 1}}\n```\n</tool_call>',  # fenced
    )
    for action in variants:
        assert parse_tool_calls(action).calls == (call("f", x=1),), action
    jsonl = parse_tool_calls('<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n{"name": "g"}\n</tool_call>')
    assert jsonl.calls == (call("f", x=1), call("g"))
    as_list = parse_tool_calls('<tool_call>[{"name": "f", "arguments": {"x": 1}}, {"name": "g"}]</tool_call>')
    assert as_list.calls == jsonl.calls


def test_parse_unicode():
    arguments = {"ville": "Zürich", "texte": "日本語 ✓ — 🚀", "emoji_key_😀": "\u00e9"}
    action = "Voilà : " + ToolCall("météo.obtenir", arguments).render()
    parsed = parse_tool_calls(action)
    assert parsed.calls == (ToolCall("météo.obtenir", arguments),)
    escaped = parse_tool_calls('<tool_call>{"name": "f", "arguments": {"s": "\\u65e5\\ud83d\\ude80"}}</tool_call>')
    assert escaped.calls[0].arguments["s"] == "日🚀"


def test_parse_huge_arguments_are_bounded_in_time_and_size():
    big = ToolCall("write", {"content": "x" * (MAX_CALL_CHARS + 10)}).render()
    started = time.perf_counter()
    parsed = parse_tool_calls(big)
    assert not parsed.calls and "limit" in parsed.errors[0].message
    # just under the cap: decoded normally
    fits = ToolCall("write", {"content": "y" * (MAX_CALL_CHARS - 100)}).render()
    assert parse_tool_calls(fits).calls[0].arguments["content"] == "y" * (MAX_CALL_CHARS - 100)
    # ten megabytes of small calls: only MAX_CALLS are read, the rest is one error
    many = ToolCall("f", {"i": 1}).render() * 200_000
    parsed = parse_tool_calls(many)
    assert len(parsed.calls) == MAX_CALLS and len(parsed.errors) == 1 and "more than" in parsed.errors[0].message
    # ten megabytes of opening tags without a close: one linear scan
    parse_tool_calls("<tool_call>" * 1_000_000)
    assert time.perf_counter() - started < 5.0


# --------------------------------------------------------------------------------------------- user tools
def test_tool_decorator_builds_the_schema_from_hints_and_docstring():
    @tool
    def book_flight(origin: str, destination: str, passengers: int, seats: list[int], budget: float = 500.0,
                    cabin: Literal["economy", "business"] = "economy", flexible: bool = False,
                    note: Optional[str] = None, extras: dict[str, int] | None = None) -> str:
        """Book a flight between two airports.

        Longer explanation that is not part of the summary.

        Args:
            origin: IATA code of the departure airport.
            destination: IATA code of the arrival
                airport (continued line).
            passengers: how many people travel.
            seats: seat numbers.
            budget: the most to spend, in euros.
            cabin: the cabin class.
            flexible: whether the dates may move.
            note: free text for the agent.
            extras: extra luggage per passenger name.

        Returns:
            A booking reference.
        """
        return f"{origin}-{destination}-{passengers}"

    assert isinstance(book_flight, Tool) and book_flight.name == "book_flight"
    assert book_flight.description == "Book a flight between two airports."
    params = book_flight.parameters
    assert params["required"] == ["origin", "destination", "passengers", "seats"]
    assert params["additionalProperties"] is False
    props = params["properties"]
    assert props["origin"] == {"type": "string", "description": "IATA code of the departure airport."}
    assert props["destination"]["description"] == "IATA code of the arrival airport (continued line)."
    assert props["passengers"]["type"] == "integer" and props["budget"] == {
        "type": "number", "description": "the most to spend, in euros.", "default": 500.0}
    assert props["seats"]["type"] == "array" and props["seats"]["items"] == {"type": "integer"}
    assert props["cabin"]["enum"] == ["economy", "business"] and props["cabin"]["type"] == "string"
    assert props["flexible"]["type"] == "boolean"
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["extras"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert book_flight(origin="CDG", destination="NRT", passengers=2, seats=[1]) == "CDG-NRT-2"
    spec = book_flight.spec()
    assert spec["type"] == "function" and spec["function"]["name"] == "book_flight"


def test_from_function_rest_docstring_and_overrides():
    def area(width: float, height: float) -> float:
        """Area of a rectangle.

        :param width: the width in metres.
        :param height: the height in metres.
        :returns: square metres.
        """
        return width * height

    made = Tool.from_function(area, name="rect_area", description="Rectangle area.")
    assert made.name == "rect_area" and made.description == "Rectangle area."
    assert tool(name="rect")(area).name == "rect" and tool(area).description == "Area of a rectangle."
    assert made.parameters["properties"]["width"] == {"type": "number", "description": "the width in metres."}
    with pytest.raises(TypeError, match="no JSON schema"):
        Tool.from_function(_takes_object)
    with pytest.raises(ValueError, match="invalid tool name"):
        Tool.from_function(area, name="has space")


def _takes_object(thing: object) -> None:
    """Take anything."""


def test_toolbox_validates_before_calling_and_reports_failures():
    calls_made = []

    def scale(value: int, factor: float = 2.0) -> float:
        """Scale a value."""
        calls_made.append(value)
        return value * factor

    def broken(text: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    def refuse(text: str) -> str:
        """Fails in an expected way."""
        raise ToolError(f"cannot handle {text!r}")

    box = Toolbox([scale, broken, refuse, CALCULATOR], max_result_chars=50)
    assert box.run(call("scale", value=3)).content == "6.0"
    bad = [box.run(call("scale")), box.run(call("scale", value="3")), box.run(call("scale", value=True)),
           box.run(call("scale", value=3, power=2)), box.run(call("nope"))]
    assert [r.ok for r in bad] == [False] * 5
    assert "missing the required 'value'" in bad[0].content
    assert "must be of type integer, got string" in bad[1].content
    assert "must be of type integer, got boolean" in bad[2].content
    assert "unknown argument 'power'" in bad[3].content
    assert "no tool named 'nope'" in bad[4].content and "calculator" in bad[4].content
    assert calls_made == [3]  # invalid calls never reached the function
    assert box.run(call("broken", text="x")).content == "Error: broken raised RuntimeError: disk on fire"
    assert box.run(call("refuse", text="x")).content == "Error: cannot handle 'x'"
    long = box.run(call("calculator", expression="10**60"))
    assert long.ok and long.content.startswith("1" + "0" * 49 + "\n... [11 more characters not shown]")
    with pytest.raises(ValueError, match="two tools"):
        Toolbox([scale, scale])


def test_user_tools_in_a_multi_step_env():
    inventory = {"apples": 12, "pears": 7}

    @tool
    def stock(item: str) -> int:
        """How many units of an item are in stock.

        Args:
            item: the item name, e.g. "apples".
        """
        if item not in inventory:
            raise ToolError(f"unknown item {item!r}")
        return inventory[item]

    plan = [{"milestones": ["apples"], "calls": [{"name": "stock", "arguments": {"item": "apples"}}]},
            {"milestones": ["pears"], "calls": [{"name": "stock", "arguments": {"item": "pears"}}]}]
    item = TaskItem("shop-0", "How many apples and pears are in stock together?", "19",
                    metadata={"milestones": {"apples": {"tool": "stock", "text": "12"},
                                             "pears": {"tool": "stock", "text": "7"}}, "plan": plan})
    env = ToolEnv(ListSource([item], "test"), [stock, CALCULATOR], max_turns=5)
    observation, _ = env.reset(seed=0)
    assert '"name": "stock"' in message_text(observation[0]) and "e.g. \\\"apples\\\"" in message_text(observation[0])
    rewards = []
    while True:
        observation, reward, terminated, truncated, info = env.step(env.oracle_action())
        rewards.append(info["reward_parts"])
        if terminated or truncated:
            break
    assert terminated and rewards[-1]["outcome"] == 1.0
    assert sum(r["step"] for r in rewards) == pytest.approx(env.step_weight)
    assert [message_text(m) for m in env._transcript if m["role"] == "tool"] == ["12", "7"]


# --------------------------------------------------------------------------------------------- calculator
@pytest.mark.parametrize("expression, value", [
    ("48213 + 10922", "59135"), ("2**100", str(2**100)), ("7 / 2", "3.5"), ("8 / 2", "4"), ("7 // 2", "3"),
    ("-(3 - 10) % 4", "3"), ("sqrt(16) + abs(-2)", "6"), ("round(2 / 3, 3)", "0.667"), ("max(3, 9, 4)", "9"),
    ("pi * 2", "6.28318530718"), ("1e3 + 1", "1001"), ("0.1 + 0.2", "0.3"),
])
def test_calculator_values(expression, value):
    assert CALCULATOR(expression=expression) == value


@pytest.mark.parametrize("expression, fragment", [
    ("__import__('os').system('true')", "only these functions"),
    ("(1).__class__", "Attribute is not allowed"),
    ("open('x')", "only these functions"),
    ("x + 1", "unknown name 'x'"),
    ("[1, 2]", "List is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("9**9**9", "exponent is too large"),
    ("2**2000", "more than 1000 bits"),
    ("10.0 ** 400", "math error"),
    ("2 ^ 3", "'**'"),
    ("48,213 + 1", "commas"),
    ("1 / 0", "division by zero"),
    ("sqrt(-1)", "math error"),
    ("1 +", "not a valid expression"),
    ("1" * 600, "longer than"),
    ("+".join(["1"] * 150), "more than 200 parts"),
    ("True + 1", "not allowed"),
    ("(-8) ** 0.5", "real number"),
])
def test_calculator_refuses_everything_else_quickly(expression, fragment):
    started = time.perf_counter()
    with pytest.raises(ToolError) as raised:
        evaluate(expression)
    assert fragment in str(raised.value)
    assert time.perf_counter() - started < 1.0


# --------------------------------------------------------------------------------------------- workspace
def test_workspace_read_write_list_and_reset():
    space = Workspace(max_files=3, max_file_chars=10)
    space.reset({"data/in.txt": "hello"})
    assert space.read_file("./data//in.txt") == "hello"
    assert space.write_file("out.txt", "42") == "Wrote 2 characters to out.txt."
    assert space.list_files() == "data/in.txt (5 characters)\nout.txt (2 characters)"
    with pytest.raises(ToolError, match="exceeds the limit"):
        space.write_file("big.txt", "x" * 11)
    space.write_file("third.txt", "")
    with pytest.raises(ToolError, match="already holds 3 files"):
        space.write_file("fourth.txt", "")
    with pytest.raises(ToolError, match="no file 'missing.txt'"):
        space.read_file("missing.txt")
    space.reset()
    assert space.snapshot() == {} and space.list_files() == "The workspace is empty."


@pytest.mark.parametrize("path", ["../secret", "a/../../etc/passwd", "/etc/passwd", "..", "a/..", "C:/Windows",
                                  "dir\\file", "nul\0byte", "", ".", "x" * 201, "line\nbreak"])
def test_workspace_refuses_paths_that_could_leave_it(path):
    with pytest.raises(ToolError):
        normalize_path(path)


def test_workspace_tools_are_bound_to_the_episode_files():
    space = Workspace()
    box = Toolbox(space.tools())
    space.reset({"a.txt": "A"})
    assert box.run(call("write_file", path="b.txt", content="B")).ok
    assert box.run(call("read_file", path="b.txt")).content == "B"
    assert "leaves the workspace" in box.run(call("read_file", path="../a.txt")).content
    space.reset({"a.txt": "A"})
    assert not box.run(call("read_file", path="b.txt")).ok  # nothing survives a reset


# --------------------------------------------------------------------------------------------- search
def test_bm25_scores_match_the_formula_and_rank_sensibly():
    docs = ["the population of Arvelo is 4000", "Arvelo covers 12 square kilometres", "roads and rivers"]
    index = BM25(docs, k1=1.5, b=0.75)
    # hand computation for doc 0 and the query "Arvelo population"
    n, avg = 3, (6 + 5 + 3) / 3
    idf_arvelo, idf_population = [__import__("math").log(1 + (n - df + 0.5) / (df + 0.5)) for df in (2, 1)]
    tf_part = 1 * 2.5 / (1 + 1.5 * (1 - 0.75 + 0.75 * 6 / avg))
    assert index.scores("Arvelo population")[0] == pytest.approx((idf_arvelo + idf_population) * tf_part)
    assert [i for i, _ in index.top("population of arvelo", 3)] == [0, 1]
    assert index.top("unrelated words", 3) == []


def test_search_tool_returns_documents_and_handles_bad_queries():
    search = DocumentSearch(top_k=2)
    search.reset([{"id": "d1", "text": "Kelby has a population of 5123."},
                  {"id": "d2", "text": "Kelby covers 40 square kilometres."},
                  {"id": "d3", "text": "Ostford has a population of 777."}])
    assert search.search("population of Kelby").splitlines() == [
        "[d1] Kelby has a population of 5123.", "[d3] Ostford has a population of 777."]
    assert search.search("Kelby")[:4] == "[d2]"  # shorter document first at equal term frequency
    assert search.search("zebra") == "No document matches the query."
    with pytest.raises(ToolError, match="empty"):
        search.search("  ")
    search.reset([{"id": "e1", "text": "Zebra crossing"}])
    assert search.search("zebra") == "[e1] Zebra crossing"  # the index follows the corpus


# --------------------------------------------------------------------------------------------- python tool
def test_python_tool_runs_in_the_sandbox_with_workspace_files(local_sandbox):
    space = Workspace()
    space.reset({"data/numbers.txt": "1\n2\n3\n"})
    runner = PythonRunner(local_sandbox, workspace=space, limits=Limits(timeout_s=5, memory_mb=256))
    box = Toolbox([*runner.tools(), *space.tools()])
    result = box.run(call("python", code="print(sum(int(x) for x in open('data/numbers.txt')))"))
    assert result.ok and result.content == "6"
    written = box.run(call("python", code="open('made.txt', 'w').write('x')\nprint('ok')"))
    assert written.ok and "made.txt" not in space.snapshot()  # the run's files are discarded
    failed = box.run(call("python", code="raise ValueError('boom')"))
    assert not failed.ok and "status error" in failed.content and "ValueError: boom" in failed.content
    quiet = box.run(call("python", code="x = 1"))
    assert quiet.content == "(the program printed nothing)"


def test_python_tool_time_limit(local_sandbox):
    runner = PythonRunner(local_sandbox, limits=Limits(timeout_s=1, memory_mb=256))
    result = Toolbox(runner.tools()).run(call("python", code="while True: pass"))
    assert not result.ok and "timeout" in result.content


def test_python_tool_infrastructure_failure_propagates():
    class DownSandbox:
        def run(self, request):
            raise EngineUnavailable("no engine")

        async def arun(self, request):
            raise EngineUnavailable("no engine")

        def close(self):
            pass

    with pytest.raises(ToolUnavailable, match="no engine"):
        Toolbox(PythonRunner(DownSandbox()).tools()).run(call("python", code="print(1)"))


def test_python_tool_through_the_auto_sandbox():
    runner = PythonRunner("auto")
    result = Toolbox(runner.tools()).run(call("python", code="import sys; print(sys.version_info[0] * 14)"))
    assert result.ok and result.content == "42", result.content


# --------------------------------------------------------------------------------------------- ToolRL reward
GOLD = [call("f", a=1, b=2)]


@pytest.mark.parametrize("predicted, expected", [
    ([call("f", a=1, b=2)], 3.0),  # (1 + 1 + 2) / 4 -> 3
    ([call("f", a=1, b=3)], 1.5),  # (1 + 1 + 1) / 4 * 6 - 3
    ([call("f", a=1)], 0.75),  # (1 + 1/2 + 1) / 4 * 6 - 3
    ([call("f", a=1, b=2, c=0)], 2.5),  # (1 + 2/3 + 2) / 4 * 6 - 3
    ([call("g", a=1, b=2)], -3.0),  # wrong name: nothing matches
    ([], -3.0),
    ([call("f", a=1, b=2), call("f", a=1, b=2)], 2.25),  # names {f} vs {f, f}: 1/2; one pair: (0.5 + 1 + 2) / 4
])
def test_toolrl_correctness_single_gold_call(predicted, expected):
    assert correctness(predicted, GOLD) == pytest.approx(expected)


def test_toolrl_correctness_several_calls_is_order_free_and_optimal():
    gold = [call("f", x=1), call("f", x=2), call("g", y="a")]  # S_max = 1 + 2 + 2 + 2 = 7
    assert correctness([call("g", y="a"), call("f", x=2), call("f", x=1)], gold) == pytest.approx(3.0)
    # one f missing: names |{f,g}| / |{f,f,g}| = 2/3; pairs g (2) and best f (2) -> 6 * (2/3 + 4) / 7 - 3
    assert correctness([call("f", x=2), call("g", y="a")], gold) == pytest.approx(6 * (2 / 3 + 4) / 7 - 3)
    # greedy pairing would give gold f(x=1) the first candidate; the optimal pairing swaps them
    gold2 = [call("h", p=1, q=1), call("h", p=1, q=2)]  # S_max = 1 + 3 + 3 = 7
    predicted = [call("h", p=1, q=2), call("h", p=2, q=1)]
    assert correctness(predicted, gold2) == pytest.approx(6 * (1 + (1 + 1) + (1 + 2)) / 7 - 3)
    assert name_score(["f", "f", "g"], ["f"]) == pytest.approx(1 / 3)


def test_toolrl_no_gold_call_and_custom_value_match():
    assert correctness([], []) == 3.0
    assert correctness([call("f")], []) == -3.0
    lenient = correctness([call("f", a="ONE", b=2)], [call("f", a="one", b=2)],
                          lambda j, key, value: str(value).lower() == str([{"a": "one", "b": 2}][j][key]).lower())
    assert lenient == 3.0


@pytest.mark.parametrize("action, expect_calls, ok", [
    ('<think>t</think>\n<tool_call>{"name": "f", "arguments": {}}</tool_call>', True, True),
    ('<tool_call>{"name": "f"}</tool_call>\n<tool_call>{"name": "g"}</tool_call>', True, True),
    ('<think>t</think><tool_call>{"name": "f"}</tool_call><response>done</response>', True, True),
    ('Sure! <tool_call>{"name": "f"}</tool_call>', True, False),  # text outside the template
    ('<tool_call>{"name": "f"}</tool_call> trailing', True, False),
    ("<response>I cannot help with that.</response>", True, False),  # calls were required
    ("<think>none fits</think>\n<response>I cannot help.</response>", False, True),
    ('<response>x</response><tool_call>{"name": "f"}</tool_call>', False, False),
    ('<tool_call>{"name": "f",}</tool_call>', True, False),  # malformed call
    ("<think>unclosed <tool_call>{\"name\": \"f\"}</tool_call>", True, False),
])
def test_toolrl_format(action, expect_calls, ok):
    assert format_ok(action, parse_tool_calls(action), expect_calls=expect_calls) is ok


def test_toolrl_parts_malformed_call_gets_the_floor():
    action = '<tool_call>{"name": "f", "arguments": {"a": 1, "b": 2}}</tool_call><tool_call>{oops}</tool_call>'
    assert toolrl_parts(action, parse_tool_calls(action), GOLD) == {"format": 0.0, "correctness": -3.0}


# --------------------------------------------------------------------------------------------- AST checker
def test_standardize_and_type_mapping():
    assert standardize("New York, NY") == standardize("new-york ny") == "newyorkny"
    assert standardize("it's") == 'it"s'
    assert PYTHON_TYPES["tuple"] is list and PYTHON_TYPES["float"] is float


FUNCTIONS = [{"name": "weather", "parameters": {"type": "dict", "required": ["city", "days"], "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}, "scale": {"type": "float"},
    "unit": {"type": "string"}, "detailed": {"type": "boolean"},
    "coords": {"type": "tuple", "items": {"type": "float"}}, "filters": {"type": "dict"}}}}]
EXPECTED = {"weather": {"city": ["San Francisco, CA", "SF"], "days": [3], "scale": [1.0, ""], "unit": ["", "celsius"],
                        "detailed": [False, ""], "coords": [[37.77, -122.42], ""],
                        "filters": [{"rain": [True], "wind": ["", "low"]}, ""]}}


@pytest.mark.parametrize("arguments, error_type", [
    ({"city": "san francisco ca", "days": 3}, ""),
    ({"city": "SF", "days": 3, "scale": 1, "unit": "Celsius", "coords": [37.77, -122.42]}, ""),
    ({"city": "SF", "days": 3, "filters": {"rain": True}}, ""),
    ({"city": "SF", "days": 3, "filters": {"rain": True, "wind": "LOW"}}, ""),
    ({"city": "SF", "days": 3.0}, "type_error:simple"),
    ({"city": "SF", "days": True}, "type_error:simple"),
    ({"city": "SF", "days": "3"}, "type_error:simple"),
    ({"city": "SF", "days": 3, "detailed": 0}, "type_error:simple"),
    ({"city": "SF", "days": 3, "coords": [37.77, "x"]}, "type_error:nested"),
    ({"city": "SF", "days": 3, "coords": [-122.42, 37.77]}, "value_error"),
    ({"city": "LA", "days": 3}, "value_error"),
    ({"city": "SF", "days": 4}, "value_error"),
    ({"city": "SF", "days": 3, "filters": {"wind": "low"}}, "value_error"),
    ({"city": "SF", "days": 3, "filters": {"rain": True, "hail": 1}}, "value_error"),
    ({"city": "SF"}, "missing_required"),
    ({"city": "SF", "days": 3, "hourly": True}, "unexpected_param"),
])
def test_check_call_rules(arguments, error_type):
    verdict = check_call(ToolCall("weather", arguments), FUNCTIONS, EXPECTED)
    assert verdict.valid is (error_type == "") and verdict.error_type == error_type, verdict


def test_check_call_optional_without_empty_marker_is_required_and_variables_pass():
    functions = [{"name": "f", "parameters": {"type": "dict", "required": [], "properties": {
        "n": {"type": "integer"}, "m": {"type": "integer"}}}}]
    assert check_call(call("f", n=1), functions, {"f": {"n": [1], "m": [2]}}).error_type == "missing_optional"
    # BFCL's "variable" case: the accepted value is a name, not an integer
    assert check_call(call("f", n="count", m=2), functions, {"f": {"n": ["count"], "m": [2]}}).valid
    assert check_call(call("g", n=1, m=2), functions, {"f": {"n": [1], "m": [2]}}).error_type == "wrong_func_name"


def test_check_calls_counts_and_irrelevance():
    functions = FUNCTIONS
    gold = [EXPECTED, {"weather": {**EXPECTED["weather"], "city": ["Paris"]}}]
    sf, paris = call("weather", city="SF", days=3), call("weather", city="Paris", days=3)
    assert check_calls([paris, sf], functions, gold).valid
    assert check_calls([sf, sf], functions, gold).error_type == "value_error"
    assert check_calls([sf], functions, gold).error_type == "wrong_count"
    assert check_calls([], functions, []).valid
    assert check_calls([sf], functions, []).error_type == "irrelevance"


def _bfcl_items(category: str):
    source = load_bfcl(category, data_files=bfcl_dir(), hub=None)
    return [source[i] for i in range(len(source))]


@pytest.mark.parametrize("category", CALL_CATEGORIES)
def test_ast_checker_accepts_every_ground_truth_call(category):
    items = _bfcl_items(category)
    accepted = 0
    for item in items:
        functions = item.metadata["functions"]
        calls = canonical_calls(item.answer, functions)
        verdict = check_calls(calls, functions, item.answer)
        assert verdict.valid, (item.id, calls, verdict)
        accepted += 1
        if len(calls) > 1:  # parallel: any order
            assert check_calls(calls[::-1], functions, item.answer).valid, item.id
    expected_counts = {"simple": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200}
    assert accepted == len(items) == expected_counts[category]
    print(f"\nAST checker accepted {accepted}/{len(items)} ground-truth calls in BFCL {category}")


def _wrong_type_value(spec: dict[str, Any], accepted: list[Any]) -> Any | None:
    """A value whose Python type is neither the schema's nor the accepted answers'."""
    if spec.get("type") not in PYTHON_TYPES:
        return None
    banned = {PYTHON_TYPES.get(spec.get("type"))} | {type(a) for a in accepted if a != ""}
    if spec.get("type") == "float":
        banned.add(int)
    for candidate in ({"unexpected": 1}, "certainly wrong", 123456789, [1, 2, 3], True):
        if type(candidate) not in banned:
            return candidate
    return None


def _wrong_value(value: Any) -> Any | None:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 987654
    if isinstance(value, str):
        return value + " zzqx unlikely"
    if isinstance(value, list) and value:
        return value + value[:1]
    return None


@pytest.mark.parametrize("category", CALL_CATEGORIES)
def test_ast_checker_rejects_perturbed_calls(category):
    counts = {"name": 0, "required": 0, "value": 0, "type": 0, "unknown": 0, "count": 0}
    rng = random.Random(0)
    for item in _bfcl_items(category):
        functions = item.metadata["functions"]
        gold = canonical_calls(item.answer, functions)
        k = rng.randrange(len(gold))
        target = gold[k]
        spec = next(f for f in functions if f["name"] == target.name)["parameters"]
        possible = next(iter(item.answer[k].values()))

        def rejected(changed: ToolCall, error_type: str, item=item, gold=gold, k=k) -> None:
            calls = [*gold[:k], changed, *gold[k + 1:]]
            verdict = check_calls(calls, item.metadata["functions"], item.answer)
            assert not verdict.valid and verdict.error_type.startswith(error_type), (item.id, changed, verdict)

        rejected(ToolCall(target.name + "_v2", target.arguments), "wrong_func_name")
        counts["name"] += 1
        rejected(ToolCall(target.name, {**target.arguments, "zz_unknown_param": 1}), "unexpected_param")
        counts["unknown"] += 1
        required = [p for p in spec.get("required", []) if p in target.arguments]
        if required:
            rejected(ToolCall(target.name, {p: v for p, v in target.arguments.items() if p != required[0]}),
                     "missing_required")
            counts["required"] += 1
        for param, value in target.arguments.items():
            changed = _wrong_value(value)
            if changed is not None and not check_call(ToolCall(target.name, {**target.arguments, param: changed}),
                                                      functions, item.answer[k]).valid:
                rejected(ToolCall(target.name, {**target.arguments, param: changed}), "value_error")
                counts["value"] += 1
                break
        for param in target.arguments:
            wrong = _wrong_type_value(spec["properties"][param], possible[param])
            if wrong is not None:
                rejected(ToolCall(target.name, {**target.arguments, param: wrong}), "type_error")
                counts["type"] += 1
                break
        if len(gold) > 1:
            assert check_calls(gold[:-1], functions, item.answer).error_type == "wrong_count"
            assert check_calls([*gold, gold[0]], functions, item.answer).error_type == "wrong_count"
            counts["count"] += 1
    print(f"\nBFCL {category}: rejected perturbations {counts}")
    n = len(_bfcl_items(category))
    assert counts["name"] == counts["unknown"] == n
    assert counts["required"] > 0.9 * n and counts["value"] > 0.9 * n and counts["type"] > 0.9 * n


def test_ast_checker_irrelevance_rejects_any_call():
    items = _bfcl_items("irrelevance")
    assert len(items) == 240
    for item in items:
        functions = item.metadata["functions"]
        assert item.answer == [] and check_calls([], functions, item.answer).valid
        first = functions[0]
        plausible = {p: 1 for p in first["parameters"].get("required", [])}
        assert check_calls([ToolCall(first["name"], plausible)], functions, item.answer).error_type == "irrelevance"


# --------------------------------------------------------------------------------------------- BFCL envs
@pytest.mark.parametrize("category", [*CALL_CATEGORIES, "irrelevance"])
def test_bfcl_env_oracle_and_prompt(category):
    env = BFCLEnv(category, data_files=bfcl_dir(), reward_mode="toolrl")
    for index in range(0, len(env.source), 37):
        observation, info = env.reset(seed=0, options={"index": index})
        system = message_text(observation[0])
        assert observation[0]["role"] == "system" and observation[-1]["role"] == "user"
        assert "<tools>" in system and '"type": "dict"' not in system and '"type": "float"' not in system
        _, reward, terminated, truncated, info = env.step(env.oracle_action())
        assert info["reward_parts"] == {"outcome": 1.0, "format": 1.0, "correctness": 3.0}, info
        assert terminated and not truncated and reward == 5.0 and info["valid_action"]


def test_bfcl_env_wrong_and_invalid_actions():
    env = BFCLEnv("simple", data_files=bfcl_dir(), format_penalty=0.5)
    env.reset(options={"index": 0})  # calculate_triangle_area(base=10, height=5)
    observation, reward, terminated, _, info = env.step("I am not sure.")
    assert (reward, terminated, info["valid_action"]) == (-0.5, True, False)
    assert "No tool call and no reply" in message_text(observation[0])
    env.reset(options={"index": 0})
    wrong = ToolCall("calculate_triangle_area", {"base": 10, "height": 6}).render()
    _, reward, _, _, info = env.step(wrong)
    assert reward == 0.0 and info["valid_action"] and "wrong value for 'height'" in info["ast_error"]
    env.reset(options={"index": 0})
    _, reward, _, _, info = env.step('<tool_call>{"name": "calculate_triangle_area", "arguments": {,}</tool_call>')
    assert reward == -0.5 and not info["valid_action"] and "invalid JSON" in info["call_errors"][0]
    env.reset(options={"index": 0})
    right = ToolCall("calculate_triangle_area", {"base": 10, "height": 5, "unit": "Units"}).render()
    assert env.step(f"<think>easy</think>\nHere you go: {right}")[1] == 1.0


def test_bfcl_irrelevance_needs_an_explicit_reply_unless_lenient():
    strict = BFCLEnv("irrelevance", data_files=bfcl_dir())
    lenient = BFCLEnv("irrelevance", data_files=bfcl_dir(), strict_no_call=False)
    for env, plain_text_passes in ((strict, False), (lenient, True)):
        env.reset(options={"index": 0})
        _, reward, _, _, info = env.step("The functions cannot do this.")
        assert reward == float(plain_text_passes) and info["valid_action"] is plain_text_passes
        env.reset(options={"index": 0})
        assert env.step("<response>No function fits.</response>")[1] == 1.0
        env.reset(options={"index": 0})
        name = env.item.metadata["functions"][0]["name"]  # determine_body_mass_index(weight, height)
        assert env.step(ToolCall(name, {"weight": 70.0, "height": 1.8}).render())[1] == 0.0
    toolrl = BFCLEnv("irrelevance", data_files=bfcl_dir(), reward_mode="toolrl")
    toolrl.reset(options={"index": 0})
    parts = toolrl.step(ToolCall(name, {}).render())[4]["reward_parts"]
    assert parts == {"outcome": 0.0, "format": 0.0, "correctness": -3.0}


def test_bfcl_toolrl_partial_credit():
    env = BFCLEnv("simple", data_files=bfcl_dir(), reward_mode="toolrl")
    env.reset(options={"index": 0})  # gold: base=10, height=5, unit="units" -> S_max = 5
    parts = env.step(ToolCall("calculate_triangle_area", {"base": 10, "height": 5}).render())[4]["reward_parts"]
    # the AST passes (unit is optional); ToolRL: names 1, keys 2/3, values 2 -> 6 * (11/3) / 5 - 3
    assert parts["outcome"] == 1.0 and parts["format"] == 1.0
    assert parts["correctness"] == pytest.approx(6 * (1 + 2 / 3 + 2) / 5 - 3)


def test_bfcl_data_resolution(tmp_path, monkeypatch):
    folder = bfcl_dir()
    monkeypatch.delenv("REASONGYM_DATA_DIR", raising=False)
    monkeypatch.setenv("REASONGYM_BFCL_DIR", str(folder))
    assert len(load_bfcl("parallel", hub=None)) == 200
    monkeypatch.delenv("REASONGYM_BFCL_DIR")
    monkeypatch.setenv("REASONGYM_DATA_DIR", str(folder.parent))  # a data dir with a bfcl/ subfolder
    assert load_bfcl("multiple", hub=None).origin.endswith("BFCL_v4_multiple.json")
    assert len(load_bfcl("simple", data_files=folder / "BFCL_v4_simple_python.json")) == 400
    with pytest.raises(DataUnavailableError, match="possible_answer"):
        load_bfcl("simple", data_files=tmp_path)
    monkeypatch.setenv("REASONGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match="REASONGYM_BFCL_DIR"):
        BFCLEnv("simple", hub=None)
    with pytest.raises(ValueError, match="unknown BFCL category"):
        load_bfcl("live_simple", data_files=folder)
    with pytest.raises(ValueError, match="reward_mode"):
        BFCLEnv("simple", data_files=folder, reward_mode="nope")


def test_bfcl_hub_unreachable_is_data_unavailable(tmp_path):
    code = ("from reasongym.envs.tools import BFCLEnv\nfrom reasongym.tasks.loading import DataUnavailableError\n"
            "try:\n    BFCLEnv('simple')\nexcept DataUnavailableError as e:\n    print('unavailable', e)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("REASONGYM_DATA_DIR", "REASONGYM_BFCL_DIR")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("unavailable") and "REASONGYM_BFCL_DIR" in out.stdout


def test_to_json_schema_converts_bfcl_types():
    converted = to_json_schema({"type": "dict", "properties": {
        "x": {"type": "float"}, "t": {"type": "tuple", "items": {"type": "float"}}, "a": {"type": "any"}},
        "required": ["x"]})
    assert converted == {"type": "object", "properties": {"x": {"type": "number"}, "a": {},
                                                           "t": {"type": "array", "items": {"type": "number"}}},
                         "required": ["x"]}


# --------------------------------------------------------------------------------------------- multi-step envs
def _run_oracle(env) -> list[dict[str, Any]]:
    steps = []
    while True:
        observation, reward, terminated, truncated, info = env.step(env.oracle_action())
        steps.append({"observation": observation, "reward": reward, "info": info,
                      "terminated": terminated, "truncated": truncated})
        if terminated or truncated:
            return steps


def test_search_calc_oracle_solves_every_item_it_is_given():
    env = ToolSearchCalcEnv()
    for index in range(150):
        env.reset(seed=0, options={"index": index})
        steps = _run_oracle(env)
        assert steps[-1]["terminated"] and steps[-1]["info"]["reward_parts"]["outcome"] == 1.0, env.item.id
        assert len(steps) == 3
        assert sum(s["info"]["reward_parts"]["step"] for s in steps) == pytest.approx(env.step_weight)


def test_search_calc_episode_with_tool_messages():
    env = ToolSearchCalcEnv(render_mode="ansi")
    observation, info = env.reset(seed=0, options={"index": 4})
    assert [m["role"] for m in observation] == ["system", "user"] and info["max_turns"] == 8
    towns = env.item.metadata["towns"]
    action = "I will search.\n" + "\n".join(ToolCall("search", {"query": f"population of {t}"}).render() for t in towns)
    observation, reward, terminated, truncated, info = env.step(action)
    assert [m["role"] for m in observation] == ["tool"] * len(towns)
    assert all(t in message_text(m) for t, m in zip(towns, observation, strict=True))
    assert not terminated and info["valid_action"] and info["reward_parts"]["step"] > 0
    # the same search again finds nothing new
    assert env.step(action)[4]["reward_parts"]["step"] == 0.0
    observation, reward, terminated, _, info = env.step(f"<answer>{env.item.answer}</answer>")
    assert terminated and reward == 1.0 and message_text(observation[-1]) == "Correct."
    assert "[tool]" in env.render()


def test_search_calc_format_penalties_and_errors():
    env = ToolSearchCalcEnv(format_penalty=0.25)
    env.reset(seed=1)
    observation, reward, terminated, truncated, info = env.step('<tool_call>{"name": "search", "query": }</tool_call>')
    assert (reward, terminated, truncated, info["valid_action"]) == (-0.25, False, False, False)
    assert observation[0]["role"] == "tool" and "invalid JSON" in message_text(observation[0])
    observation, reward, *_, info = env.step("I am not sure.")
    assert reward == -0.25 and not info["valid_action"]
    assert "No tool call and no final answer" in message_text(observation[0])
    observation, reward, terminated, *_ = env.step("<answer>1</answer> or maybe <answer>2</answer>")
    assert not terminated and reward == -0.25 and "several final answers" in message_text(observation[0])
    observation, reward, *_, info = env.step(ToolCall("wikipedia", {"q": "x"}).render())
    assert reward == 0.0 and info["valid_action"] and "no tool named 'wikipedia'" in message_text(observation[0])
    observation, reward, *_, info = env.step(ToolCall("calculator", {"expression": "1/0"}).render())
    assert info["tool_ok"] == [False] and "division by zero" in message_text(observation[0])
    observation, reward, terminated, truncated, info = env.step("\\boxed{0}")
    assert terminated and not truncated and info["reward_parts"]["outcome"] == 0.0
    assert "Incorrect" in message_text(observation[-1])


def test_search_calc_turn_budget_truncates():
    env = ToolSearchCalcEnv(max_turns=3)
    env.reset(seed=2)
    search = ToolCall("search", {"query": "road"}).render()
    assert env.step(search)[2:4] == (False, False)
    observation, *_ = env.step(search)
    assert "One turn left" in message_text(observation[-1])
    observation, reward, terminated, truncated, info = env.step(search)
    assert (terminated, truncated) == (False, True) and info["reward_parts"]["outcome"] == 0.0
    assert "turn budget is exhausted" in message_text(observation[-1])


def test_search_calc_no_leak_across_reset_and_determinism():
    env = ToolSearchCalcEnv()
    first, _ = env.reset(seed=5)
    steps = _run_oracle(env)
    again, _ = env.reset(seed=5)
    assert again == first
    replay = _run_oracle(env)  # milestones were forgotten: the step rewards are paid again
    assert [s["info"]["reward_parts"] for s in replay] == [s["info"]["reward_parts"] for s in steps]
    assert ToolSearchCalcEnv(task_seed=1).reset(seed=5)[0] != first


def test_python_env_oracle_and_required_file(local_sandbox):
    env = ToolPythonEnv(sandbox=local_sandbox)
    for index in range(4):
        env.reset(seed=0, options={"index": index})
        steps = _run_oracle(env)
        assert [s["info"]["reward_parts"]["outcome"] for s in steps] == [0.0, 0.0, 1.0], env.item.id
        first_result = steps[0]["observation"][0]
        assert first_result["role"] == "tool" and message_text(first_result) == env.item.answer
    env.reset(seed=0, options={"index": 0})
    _, reward, terminated, _, info = env.step(f"<answer>{env.item.answer}</answer>")  # right answer, no file
    assert terminated and info["reward_parts"]["outcome"] == 0.0 and not info["correct"]
    env.reset(seed=0, options={"index": 0})
    both = ToolCall("write_file", {"path": "result.txt", "content": env.item.answer}).render()
    _, reward, terminated, _, info = env.step(f"{both}\n<answer>{env.item.answer}</answer>")  # same message
    assert terminated and info["reward_parts"]["outcome"] == 1.0


def test_tool_env_constructor_errors():
    with pytest.raises(ValueError, match="max_turns"):
        ToolSearchCalcEnv(max_turns=1)


# --------------------------------------------------------------------------------------------- answers
@pytest.mark.parametrize("text, answer, problem", [
    ("<answer> 42 </answer>", "42", ""),
    ("so \\boxed{1,234}", "1,234", ""),
    ("<think>maybe <answer>1</answer></think> <answer>2</answer>", "2", ""),
    ("<answer>1</answer><answer>2</answer>", None, "several"),
    ("\\boxed{1} \\boxed{2}", None, "several"),
    ("<answer>" * 100_000, None, "never closed"),
    ("no answer here", None, ""),
])
def test_final_answer(text, answer, problem):
    found = final_answer(text)
    assert found.answer == answer and problem in found.problem


def test_same_answer_normalisation():
    assert same_answer("1,234", "1234") and same_answer("12.0", "12") and same_answer(" Paris ", "paris")
    assert not same_answer("1234.5", "1234") and not same_answer("12", "120")


def test_tool_messages_are_valid_observations():
    env = ToolSearchCalcEnv()
    env.reset(seed=0)
    observation = env.step(ToolCall("search", {"query": "population"}).render())[0]
    assert env.observation_space.contains(observation)
    assert json.loads(json.dumps(observation)) == observation
