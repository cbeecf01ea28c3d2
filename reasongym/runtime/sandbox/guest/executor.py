"""The sandbox container's main process: serve run requests one at a time over stdin/stdout.

Started as PID 1 of the container (``python3 -m guest.executor`` from ``/opt/sandbox``). It announces
itself with a ``ready`` frame, then for each request frame: creates a fresh ``/workspace/run``, writes
the files, runs the command under :mod:`.supervise` with the limits of :mod:`.limits`, cleans the
container (:mod:`.cleanup`), and answers with one result frame. ``clean: false`` in a result tells the
host to replace this container; ``oom_killed`` says the cgroup's OOM killer fired during the run.

Programs run as the same uid as the executor, so it protects itself: it is PID 1 with no signal
handlers (the kernel drops signals sent to it from inside its namespace, SIGKILL included) and it is
not dumpable (same-uid processes cannot ptrace it or open its /proc files, such as its stdin/stdout).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from .cleanup import kill_others, remove_sysv_ipc, wipe_writable
from .limits import limiter, oom_kills, set_dumpable
from .protocol import PROTOCOL_VERSION, encode_frame, read_frame, unpack_bytes
from .supervise import supervise
from .verdict import classify
from .workspace import BadFileName, populate

RUN_DIR = "/workspace/run"
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": RUN_DIR, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}


def main() -> int:
    """Serve until the host closes stdin."""
    _harden()
    _send({"ready": True, "protocol": PROTOCOL_VERSION, "oom_counter": oom_kills() is not None})
    while True:
        request = read_frame(_read_exact)
        if request is None:
            return 0
        try:
            reply = handle(request)
        except Exception as exc:  # a bug here must not kill PID 1: report it and let the host replace us
            reply = _failure(f"sandbox executor failed: {type(exc).__name__}: {exc}")
        _send(reply)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    """Run one request and return its result frame."""
    oom_before = oom_kills()
    try:
        os.mkdir(RUN_DIR, 0o700)
        populate(RUN_DIR, {name: unpack_bytes(data) for name, data in request["files"].items()})
    except (BadFileName, OSError) as exc:
        reply = _failure(f"could not write the files: {exc}")
        reply["clean"] = _clean()
        return reply
    outcome = supervise(request["argv"], cwd=RUN_DIR, env=CHILD_ENV, stdin=unpack_bytes(request["stdin"]),
                        timeout_s=request["timeout_s"], output_bytes=request["output_bytes"],
                        preexec_fn=limiter(memory_mb=request["memory_mb"], processes=request["processes"],
                                           file_bytes=request["file_bytes"], timeout_s=request["timeout_s"]))
    oom_after = oom_kills()
    oom_killed = oom_before is not None and oom_after is not None and oom_after > oom_before
    status, exit_code, detail = classify(outcome, oom_killed=oom_killed, timeout_s=request["timeout_s"],
                                         output_bytes=request["output_bytes"])
    return {"status": status, "exit_code": exit_code, "detail": detail, "duration_s": outcome.duration_s,
            "stdout": outcome.stdout.decode("utf-8", "replace"),
            "stderr": outcome.stderr.decode("utf-8", "replace"), "oom_killed": oom_killed, "clean": _clean()}


def _clean() -> bool:
    """Kill leftovers and empty every writable place; all steps run even if one fails."""
    results = [kill_others(), remove_sysv_ipc(), wipe_writable()]
    return all(results)


def _failure(detail: str) -> dict[str, Any]:
    return {"status": "error", "exit_code": None, "detail": detail, "duration_s": 0.0, "stdout": "",
            "stderr": "", "oom_killed": False, "clean": False}


def _harden() -> None:
    set_dumpable(False)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _read_exact(size: int) -> bytes | None:
    chunks, missing = [], size
    while missing:
        chunk = os.read(0, missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _send(message: dict[str, Any]) -> None:
    view = memoryview(encode_frame(message))
    while view:
        view = view[os.write(1, view):]


if __name__ == "__main__":
    sys.exit(main())
