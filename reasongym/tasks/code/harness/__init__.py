"""The programs that run inside the sandbox: test supervisors and the candidate's call worker.

They are plain standard-library scripts copied into every sandbox workspace (the sandbox image has a
Python interpreter but not this package). :func:`workspace_files` returns the files a run needs.
"""

from __future__ import annotations

from importlib import resources

from reasongym.tasks.code.harness.guard import JOB_FILE, RESULT_PREFIX

#: supervisor script -> the files it needs beside it
SCRIPTS: dict[str, tuple[str, ...]] = {
    "function_tests.py": ("function_tests.py", "guard.py", "values.py", "call_worker.py"),
    "stdio_tests.py": ("stdio_tests.py", "guard.py"),
}

_CACHE: dict[str, str] = {}


def _source(name: str) -> str:
    if name not in _CACHE:
        _CACHE[name] = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return _CACHE[name]


def workspace_files(script: str) -> dict[str, str]:
    """The harness files a run of ``script`` (a key of :data:`SCRIPTS`) needs in its workspace."""
    return {name: _source(name) for name in SCRIPTS[script]}


def command(script: str) -> tuple[str, ...]:
    """The sandbox command running ``script``: no user site-packages, no bytecode files."""
    return ("python3", "-s", "-B", script)


__all__ = ["JOB_FILE", "RESULT_PREFIX", "SCRIPTS", "command", "workspace_files"]
