"""Run untrusted programs: a Docker backend with a warm container pool, and a weaker local fallback.

>>> with make_sandbox("docker") as sandbox:
...     result = sandbox.run(RunRequest(files={"main.py": "print(input())"}, stdin="hi"))

See ``docs/sandbox.md`` for the isolation each backend gives and how to get a Docker engine.
"""

from .base import STATUSES, Limits, RunRequest, RunResult, Sandbox, Status
from .errors import EngineUnavailable, ImageUnavailable, SandboxError, WeakIsolationWarning
from .factory import make_sandbox

__all__ = [
           "STATUSES",
           "EngineUnavailable",
           "ImageUnavailable",
           "Limits",
           "RunRequest",
           "RunResult",
           "Sandbox",
           "SandboxError",
           "Status",
           "WeakIsolationWarning",
           "make_sandbox",
]
