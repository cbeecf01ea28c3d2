"""Isolation helpers the test supervisors use inside the sandbox (standard library only).

A supervisor is the trusted process of a sandbox run: it reads the job (tests, secret token), deletes the
job file, and only then starts the untrusted candidate code in child processes created here. Why each
measure exists:

* ``make_undumpable``: a non-dumpable process cannot be read through ``/proc/<pid>/mem``, ``/fd`` or
  ``/environ`` nor ptraced by a process without ``CAP_SYS_PTRACE``, so a child running as the same
  user cannot fish the token or the tests out of the supervisor.
* ``child_uid``: when the supervisor is root, children run as a fresh, random, unprivileged uid with no
  supplementary groups. They then cannot read the supervisor's memory, signal it, open its private
  files, or be confused with any other process, which lets :func:`reap` kill every process they left.
* ``drop_capabilities`` (every child, before ``exec``): ``no_new_privs``, an empty capability bounding
  set and no capabilities, so even a child that still runs as root (when no other uid is usable)
  cannot use ``CAP_SYS_PTRACE`` to read the supervisor, nor regain privileges through ``exec``.
* ``take_job``: the job file is deleted before any candidate code starts, so it cannot be read from disk.
* ``emit``: the single result line carries the token; the run's caller credits nothing without it.

:func:`start_job` performs the opening every supervisor shares (undumpable, job taken, stdout silenced,
child uid chosen) and :meth:`Job.finish` the closing (the result line with the isolation report).

This file is copied into each sandbox workspace, so it must not import ``reasongym``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Sequence

RESULT_PREFIX = "@@reasongym-result"
JOB_FILE = "job.json"
#: children run as a uid drawn from this range: far above real accounts and user-namespace sub-uids
CHILD_UID_RANGE = (1_000_000_000, 2_000_000_000)

PR_CAPBSET_DROP = 24
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
LINUX_CAPABILITY_VERSION_3 = 0x20080522
MAX_CAPABILITY = 64


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def make_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)`` on Linux; ``False`` where that is unavailable."""
    return _LIBC is not None and hasattr(_LIBC, "prctl") and _LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def drop_capabilities() -> None:
    """Set ``no_new_privs``, empty the bounding set and clear every capability of this process.

    Runs in each child between ``fork`` and ``exec``. Raises when the capabilities could not be cleared
    while we are root, so that a root child holding ``CAP_SYS_PTRACE`` is never started.
    """
    if _LIBC is None or not hasattr(_LIBC, "capset"):
        if os.geteuid() == 0:
            raise OSError("cannot drop capabilities on this platform")
        return
    _LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    for capability in range(MAX_CAPABILITY):  # EINVAL past the last capability, EPERM without CAP_SETPCAP
        _LIBC.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for capabilities 0-31 and 32-63
    if _LIBC.capset(header, data) != 0 and os.geteuid() == 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def take_job(path: str = JOB_FILE) -> dict[str, Any]:
    """Read and delete the job file; a job that cannot be deleted is never run (the error propagates)."""
    with open(path, encoding="utf-8") as handle:
        job = json.load(handle)
    os.remove(path)
    return job


def _become(uid: int) -> bool:
    """In a forked child: drop to ``uid`` with no groups; True only when the drop verifiably happened."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    return os.getuid() == uid and os.geteuid() == uid and os.getgid() == uid


def _in_forked_child(action: Callable[[], None], uid: int | None) -> int:
    """Fork, drop to ``uid`` (unless ``None``) and run ``action`` there; return the child's wait status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child, which never returns
        code = 1
        try:
            if uid is None or _become(uid):
                action()
                code = 0
        except BaseException:
            code = 1
        os._exit(code)
    return os.waitpid(pid, 0)[1]


def _check_interpreter_usable() -> None:
    """Raise unless the current (dropped) user can start this interpreter and read its standard library."""
    if not (os.access(sys.executable, os.X_OK) and os.access(os.path.dirname(os.__file__), os.R_OK | os.X_OK)):
        raise PermissionError("the interpreter is not usable by an unprivileged user")


