"""The programs that run inside the sandbox for RepoFix: the repository test supervisor and its worker.

They are plain standard-library scripts copied into the sandbox workspace next to the repository. The
process-isolation helpers (``guard.py``) and the plain-value codec (``values.py``) are the code family's
(:mod:`reasongym.tasks.code.harness`), shared rather than copied.
"""

from __future__ import annotations

from importlib import resources

SUPERVISOR = "repo_tests.py"
_OWN = ("repo_tests.py", "repo_worker.py")
_SHARED = ("guard.py", "values.py")
#: the folder of the workspace the supervisor copies the repository from
REPO_DIR = "repo"

_CACHE: dict[str, str] = {}


def _source(package: str, name: str) -> str:
    key = f"{package}/{name}"
    if key not in _CACHE:
        _CACHE[key] = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return _CACHE[key]


def harness_files() -> dict[str, str]:
    """The supervisor, the worker and their helpers, keyed by their workspace path."""
    files = {name: _source(__package__, name) for name in _OWN}
    files.update({name: _source("reasongym.tasks.code.harness", name) for name in _SHARED})
    return files


def command() -> tuple[str, ...]:
    """The sandbox command running the supervisor: no user site-packages, no bytecode files."""
    return ("python3", "-s", "-B", SUPERVISOR)
