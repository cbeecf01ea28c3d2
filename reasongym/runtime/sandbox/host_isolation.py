"""What isolation the host allows the local backend, and the command prefix that applies it.

Tools used (util-linux, present on any Debian): ``prlimit`` sets rlimits and ``unshare`` makes new
network and PID namespaces. A fresh PID namespace is what makes cleanup complete here: the program is
its init, so when it exits or is killed the kernel kills every process it left behind. As root, each
run also gets its own unprivileged uid. Both are exec'd wrappers rather than a ``preexec_fn``, which is
unsafe in a multi-threaded host. What the host does not allow is listed, for the warning.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
from dataclasses import dataclass

MIB = 1024 * 1024
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HostIsolation:
    """The wrappers available on this host.

    Attributes:
        prlimit: path of ``prlimit``, or "" when rlimits cannot be applied.
        unshare: the ``unshare`` argv prefix (new network and PID namespaces), or () when unavailable.
        root: whether we run as root; then every run gets its own uid (``unshare --setuid`` or Popen's).
    """

    prlimit: str
    unshare: tuple[str, ...]
    root: bool

    def missing(self) -> list[str]:
        """The protections this host cannot give, in words."""
        gaps = ["filesystem isolation (the program sees the host's files as its user may; /tmp is shared)",
                "cgroup memory/CPU/pids limits (only per-process rlimits)"]
        if not self.prlimit:
            gaps.append("rlimits (prlimit not found)")
        if not self.unshare:
            gaps.append("network isolation and complete cleanup (unshare of network+PID namespaces failed)")
        if not self.root:
            gaps.append("a dedicated uid and a process-count limit (not running as root)")
        return gaps

    def wrap(self, command: tuple[str, ...], *, uid: int | None, memory_mb: int, pids: int, timeout_s: float,
             file_bytes: int) -> list[str]:
        """The argv running ``command`` under every available wrapper."""
        argv: list[str] = []
        if self.prlimit:
            cpu_s = math.ceil(timeout_s) + 1
            argv += [self.prlimit, f"--as={memory_mb * MIB}", f"--cpu={cpu_s}:{cpu_s + 1}",
                     f"--fsize={file_bytes}", "--core=0"]
            if uid is not None:
                argv.append(f"--nproc={pids}")  # counts per uid: only meaningful with a dedicated one
            argv.append("--")
        if self.unshare:
            argv += self.unshare
            if uid is not None:
                argv += [f"--setgid={uid}", f"--setuid={uid}"]
            argv.append("--")
        return argv + list(command)

    def popen_user(self, uid: int | None) -> int | None:
        """The uid Popen itself must switch to: when ``unshare`` cannot do it."""
        return uid if uid is not None and not self.unshare else None


@functools.lru_cache(maxsize=1)
def probe() -> HostIsolation:
    """Find out once per process what this host allows."""
    root = os.geteuid() == 0
    prlimit = shutil.which("prlimit") or ""
    unshare_path = shutil.which("unshare")
    unshare: tuple[str, ...] = ()
    if unshare_path:
        namespaces = ("--net", "--pid", "--fork", "--kill-child")
        user_ns = () if root else ("--user", "--map-root-user")
        candidate = (unshare_path, *user_ns, *namespaces)
        test = [*candidate, *(["--setgid=65534", "--setuid=65534"] if root else []), "--", "true"]
        if _succeeds(test):
            unshare = candidate
    return HostIsolation(prlimit=prlimit, unshare=unshare, root=root)


def _succeeds(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=PROBE_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
