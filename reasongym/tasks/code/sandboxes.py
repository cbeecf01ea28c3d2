"""One shared sandbox per backend name in a process, so that every env reuses the same warm pool."""

from __future__ import annotations

import atexit
import threading

from reasongym.runtime.sandbox.base import Sandbox

_SHARED: dict[str, Sandbox] = {}
_LOCK = threading.Lock()


def resolve_sandbox(spec: str | Sandbox) -> Sandbox:
    """``spec`` itself when it is a sandbox, else the process-wide sandbox of backend ``spec``
    (``"docker"``, ``"local"`` or ``"auto"``), created on first use."""
    if not isinstance(spec, str):
        if not isinstance(spec, Sandbox):
            raise TypeError(f"sandbox must be a backend name or a Sandbox, got {type(spec).__name__}")
        return spec
    with _LOCK:
        if spec not in _SHARED:
            from reasongym.runtime.sandbox import make_sandbox  # the backends load only when code runs

            _SHARED[spec] = make_sandbox(backend=spec)
        return _SHARED[spec]


@atexit.register
def close_shared() -> None:
    """Close the sandboxes created here (containers of a warm pool are removed by their backend)."""
    with _LOCK:
        for sandbox in _SHARED.values():
            sandbox.close()
        _SHARED.clear()
