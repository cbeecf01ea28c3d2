"""Reach the Docker engine and check the sandbox image; remove containers orphaned by dead processes."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from .errors import EngineUnavailable, ImageUnavailable
from .guest import digest

if TYPE_CHECKING:
    import docker

DEFAULT_IMAGE = "reasongym-sandbox:latest"
DIGEST_LABEL = "org.reasongym.sandbox.digest"
OWNER_LABEL = "org.reasongym.sandbox.owner"
START_HINT = "start one with `bash containers/start_dockerd.sh` (as root) or point DOCKER_HOST at an engine"
BUILD_HINT = "(re)build it with `reasongym sandbox build` (or `bash containers/sandbox/build_offline.sh`)"


def connect(base_url: str | None = None, timeout_s: float = 60.0) -> "docker.DockerClient":
    """A client for the engine at ``base_url`` (default: ``DOCKER_HOST`` or the local socket) that answers."""
    try:
        import docker
    except ImportError as exc:
        raise EngineUnavailable("the Docker SDK is not installed: pip install 'reasongym[docker]'") from exc
    try:
        if base_url:
            client = docker.DockerClient(base_url=base_url, version="auto", timeout=int(timeout_s))
        else:
            client = docker.from_env(version="auto", timeout=int(timeout_s))
        client.ping()
    except docker.errors.DockerException as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "the local socket"
        raise EngineUnavailable(f"no Docker engine answers at {where} ({exc}); {START_HINT}") from exc
    return client


def check_image(client: "docker.DockerClient", image: str) -> None:
    """Raise :class:`ImageUnavailable` unless ``image`` exists and holds this version of the executor."""
    import docker

    try:
        labels = client.images.get(image).labels or {}
    except docker.errors.ImageNotFound as exc:
        raise ImageUnavailable(f"the sandbox image {image} does not exist; {BUILD_HINT}") from exc
    built_from, wanted = labels.get(DIGEST_LABEL), digest()
    if built_from != wanted:
        raise ImageUnavailable(f"the sandbox image {image} holds another executor version "
                               f"({(built_from or 'none')[:12]}, this code needs {wanted[:12]}); "
                               f"{BUILD_HINT}")


def owner_label() -> str:
    """Identifies this process as the owner of the containers it starts: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def remove_orphans(client: "docker.DockerClient") -> int:
    """Remove sandbox containers whose owning process on this host is gone; returns how many."""
    import docker

    removed = 0
    host = socket.gethostname()
    for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
        owner_host, _, pid = container.labels.get(OWNER_LABEL, "").rpartition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            try:
                container.remove(force=True)
                removed += 1
            except docker.errors.APIError:
                pass  # removed meanwhile by another process doing the same cleanup
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