def child_uid() -> int | None:
    """A fresh uid for this run's children when we are root, may switch users, and that user can run
    this interpreter; else ``None`` (children then run as our own uid)."""
    if not hasattr(os, "fork") or os.geteuid() != 0:
        return None
    uid = secrets.randbelow(CHILD_UID_RANGE[1] - CHILD_UID_RANGE[0]) + CHILD_UID_RANGE[0]
    return uid if _in_forked_child(_check_interpreter_usable, uid) == 0 else None


def _check_capabilities_cleared() -> None:
    drop_capabilities()
    with open("/proc/self/status", encoding="ascii") as handle:
        effective = next(line.split()[1] for line in handle if line.startswith("CapEff:"))
    if int(effective, 16):
        raise PermissionError("capabilities remain")


def isolation_report(undumpable: bool, uid: int | None) -> dict[str, bool]:
    """What protects the supervisor from its children in this run (reported with the results)."""
    cleared = hasattr(os, "fork") and _in_forked_child(_check_capabilities_cleared, None) == 0
    return {"undumpable": undumpable, "separate_uid": uid is not None, "no_capabilities": cleared}


def reap(uid: int | None) -> None:
    """Kill every process running as ``uid`` (the run's own children and anything they left behind)."""
    if uid is not None:
        _in_forked_child(_kill_all_signallable, uid)


def _kill_all_signallable() -> None:
    """``kill(-1)``: every process the (already unprivileged) caller may signal, except itself."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def private_dir(uid: int | None) -> str:
    """A fresh ``0700`` directory owned by ``uid`` (or by us): the children's working directory."""
    path = tempfile.mkdtemp(prefix="rg-")
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def remove_dir(path: str) -> None:
    """Delete a directory tree made by :func:`private_dir`, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)


def child_env(home: str) -> dict[str, str]:
    """The whole environment of a child: nothing inherited beyond ``PATH``; a fixed hash seed, so that
    set and dict orders of string keys (and therefore printed output) are the same on every run."""
    return {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def spawn(argv: Sequence[str], *, uid: int | None, cwd: str, stdin: int | IO[Any], stdout: int | IO[Any],
          stderr: int | IO[Any], preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen:
    """Start an untrusted child as ``uid``, without capabilities, in its own session (so that its process
    group can be killed); ``preexec_fn`` runs in the child after the capabilities are dropped."""
    identity: dict[str, Any] = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}

    def prepare() -> None:
        drop_capabilities()
        if preexec_fn is not None:
            preexec_fn()

    return subprocess.Popen(list(argv), cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, env=child_env(cwd),
                            start_new_session=True, close_fds=True, preexec_fn=prepare, **identity)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the child's process group and collect the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def silence_stdout() -> int:
    """Point fd 1 at ``/dev/null`` (stray prints of test code) and return a private copy of the real fd 1."""
    real = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    return real


def emit(fd: int, token: str, payload: dict[str, Any]) -> None:
    """Write the one result line, ``<prefix> <token> <json>``, to ``fd``."""
    line = f"{RESULT_PREFIX} {token} {json.dumps(payload, ensure_ascii=True)}\n".encode()
    view = memoryview(line)
    while view:
        view = view[os.write(fd, view):]


@dataclass(frozen=True)
class Job:
    """A supervisor's job and what it set up to run it (see :func:`start_job`)."""

    spec: dict[str, Any]
    deadline: float  # time.monotonic() by which the whole job must end
    out: int  # the private copy of the real stdout
    uid: int | None  # the children's uid (None: the supervisor's own)
    undumpable: bool

    def finish(self, payload: dict[str, Any]) -> None:
        """Emit the result line: ``payload`` plus the isolation report."""
        emit(self.out, self.spec["token"], {**payload, "isolation": isolation_report(self.undumpable, self.uid)})


def start_job() -> Job:
    """Become undumpable, take (and delete) the job, silence stdout and choose the children's uid."""
    undumpable = make_undumpable()
    spec = take_job()
    deadline = time.monotonic() + float(spec["budget_s"])
    return Job(spec, deadline, silence_stdout(), child_uid(), undumpable)
