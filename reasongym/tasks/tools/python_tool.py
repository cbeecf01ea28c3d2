"""The ``python`` tool: run a program in the sandbox, with the episode's workspace files beside it.

Each call is one sandbox run (:class:`~reasongym.runtime.sandbox.base.RunRequest`) in a fresh directory
holding a copy of the workspace files and the program. Files the program writes are discarded with the
run, so the workspace changes only through ``write_file``. The sandbox is named, not built: ``"auto"``
(Docker, else the local backend with a warning), ``"docker"`` or ``"local"`` resolve to one sandbox
shared by every env of the process (:func:`reasongym.tasks.code.resolve_sandbox`), created on the
first call; a :class:`~reasongym.runtime.sandbox.base.Sandbox` instance is used as given. A sandbox that
cannot run anything raises :class:`~reasongym.tasks.tools.tool.ToolUnavailable` (an infrastructure
failure must not look like the agent's mistake).
"""

from __future__ import annotations

from reasongym.runtime.sandbox.base import Limits, RunRequest, Sandbox
from reasongym.runtime.sandbox.errors import SandboxError
from reasongym.tasks.code.sandboxes import resolve_sandbox
from reasongym.tasks.tools.tool import Tool, ToolError, ToolUnavailable
from reasongym.tasks.tools.workspace import Workspace

SCRIPT = "__tool_program__.py"
MAX_CODE_CHARS = 20_000
DEFAULT_LIMITS = Limits(timeout_s=10.0, memory_mb=256, output_bytes=20_000)


class PythonRunner:
    """Runs the agent's Python code.

    Args:
        sandbox: a backend name or a sandbox instance (see the module docstring).
        workspace: files copied next to the program on every run (optional).
        limits: resource limits of one run.
    """

    def __init__(self, sandbox: str | Sandbox = "auto", *, workspace: Workspace | None = None,
                 limits: Limits = DEFAULT_LIMITS):
        self._sandbox_spec = sandbox
        self._sandbox: Sandbox | None = None
        self.workspace = workspace
        self.limits = limits

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox, resolved on the first run."""
        if self._sandbox is None:
            self._sandbox = resolve_sandbox(self._sandbox_spec)
        return self._sandbox

    def python(self, code: str) -> str:
        """Run a Python 3 program and return what it printed. Files in the workspace can be opened by their
        relative path; files the program writes are not kept (use write_file to save results).

        Args:
            code: the complete program; print the values you need.
        """
        if not code.strip():
            raise ToolError("the program is empty")
        if len(code) > MAX_CODE_CHARS:
            raise ToolError(f"the program is longer than {MAX_CODE_CHARS:,} characters")
        files: dict[str, str | bytes] = dict(self.workspace.snapshot()) if self.workspace else {}
        files[SCRIPT] = code
        try:
            result = self.sandbox.run(RunRequest(files=files, command=("python3", SCRIPT), limits=self.limits))
        except SandboxError as exc:
            raise ToolUnavailable(f"the python tool's sandbox cannot run programs: {exc}") from exc
        stdout, stderr = result.stdout.rstrip(), result.stderr.rstrip()
        if result.status != "ok":
            detail = f" ({result.detail})" if result.detail else ""
            shown = f"\n{stderr[-2000:]}" if stderr else ""
            partial = f"\nOutput before the failure:\n{stdout[-1000:]}" if stdout else ""
            raise ToolError(f"the program ended with status {result.status}{detail}{shown}{partial}")
        text = stdout or "(the program printed nothing)"
        return f"{text}\n[stderr]\n{stderr[-2000:]}" if stderr else text

    def tools(self) -> list[Tool]:
        """The ``python`` tool bound to this runner."""
        return [Tool.from_function(self.python)]
