"""Standard-input/output programming problems in the TACO, CodeContests and LiveCodeBench formats.

The format of each record is recognised by its fields:

============== ============================== ===============================================================
format         statement                      tests
============== ============================== ===============================================================
TACO           ``question``                   ``input_output``: JSON ``{"inputs": [...], "outputs": [...]}``;
                                              records with ``fn_name`` are call-based and skipped
CodeContests   ``description``                ``public_tests``, ``private_tests``, ``generated_tests``:
                                              ``{"input": [...], "output": [...]}``
LiveCodeBench  ``question_content``           ``public_test_cases``, ``private_test_cases``: JSON lists of
                                              ``{"input", "output", "testtype"}`` (the private list may be
                                              base64 + zlib + pickle compressed); only ``stdin`` tests kept
============== ============================== ===============================================================

Reference programs come from ``solutions``: a list of programs, a JSON string of one, or CodeContests'
``{"language": [...], "solution": [...]}`` (Python 3 is language 3). A record without stdin tests is
skipped; a record without a reference simply has ``answer=None`` (no oracle).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

from reasongym.tasks.base import ListSource, TaskItem
from reasongym.tasks.code.demo import DEMO_RECORDS
from reasongym.tasks.loading import HubDataset, load_benchmark

DataFiles = str | os.PathLike | Sequence[str | os.PathLike]

PROMPT_SUFFIX = ("Write a Python 3 program that reads the input from standard input and writes the answer to "
                 "standard output. Reply with the complete program in a single ```python code block.")
CODECONTESTS_PYTHON3 = 3


@dataclass(frozen=True)
class StdioTest:
    """One test case: the program's standard input and the expected standard output."""

    name: str
    input: str
    output: str


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain data only: any reference to a class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a test-case payload")


def _json_or_compressed(value: Any) -> Any:
    """LiveCodeBench test lists: JSON, or base64(zlib(pickle(JSON string)))."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        inner = _NoGlobals(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
        return json.loads(inner) if isinstance(inner, str) else inner


def _text(value: Any) -> str:
    """A test input/output as text: lists of lines are joined with newlines."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) + "\n"
    return str(value)


def _pairs(prefix: str, inputs: Sequence[Any], outputs: Sequence[Any]) -> list[StdioTest]:
    if len(inputs) != len(outputs):
        raise ValueError(f"{prefix} tests: {len(inputs)} inputs but {len(outputs)} outputs")
    return [StdioTest(f"{prefix}_{i}", _text(x), _text(y)) for i, (x, y) in enumerate(zip(inputs, outputs))]


def _references(solutions: Any) -> list[str]:
    if solutions is None:
        return []
    if isinstance(solutions, str):
        solutions = json.loads(solutions)
    if isinstance(solutions, dict):
        return [code for language, code in zip(solutions.get("language", []), solutions.get("solution", []))
                if language == CODECONTESTS_PYTHON3]
    return [s for s in solutions if isinstance(s, str)]


def detect_format(record: dict[str, Any]) -> str:
    """``"taco"``, ``"code_contests"`` or ``"livecodebench"``; ``ValueError`` for anything else."""
    if "input_output" in record:
        return "taco"
    if "public_tests" in record:
        return "code_contests"
    if "public_test_cases" in record:
        return "livecodebench"
    raise ValueError(f"unrecognised problem record with fields {sorted(record)}: expected TACO (input_output), "
                     "CodeContests (public_tests) or LiveCodeBench (public_test_cases)")


def _taco(record: dict[str, Any]) -> tuple[str, list[StdioTest]]:
    spec = record["input_output"]
    spec = json.loads(spec) if isinstance(spec, str) else spec
    if spec.get("fn_name"):
        return record["question"], []
    return record["question"], _pairs("test", spec.get("inputs", []), spec.get("outputs", []))


def _code_contests(record: dict[str, Any]) -> tuple[str, list[StdioTest]]:
    tests = []
    for kind in ("public", "private", "generated"):
        group = record.get(f"{kind}_tests") or {}
        tests += _pairs(kind, group.get("input", []), group.get("output", []))
    return record["description"], tests


def _livecodebench(record: dict[str, Any]) -> tuple[str, list[StdioTest]]:
    tests = []
    for kind in ("public", "private"):
        cases = [c for c in _json_or_compressed(record.get(f"{kind}_test_cases") or []) if c.get("testtype") == "stdin"]
        tests += _pairs(kind, [c["input"] for c in cases], [c["output"] for c in cases])
    title = record.get("question_title")
    statement = record["question_content"]
    return (f"{title}\n\n{statement}" if title else statement), tests


_PARSERS = {"taco": _taco, "code_contests": _code_contests, "livecodebench": _livecodebench}
_ID_FIELDS = ("question_id", "name", "id", "task_id")


def parse_record(record: dict[str, Any], index: int, *, max_tests: int | None = None) -> TaskItem | None:
    """One problem as a task item (``None`` when it has no stdin tests); ``index`` names unnamed records."""
    kind = detect_format(record)
    statement, tests = _PARSERS[kind](record)
    if max_tests is not None:
        tests = tests[:max_tests]
    if not tests:
        return None
    name = next((str(record[f]) for f in _ID_FIELDS if record.get(f) not in (None, "")), f"{kind}-{index}")
    references = _references(record.get("solutions"))
    return TaskItem(id=name, prompt=f"{statement.strip()}\n\n{PROMPT_SUFFIX}",
                    answer=references[0] if references else None,
                    metadata={"format": kind, "tests": tuple(tests)})


def items_from_records(records: Sequence[dict[str, Any]], origin: str, *,
                       max_tests: int | None = None) -> ListSource:
    """Parse records into a source, skipping those without stdin tests."""
    if max_tests is not None and max_tests < 1:
        raise ValueError(f"max_tests must be at least 1, got {max_tests}")
    items = [parse_record(r, i, max_tests=max_tests) for i, r in enumerate(records)]
    return ListSource([item for item in items if item is not None], origin=origin)


def load_stdio(*, data_files: DataFiles | None = None, hub: str | None = None, split: str = "test",
               max_tests: int | None = None) -> ListSource:
    """Problems from local files, else from a hub dataset, else the embedded demo problems."""
    if data_files is None and hub is None:
        return items_from_records(DEMO_RECORDS, "embedded:reasongym demo problems", max_tests=max_tests)
    records, origin = load_benchmark(data_files=data_files, local_names=(),
                                     hub=HubDataset(hub, split) if hub is not None else None)
    return items_from_records(records, origin, max_tests=max_tests)
