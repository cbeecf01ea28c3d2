"""Failures of the sandbox itself (never of the program it runs) and the weak-isolation warning.

A hostile or broken program is reported in a :class:`~reasongym.runtime.sandbox.base.RunResult`; these
exceptions mean the sandbox cannot run anything at all (no engine, no image, no free container), so
callers can tell an infrastructure problem from a bad program.
"""

from __future__ import annotations


class SandboxError(RuntimeError):
    """The sandbox cannot run programs."""


class EngineUnavailable(SandboxError):
    """No Docker engine (or no Docker SDK) is reachable."""


class ImageUnavailable(SandboxError):
    """The sandbox image is missing, or was built from another version of the executor."""


class WeakIsolationWarning(UserWarning):
    """Programs run with weaker isolation than the Docker backend gives (the local fallback)."""
