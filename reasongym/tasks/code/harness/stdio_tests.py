"""Supervisor of a standard-input/output run: the program once per test input, outputs sent back.

The job holds the program, the test inputs, a per-test output cap, time limits and the secret token.
Expected outputs never enter the sandbox: the caller compares what this supervisor reports. For each
test the program runs as an unprivileged child (see ``guard``) with its input file as stdin and its
stdout/stderr going to files in the supervisor's private directory; the child can write to them only
through the descriptors it was given, and cannot open the other tests' inputs. After each test every
process the child left behind is killed.

Statuses: ``ok`` (exit 0; the caller decides whether the output is right), ``error`` (non-zero exit or a
signal), ``timeout``, ``output_limit`` (more output than the cap), ``skipped`` (``fail_fast`` after a
crash or timeout, or the time budget used up).

Standard library only: this file is copied into each sandbox workspace.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from typing import Any, Callable

import guard

PROGRAM = "solution.py"
#: the smallest file-size limit (RLIMIT_FSIZE) of the program: past its output cap or this, whichever is
#: larger, a runaway printer is stopped by SIGXFSZ instead of filling the disk until its timeout
MIN_FILE_LIMIT_BYTES = 16 * 1024 * 1024
STDERR_TAIL_CHARS = 1000


def _file_size_limiter(cap: int) -> Callable[[], None]:
    limit = max(cap + 1, MIN_FILE_LIMIT_BYTES)
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _read_head(path: str, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _read_tail(path: str, size: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - size))
        return handle.read().decode("utf-8", "replace")


def run_one(program_dir: str, scratch: str, uid: int | None, stdin: str, cap: int, timeout: float) -> dict[str, Any]:
    """Run the program on one input and describe what happened."""
    paths = {name: os.path.join(scratch, name) for name in ("stdin", "stdout", "stderr")}
    with open(paths["stdin"], "w", encoding="utf-8") as handle:
        handle.write(stdin)
    with open(paths["stdin"], "rb") as inp, open(paths["stdout"], "wb") as out, open(paths["stderr"], "wb") as err:
        started = time.monotonic()
        try:
            process = guard.spawn([sys.executable, "-B", PROGRAM], uid=uid, cwd=program_dir, stdin=inp, stdout=out,
                                  stderr=err, preexec_fn=_file_size_limiter(cap))
        except (OSError, subprocess.SubprocessError) as exc:
            return {"status": "error", "stdout": "", "time_s": 0.0, "detail": f"could not start the program: {exc}"}
        try:
            code = process.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            code = None
        guard.kill_group(process)
        guard.reap(uid)
        elapsed = time.monotonic() - started
    stdout = _read_head(paths["stdout"], cap + 1)
    # the run directory's random name would make identical runs report different tracebacks
    stderr = _read_tail(paths["stderr"], STDERR_TAIL_CHARS).replace(program_dir + os.sep, "")
    result = {"stdout": stdout[:cap].decode("utf-8", "replace"), "time_s": round(elapsed, 4), "detail": ""}
    if len(stdout) > cap or code == -signal.SIGXFSZ:
        result.update(status="output_limit", detail=f"more than {cap} bytes of output")
    elif code is None:
        result.update(status="timeout", detail=f"no exit within {timeout:.1f} s")
    elif code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        result.update(status="error", detail=f"{how}\n{stderr}".strip())
    else:
        result.update(status="ok")
    return result


def main() -> None:
    run = guard.start_job()
    job, deadline, uid = run.spec, run.deadline, run.uid
    program_dir = guard.private_dir(uid)
    scratch = guard.private_dir(None)
    program = os.path.join(program_dir, PROGRAM)
    with open(program, "w", encoding="utf-8") as handle:
        handle.write(job["code"])
    os.chmod(program, 0o644)
    results: list[dict[str, Any]] = []
    try:
        for stdin, cap in zip(job["inputs"], job["caps"]):
            remaining = deadline - time.monotonic()
            if job["fail_fast"] and any(r["status"] != "ok" for r in results):
                results.append({"status": "skipped", "stdout": "", "time_s": 0.0,
                                "detail": "not run: an earlier test crashed or timed out"})
            elif remaining <= 0:
                results.append({"status": "skipped", "stdout": "", "time_s": 0.0,
                                "detail": "not run: the time budget was used up"})
            else:
                results.append(run_one(program_dir, scratch, uid, stdin, int(cap),
                                       min(float(job["timeout_s"]), remaining)))
    finally:
        guard.remove_dir(program_dir)
        guard.remove_dir(scratch)
    run.finish({"tests": results})


if __name__ == "__main__":
    main()
