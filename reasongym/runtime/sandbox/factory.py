"""``make_sandbox``: pick a backend by name, never downgrading isolation silently."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

from .base import Sandbox
from .docker_backend import DockerConfig, DockerSandbox
from .errors import SandboxError, WeakIsolationWarning
from .local import LocalConfig, LocalSandbox

Backend = Literal["docker", "local", "auto"]


def make_sandbox(backend: Backend = "auto", **config: Any) -> Sandbox:
    """A sandbox of the named backend, configured with ``config`` (fields of DockerConfig / LocalConfig).

    ``"docker"`` raises :class:`~.errors.SandboxError` (with what to do) when no engine or image is
    available; it never falls back. ``"local"`` is the weaker subprocess backend and warns so.
    ``"auto"`` tries Docker and, failing that, warns with the reason and returns the local backend
    configured with the options it understands.
    """
    docker_fields, local_fields = _fields(DockerConfig), _fields(LocalConfig)
    unknown = set(config) - docker_fields - local_fields
    if unknown:
        raise TypeError(f"unknown sandbox options: {sorted(unknown)}")
    if backend == "docker":
        return DockerSandbox(DockerConfig(**config))
    if backend == "local":
        return LocalSandbox(LocalConfig(**config))
    if backend != "auto":
        raise ValueError(f"backend must be 'docker', 'local' or 'auto', not {backend!r}")
    try:
        return DockerSandbox(DockerConfig(**{k: v for k, v in config.items() if k in docker_fields}))
    except SandboxError as exc:
        warnings.warn(f"Docker sandbox unavailable, falling back to the local backend: {exc}",
                      WeakIsolationWarning, stacklevel=2)
    return LocalSandbox(LocalConfig(**{k: v for k, v in config.items() if k in local_fields}))


def _fields(config_class: type) -> set[str]:
    return {field.name for field in dataclasses.fields(config_class)}
