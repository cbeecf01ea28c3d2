"""One RepoFix episode's repository and the five tools that act on it.

The episode's state is the dict of the repository's source files (path -> text) held here, in the
environment's process. Viewing and editing work on that dict directly; every tool that executes code
(``shell``, ``run_tests``, ``submit`` and the import check after an edit) writes the current files into a
fresh sandbox workspace for that one run. "The container" of an episode is therefore re-created for every
command from the episode's state: runs reuse the sandbox's warm pool (no container start per episode),
nothing a command writes survives it, and nothing can leak from one episode into another.

Tools report what happened through :attr:`RepoSession.events`, from which the environment computes the
step rewards; the tools themselves only return text for the agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reasongym.runtime.sandbox.base import Limits, Sandbox
from reasongym.tasks.code.sandboxes import resolve_sandbox
from reasongym.tasks.swe.repository import TESTS_DIR, Repository
from reasongym.tasks.swe.runs import CaseLimits, SuiteResult, run_cases, run_shell
from reasongym.tasks.tools.tool import Tool, ToolError
from reasongym.tasks.tools.workspace import normalize_path

DEFAULT_SHELL_LIMITS = Limits(timeout_s=10.0, memory_mb=256, output_bytes=64_000)
SHOWN_OUTPUT_CHARS = 3000
MAX_VIEW_LINES = 300
SNIPPET_CONTEXT = 3
#: the tool methods, in the order the system prompt lists them
TOOL_NAMES = ("view_file", "edit_file", "shell", "run_tests", "submit")


@dataclass(frozen=True)
class Event:
    """Something a tool did that step rewards depend on.

    ``kind`` is ``"edit"`` (``importable`` says whether the package still imports) or ``"tests"`` (the
    visible suite ran; ``suite`` is its result).
    """

    kind: str
    importable: bool = False
    suite: SuiteResult | None = None


def _tail(text: str, limit: int = SHOWN_OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else f"[... {len(text) - limit:,} characters cut]\n{text[-limit:]}"


def _numbered(lines: Sequence[str], first: int) -> str:
    return "\n".join(f"{number:>4}  {line}" for number, line in enumerate(lines, start=first))


class RepoSession:
    """The repository of the current episode and its tools (see the module docstring).

    Args:
        sandbox: a backend name (``"auto"``, ``"docker"``, ``"local"``), resolved on the first run to the
            process-wide sandbox of that backend, or a :class:`Sandbox` instance.
        shell_limits: limits of one shell command.
        case_limits: limits of one test-suite run.
    """

    def __init__(self, sandbox: str | Sandbox = "auto", *, shell_limits: Limits = DEFAULT_SHELL_LIMITS,
                 case_limits: CaseLimits = CaseLimits()):
        self._sandbox_spec = sandbox
        self._sandbox: Sandbox | None = None
        self.shell_limits = shell_limits
        self.case_limits = case_limits
        self.repository: Repository | None = None
        self.files: dict[str, str] = {}
        self.events: list[Event] = []
        self.viewed: set[str] = set()
        self.tested_since_edit = False
        self.submission: SuiteResult | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox, resolved on the first run (building an env starts no backend)."""
        if self._sandbox is None:
            self._sandbox = resolve_sandbox(self._sandbox_spec)
        return self._sandbox

    def reset(self, repository: Repository, files: dict[str, str]) -> None:
        """Start an episode on ``files`` (a copy is kept; nothing of the previous episode remains)."""
        self.repository = repository
        self.files = dict(files)
        self.events = []
        self.viewed = set()
        self.tested_since_edit = False
        self.submission = None

    @property
    def submitted(self) -> bool:
        """Whether ``submit`` was called (the episode is over)."""
        return self.submission is not None

    def take_events(self) -> list[Event]:
        """The events since the last call (and forget them)."""
        events, self.events = self.events, []
        return events

    def tools(self) -> list[Tool]:
        """The tools, bound to this session."""
        return [Tool.from_function(getattr(self, name)) for name in TOOL_NAMES]

    def workspace(self) -> dict[str, str]:
        """What the agent can see and run: the current sources and the visible tests (never the hidden)."""
        assert self.repository is not None, "reset() first"
        return self.repository.workspace(self.files)

    # ------------------------------------------------------------------ tools
    def view_file(self, path: str, start_line: int = 1, end_line: int = 0) -> str:
        """Show a file of the repository with line numbers, or list the files under a directory ("." for all).

        Args:
            path: a file or directory path relative to the repository root, e.g. "rpn/calc.py".
            start_line: the first line to show (1-based).
            end_line: the last line to show; 0 shows to the end of the file.
        """
        files = self.workspace()
        path = "." if path.strip() in ("", ".", "./") else normalize_path(path)
        if path not in files:
            prefix = "" if path == "." else path + "/"
            listed = sorted(p for p in files if p.startswith(prefix))
            if not listed:
                raise ToolError(f"{path} does not exist. Files:\n" + "\n".join(sorted(files)))
            return "\n".join(listed)
        self.viewed.add(path)
        lines = files[path].splitlines()
        first = max(start_line, 1)
        last = len(lines) if end_line <= 0 else min(end_line, len(lines))
        if first > last:
            raise ToolError(f"{path} has {len(lines)} lines; nothing to show from line {first} to {last}")
        last = min(last, first + MAX_VIEW_LINES - 1)
        return f"{path} (lines {first}-{last} of {len(lines)}):\n" + _numbered(lines[first - 1:last], first)

    def edit_file(self, path: str, old_str: str, new_str: str) -> str:
        """Replace the one occurrence of old_str in a source file with new_str. The edit is kept for the rest
        of the episode; the reply says whether the package still imports.

        Args:
            path: the file to edit, relative to the repository root, e.g. "rpn/calc.py".
            old_str: the exact text to replace (including indentation); it must occur exactly once.
            new_str: the text to put in its place.
        """
        path = normalize_path(path)
        if path == TESTS_DIR or path.startswith(TESTS_DIR + "/"):
            raise ToolError("the tests are read-only; edit the package's source instead")
        if path not in self.files:
            raise ToolError(f"{path} is not a source file of the repository. Files:\n" + "\n".join(sorted(self.files)))
        text = self.files[path]
        count = text.count(old_str) if old_str else 0
        if count != 1:
            problem = "old_str is empty" if not old_str else \
                f"old_str occurs {count} times; include more lines to make it unique" if count else \
                "old_str was not found; view the file and copy the exact text, indentation included"
            raise ToolError(f"{problem} ({path} is unchanged)")
        if old_str == new_str:
            raise ToolError("old_str and new_str are the same; nothing to change")
        at = text.index(old_str)
        self.files[path] = text[:at] + new_str + text[at + len(old_str):]
        self.tested_since_edit = False
        importable, verdict = self._import_check(path)
        self.events.append(Event("edit", importable=importable))
        return f"Edited {path}; {verdict}\n{self._snippet(path, at, len(new_str))}"

    def shell(self, command: str) -> str:
        """Run a shell command (sh -c) at the root of a fresh copy of the repository and return its output.
        Files the command writes are not kept; use edit_file to change the code.

        Args:
            command: the command line, e.g. "python3 -m unittest -v" or "grep -n 'def ' rpn/calc.py".
        """
        if not command.strip():
            raise ToolError("the command is empty")
        result = run_shell(self.sandbox, self.workspace(), command, self.shell_limits)
        status = f"exit code {result.exit_code}" if result.exit_code is not None else result.status
        detail = f" ({result.detail})" if result.detail and result.status != "error" else ""
        output = (result.stdout + ("\n" if result.stdout and result.stderr else "") + result.stderr).rstrip()
        return f"[{status}{detail}]\n{_tail(output)}" if output else f"[{status}{detail}] (no output)"

    def run_tests(self) -> str:
        """Run the repository's visible tests and report which pass."""
        assert self.repository is not None, "reset() first"
        suite = run_cases(self.sandbox, self.repository, self.files, self.repository.visible, self.case_limits)
        self.events.append(Event("tests", suite=suite))
        self.tested_since_edit = True
        return self._report(suite, "visible")

    def submit(self) -> str:
        """Submit the repository as it is now and end the episode: the hidden tests decide whether the fix
        is accepted."""
        assert self.repository is not None, "reset() first"
        suite = run_cases(self.sandbox, self.repository, self.files, self.repository.hidden, self.case_limits)
        self.submission = suite
        verdict = "accepted" if suite.all_passed else "rejected"
        return f"Submitted; the fix was {verdict}: {len(suite.passed)} of {len(suite.cases)} hidden tests passed."

    # ------------------------------------------------------------------ helpers
    def _import_check(self, path: str) -> tuple[bool, str]:
        """Whether the package imports after an edit of ``path`` (compiled here first: a syntax error
        needs no sandbox run)."""
        try:
            compile(self.files[path], path, "exec")
        except (SyntaxError, ValueError) as exc:
            return False, f"it no longer compiles: {type(exc).__name__}: {exc}"
        assert self.repository is not None
        suite = run_cases(self.sandbox, self.repository, self.files, (), self.case_limits)
        if suite.importable:
            return True, "the package imports cleanly."
        return False, f"importing the package now fails:\n{_tail(suite.load_error or suite.error or '', 1500)}"

    def _snippet(self, path: str, at: int, length: int) -> str:
        """The edited lines with a little context, numbered."""
        text = self.files[path]
        lines = text.splitlines()
        first = text.count("\n", 0, at)
        last = text.count("\n", 0, at + length)
        start, stop = max(first - SNIPPET_CONTEXT, 0), min(last + SNIPPET_CONTEXT + 1, len(lines))
        return _numbered(lines[start:stop], start + 1)

    def _report(self, suite: SuiteResult, which: str) -> str:
        if suite.error is not None:
            return f"The {which} tests could not be run: {suite.error}"
        failing = [case for case in suite.cases if not case.passed]
        lines = [f"Ran {len(suite.cases)} {which} tests: {len(suite.cases) - len(failing)} passed, "
                 f"{len(failing)} failed."]
        if suite.load_error:
            lines.append(f"The package does not import:\n{_tail(suite.load_error, 1500)}")
        else:
            lines += [f"FAIL {case.name} [{case.status}]: {case.detail}" for case in failing]
        return "\n".join(lines)
