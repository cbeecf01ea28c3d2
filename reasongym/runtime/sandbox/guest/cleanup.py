"""Return a container to a clean state after a run (used by the executor only, never on the host).

Inside the container every process but the executor belongs to the run, so cleanup is total: SIGKILL
everything else (``kill(-1)`` spares only the caller and init), reap the zombies, empty every writable
place (workspace, /tmp, /dev/shm, /dev/mqueue) and remove System V IPC objects, which outlive the
processes that made them. Any step that fails makes the container dirty, and the host replaces it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import time

from .workspace import clear

WRITABLE_PLACES = ("/workspace", "/tmp", "/dev/shm", "/dev/mqueue")
SWEEP_DEADLINE_S = 2.0
IPC_RMID = 0
_libc = ctypes.CDLL(None, use_errno=True)


def kill_others() -> bool:
    """SIGKILL and reap every process except this one; True when none is left."""
    me = os.getpid()
    deadline = time.monotonic() + SWEEP_DEADLINE_S
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError as exc:
            if exc.errno != errno.ESRCH:
                raise
        _reap()
        if not [pid for pid in _pids() if pid != me]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def wipe_writable() -> bool:
    """Empty every writable place; True when all of them are empty."""
    return all([clear(place, keep_root=True) for place in WRITABLE_PLACES])


def remove_sysv_ipc() -> bool:
    """Remove every System V shared-memory segment, message queue and semaphore set in the container."""
    removers = {"shm": lambda ident: _libc.shmctl(ident, IPC_RMID, None),
                "msg": lambda ident: _libc.msgctl(ident, IPC_RMID, None),
                "sem": lambda ident: _libc.semctl(ident, 0, IPC_RMID)}
    ok = True
    for kind, remove in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            ident = int(row.split()[1])
            if remove(ident) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.EIDRM):
                ok = False
    return ok
