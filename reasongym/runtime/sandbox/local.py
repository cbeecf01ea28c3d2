"""The local fallback backend: a subprocess with rlimits, a temporary workspace, a new session, and
network/PID namespaces where the host allows them (see :mod:`.host_isolation`).

It is weaker than the Docker backend (no filesystem isolation, no cgroup limits) and says so with a
:class:`~.errors.WeakIsolationWarning` when created. Use it for development and trusted code, or where
no Docker engine can run.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import cast

from .base import RunRequest, RunResult, Status
from .errors import WeakIsolationWarning
from .guest.supervise import supervise
from .guest.verdict import classify
from .guest.workspace import BadFileName, clear, populate
from .host_isolation import HostIsolation, probe
from .normalize import as_bytes, check, files_as_bytes
from .threaded import ThreadedSandbox
from .uids import UidAllocator


@dataclass(frozen=True)
class LocalConfig:
    """Configuration of the local backend.

    Attributes:
        async_threads: threads serving ``arun`` (how many runs asyncio callers get at once).
        file_mb: the largest file a program may write (RLIMIT_FSIZE).
        uid_base: as root, each concurrent run gets its own uid from ``uid_base`` on.
        workspace_root: where run directories are created (default: the system temp folder).
    """

    async_threads: int = 4
    file_mb: int = 64
    uid_base: int = 62000
    workspace_root: str | None = None


class LocalSandbox(ThreadedSandbox):
    """Runs programs as local subprocesses with the isolation this host allows; safe from many threads."""

    def __init__(self, config: LocalConfig | None = None, *, isolation: HostIsolation | None = None) -> None:
        self.config = config or LocalConfig()
        super().__init__(async_threads=self.config.async_threads)
        self.isolation = isolation or probe()
        self._uids = UidAllocator(self.config.uid_base) if self.isolation.root else None
        warnings.warn("the local sandbox backend isolates less than Docker; missing: "
                      + "; ".join(self.isolation.missing()), WeakIsolationWarning, stacklevel=2)

    def run(self, request: RunRequest) -> RunResult:
        """Run one program in a fresh temporary directory and report what happened."""
        check(request)
        files, limits = files_as_bytes(request), request.limits
        uid = self._uids.acquire() if self._uids else None
        workspace = tempfile.mkdtemp(prefix="reasongym-sandbox-", dir=self.config.workspace_root)
        try:
            try:
                populate(workspace, files)
            except (BadFileName, OSError) as exc:
                return RunResult("error", None, "", "", 0.0, f"could not write the files: {exc}")
            if uid is not None:
                _chown_tree(workspace, uid)
            argv = self.isolation.wrap(request.command, uid=uid, memory_mb=limits.memory_mb, pids=limits.pids,
                                       timeout_s=limits.timeout_s, file_bytes=self.config.file_mb * 1024 * 1024)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workspace, "TMPDIR": workspace,
                   "LANG": "C.UTF-8"}
            outcome = supervise(argv, cwd=workspace, env=env, stdin=as_bytes(request.stdin),
                                timeout_s=limits.timeout_s, output_bytes=limits.output_bytes,
                                user=self.isolation.popen_user(uid))
        finally:
            clear(workspace, keep_root=False)
            if uid is not None and self._uids:
                self._uids.release(uid)
        status, exit_code, detail = classify(outcome, oom_killed=False, timeout_s=limits.timeout_s,
                                             output_bytes=limits.output_bytes)
        # The guest names statuses with plain strings (it cannot import the contract); they are STATUSES.
        return RunResult(cast(Status, status), exit_code, outcome.stdout.decode("utf-8", "replace"),
                         outcome.stderr.decode("utf-8", "replace"), outcome.duration_s, detail)


def _chown_tree(root: str, uid: int) -> None:
    """Give the run's uid its workspace (the host wrote the files as root)."""
    os.chown(root, uid, uid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)
