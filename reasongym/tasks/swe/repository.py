"""Small Python repositories for RepoFix: their source files and their visible and hidden test cases.

A test case is data, not test code: optional setup statements, one expression, and either the value the
expression must equal or the exception it must raise. Keeping cases as data lets two consumers share them:

* the trusted in-sandbox harness (``harness/repo_tests.py``) evaluates the expression in an untrusted
  worker process and compares the returned plain value in the supervisor, so repository code edited by
  the agent cannot forge a pass (it never sees the expected value);
* :func:`render_unittest` writes the visible cases as an ordinary ``unittest`` module that the agent can
  read and run with ``python3 -m unittest`` in its shell.

Hidden cases are never rendered into a workspace the agent can see.
"""

from __future__ import annotations

import hashlib
import pprint
from dataclasses import dataclass, field
from typing import Any

TESTS_DIR = "tests"


@dataclass(frozen=True)
class Case:
    """One test case.

    Attributes:
        name: a ``test_...`` identifier, unique within its repository.
        expr: the expression under test, evaluated after ``setup`` in a namespace holding the imports.
        expected: the value ``expr`` must equal (floats compare with a 1e-9 relative tolerance).
        raises: instead of a value, the name of the exception class ``expr`` must raise (a subclass counts).
        setup: statements run before ``expr`` (one per line), e.g. building an object.
    """

    name: str
    expr: str
    expected: Any = None
    raises: str | None = None
    setup: str = ""

    def job(self) -> dict[str, str]:
        """What the untrusted worker receives: the code to run, never the expectation."""
        return {"name": self.name, "setup": self.setup, "expr": self.expr}

    def describe(self) -> str:
        """The case as one line of Python a bug report can quote."""
        code = "; ".join([*self.setup.splitlines(), self.expr])
        want = f"raises {self.raises}" if self.raises else f"== {self.expected!r}"
        return f"{code}  # {want}"


@dataclass(frozen=True)
class Repository:
    """A repository: its files, the package to import, and the test cases.

    Attributes:
        name: short identifier, also the importable package's name.
        summary: one sentence shown to the agent.
        files: path -> source text of the repository (tests excluded; ASCII only, so that AST column
            offsets are character offsets).
        imports: the import statements every case runs first (they name what the cases use).
        visible: cases rendered into ``tests/test_<name>.py`` in the agent's workspace.
        hidden: cases used only to grade a submission.
    """

    name: str
    summary: str
    files: dict[str, str]
    imports: str
    visible: tuple[Case, ...]
    hidden: tuple[Case, ...]
    modules: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = [case.name for case in self.visible + self.hidden]
        if len(set(names)) != len(names):
            raise ValueError(f"repository {self.name}: duplicate case names")
        modules = tuple(path[:-3].replace("/", ".").removesuffix(".__init__")
                        for path in sorted(self.files) if path.endswith(".py"))
        object.__setattr__(self, "modules", modules)

    @property
    def test_path(self) -> str:
        """Where the visible tests live in the workspace."""
        return f"{TESTS_DIR}/test_{self.name}.py"

    def workspace(self, files: dict[str, str] | None = None) -> dict[str, str]:
        """The files an agent sees: ``files`` (default: the pristine sources) plus the visible tests."""
        return {**(files if files is not None else self.files), f"{TESTS_DIR}/__init__.py": "",
                self.test_path: render_unittest(self)}

    def digest(self, path: str) -> str:
        """A short content hash of one pristine source file (the mutant catalogue records it)."""
        return hashlib.sha256(self.files[path].encode()).hexdigest()[:16]

    def cases_digest(self) -> str:
        """A short hash of the imports and every case (they decide which mutants are kept)."""
        return hashlib.sha256(repr((self.imports, self.visible, self.hidden)).encode()).hexdigest()[:16]


def _literal(value: Any) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def _render_case(case: Case, indent: str) -> list[str]:
    lines = [f"    def {case.name}(self):"]
    lines += [f"{indent}{line}" for line in case.setup.splitlines()]
    if case.raises:
        lines += [f"{indent}with self.assertRaises({case.raises}):", f"{indent}    {case.expr}"]
    elif isinstance(case.expected, float):
        lines.append(f"{indent}self.assertAlmostEqual({case.expr}, {case.expected!r}, places=9)")
    else:
        lines.append(f"{indent}self.assertEqual({case.expr}, {_literal(case.expected)})")
    return lines


def render_unittest(repository: Repository) -> str:
    """The visible cases as a plain ``unittest`` module (runs with ``python3 -m unittest``)."""
    lines = [f'"""Tests of the {repository.name} package."""', "", "import unittest", "",
             *repository.imports.splitlines(), "", "", "class VisibleTests(unittest.TestCase):"]
    for i, case in enumerate(repository.visible):
        if i:
            lines.append("")
        lines += _render_case(case, " " * 8)
    lines += ["", "", 'if __name__ == "__main__":', "    unittest.main()", ""]
    return "\n".join(lines)
