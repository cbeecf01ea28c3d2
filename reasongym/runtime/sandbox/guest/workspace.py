"""Write a run's files into a fresh directory, and remove directories whatever their permissions."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import PurePosixPath
from typing import Mapping


class BadFileName(ValueError):
    """A file name that is absolute, empty, or climbs out of the workspace."""


def populate(root: str, files: Mapping[str, bytes]) -> None:
    """Create ``files`` (relative names, subdirectories allowed) under the existing directory ``root``."""
    for name, data in files.items():
        path = os.path.join(root, *_parts(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)


def _parts(name: str) -> tuple[str, ...]:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(part in ("..", ".", "") for part in parts) or "\0" in name:
        raise BadFileName(f"file name {name!r} must be a relative path inside the workspace")
    return parts


def clear(path: str, *, keep_root: bool) -> bool:
    """Delete everything under ``path`` (and ``path`` itself unless ``keep_root``); True when all is gone.

    A program may leave directories without write or search permission to resist cleanup; as their
    owner (not root) we restore the permission first. Deletion itself is :func:`shutil.rmtree`, which
    works through directory descriptors and never follows a symlink swapped in meanwhile: that matters
    when root cleans up after a program. Errors are counted, never raised.
    """
    if not os.path.lexists(path):
        return True
    if os.geteuid() != 0:
        _grant_owner_access(path)
    try:
        targets = [entry.path for entry in os.scandir(path)] if keep_root else [path]
    except OSError:
        return False
    ok = True
    for target in targets:
        try:
            if stat.S_ISDIR(os.lstat(target).st_mode):
                shutil.rmtree(target)
            else:
                os.unlink(target)
        except FileNotFoundError:
            continue
        except OSError:
            ok = False
    return ok


def _grant_owner_access(root: str) -> None:
    """Give the owner rwx on every directory under ``root`` (top-down, so each can then be listed)."""
    _make_traversable(root)
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            _make_traversable(os.path.join(folder, name))


def _make_traversable(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode) and stat.S_IMODE(mode) & stat.S_IRWXU != stat.S_IRWXU:
            os.chmod(path, stat.S_IMODE(mode) | stat.S_IRWXU)
    except OSError:
        pass  # not ours or already gone: clear() reports what it could not remove
