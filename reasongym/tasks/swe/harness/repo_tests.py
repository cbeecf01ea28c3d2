"""Supervisor of a repository test run: trusted comparisons, repository code behind a process wall.

The job holds the repository's import statement, the modules to import, the cases (setup statements and
an expression each), their expectations (a value or an exception name), time limits and the secret token.
The supervisor:

1. makes itself non-dumpable, reads the job and deletes the job file;
2. copies the repository (``repo/`` in the workspace) into a private directory for the worker;
3. starts ``repo_worker.py`` there (as a fresh unprivileged uid when it can), which imports every module
   of the package (the load check) and then evaluates one case per request;
4. decodes each reply into plain built-in values and compares it with the expectation here, so the
   repository's code never sees an expected value and cannot answer for the supervisor;
5. writes the single result line with the token at the very end.

A case that overruns its time, crashes the worker, or returns something that cannot be decoded fails;
the worker is restarted for the next case. When the package cannot be imported, every case fails with
the load error. Standard library only: this file is copied into each sandbox workspace.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from typing import Any

import guard
from values import decode, read_frame, write_frame

REPO_DIR = "repo"
WORKER_DIR = "_harness"
WORKER_FILES = ("repo_worker.py", "values.py")
#: seconds granted to start the interpreter and import the package, on top of the per-case limit
LOAD_ALLOWANCE_S = 5.0
MAX_DETAIL_CHARS = 600
REL_TOL = 1e-9


def same(got: Any, want: Any) -> bool:
    """``got == want`` for plain values, with floats compared to a relative tolerance and bools kept
    apart from numbers."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=REL_TOL)
    if isinstance(want, (list, tuple)):
        return type(got) is type(want) and len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return type(got) is dict and got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + " ..."


class Worker:
    """The process evaluating cases against the repository's code, restarted after a failure."""

    def __init__(self, uid: int | None, home: str, setup: dict[str, Any], case_timeout: float, deadline: float):
        self._uid, self._home, self._setup = uid, home, setup
        self._case_timeout, self._deadline = case_timeout, deadline
        self._process: subprocess.Popen | None = None
        self.load_error: str | None = None

    def evaluate(self, case: dict[str, Any]) -> dict[str, Any]:
        """The worker's reply for one case, or ``{"status", "detail"}`` when there is none."""
        if self._process is None and not self.ready():
            return {"status": "error", "detail": self.load_error}
        started = time.monotonic()
        deadline = min(started + self._case_timeout, self._deadline)
        try:
            write_frame(self._process.stdin.fileno(), case)
            reply = read_frame(self._process.stdout.fileno(), deadline)
        except TimeoutError:
            self.stop()
            return {"status": "timeout", "detail": f"no result within {deadline - started:.1f} s"}
        except (EOFError, OSError, ValueError, RecursionError) as exc:
            self.stop()
            return {"status": "error", "detail": f"the process running the code ended ({type(exc).__name__})"}
        return reply if type(reply) is dict else {"status": "error", "detail": "malformed reply"}

    def ready(self) -> bool:
        """Start the worker and import the package; False (``load_error`` set) when that fails."""
        if self.load_error is not None:
            return False
        argv = [sys.executable, "-B", "-s", os.path.join(WORKER_DIR, "repo_worker.py")]
        self._process = guard.spawn(argv, uid=self._uid, cwd=self._home, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = min(time.monotonic() + self._case_timeout + LOAD_ALLOWANCE_S, self._deadline)
        try:
            write_frame(self._process.stdin.fileno(), self._setup)
            reply = read_frame(self._process.stdout.fileno(), deadline)
        except TimeoutError:
            self.load_error = "importing the package did not finish in time"
        except (EOFError, OSError, ValueError, RecursionError) as exc:
            self.load_error = f"the process importing the package ended ({type(exc).__name__})"
        else:
            if type(reply) is not dict or reply.get("ready") is not True:
                error = reply.get("error") if type(reply) is dict else None
                self.load_error = "importing the package failed:\n" + _shorten(str(error))
        if self.load_error is not None:
            self.stop()
            return False
        return True

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            guard.kill_group(process)
            process.stdin.close()
            process.stdout.close()


def judge(reply: dict[str, Any], expectation: dict[str, Any]) -> dict[str, str]:
    """A case's record from the worker's reply and the (trusted) expectation: ``status``, ``detail`` and,
    for a case that ran, ``observed`` (what the code did, e.g. ``returned 3`` or ``raised ValueError: ...``)."""
    if "status" in reply:
        return {"status": str(reply["status"]), "detail": _shorten(str(reply.get("detail", "")))}
    raises = expectation.get("raises")
    if "raised" in reply:
        names = reply["raised"] if type(reply["raised"]) is list else []
        error = str(reply.get("error", ""))
        if raises is not None and raises in names:
            return {"status": "passed", "detail": "", "observed": f"raised {raises}"}
        want = f"expected {raises}" if raises else "expected a value"
        last = error.strip().splitlines()[-1] if error.strip() else "an exception"
        return {"status": "failed", "detail": _shorten(f"{want}, but it raised {error}"),
                "observed": _shorten(f"raised {last}")}
    try:
        got = decode(reply.get("value"))
    except (ValueError, TypeError, RecursionError) as exc:
        return {"status": "error", "detail": f"unreadable result: {type(exc).__name__}"}
    observed = _shorten(f"returned {got!r}")
    if raises is not None:
        return {"status": "failed", "detail": _shorten(f"expected {raises} to be raised, got {got!r}"),
                "observed": observed}
    want = decode(expectation["value"])
    if same(got, want):
        return {"status": "passed", "detail": "", "observed": observed}
    return {"status": "failed", "detail": _shorten(f"expected {want!r}, got {got!r}"), "observed": observed}


def _worker_home(uid: int | None) -> str:
    """A private copy of the repository plus the worker's files, owned by the worker's uid."""
    home = guard.private_dir(uid)
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copytree(REPO_DIR, home, dirs_exist_ok=True)
    os.makedirs(os.path.join(home, WORKER_DIR))
    for name in WORKER_FILES:
        shutil.copyfile(os.path.join(here, name), os.path.join(home, WORKER_DIR, name))
    for folder, dirs, files in os.walk(home):
        for name in dirs + files:
            path = os.path.join(folder, name)
            os.chmod(path, 0o755 if name in dirs else 0o644)
            if uid is not None:
                os.chown(path, uid, uid)
    return home


def main() -> None:
    run = guard.start_job()
    job, deadline, uid = run.spec, run.deadline, run.uid
    home = _worker_home(uid)
    setup = {"imports": job["imports"], "modules": job["modules"]}
    worker = Worker(uid, home, setup, float(job["case_timeout_s"]), deadline)
    records: list[dict[str, str]] = []
    try:
        if not job["cases"]:  # a load check only
            worker.ready()
        for case, expectation in zip(job["cases"], job["expectations"]):
            if time.monotonic() >= deadline:
                records.append({"status": "skipped", "detail": "not run: the time budget was used up"})
                continue
            records.append(judge(worker.evaluate(case), expectation))
    finally:
        worker.stop()
        guard.reap(uid)
        guard.remove_dir(home)
    run.finish({"tests": records, "load_error": worker.load_error})


if __name__ == "__main__":
    main()
