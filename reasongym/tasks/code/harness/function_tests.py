"""Supervisor of a function-test run (HumanEval style): trusted tests, candidate behind a process wall.

The job holds the task's prelude (its prompt code: imports and helper functions), the test module with
each test statement of ``check`` instrumented (see ``reasongym.tasks.code.humaneval.instrument``), the
candidate's code, the entry point's name, time limits and the secret token. The supervisor:

1. makes itself non-dumpable, reads the job and deletes the job file;
2. runs the prelude and the test module in its own namespace: the candidate's code never runs here;
3. calls ``check(candidate)`` where ``candidate`` (also bound to the entry point's name, as in the
   original harness) is a proxy: each call is sent to a worker process that runs the candidate's code
   as an unprivileged user, and the reply is decoded into plain built-in values;
4. records every test's status, and writes the single result line with the token at the very end.

A call that raises, crashes the worker, or overruns its time fails the test it belongs to, even if the
test code caught the exception. The worker is restarted for the next call after a crash or a timeout;
if the code cannot be loaded at all, every test fails with the load error.

Standard library only: this file is copied into each sandbox workspace.
"""

from __future__ import annotations

import builtins
import os
import reprlib
import shutil
import subprocess
import sys
import time
from typing import Any

import guard
from values import decode, encode, read_frame, write_frame

WORKER_FILES = ("call_worker.py", "values.py")
#: seconds granted to start the interpreter and load the code, on top of the per-call limit
LOAD_ALLOWANCE_S = 5.0
MAX_DETAIL_CHARS = 1500
#: seconds a worker that closed its channel gets to exit, so that its exit code can be reported
EXIT_GRACE_S = 0.5

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 120
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 12


class CandidateFailure(Exception):
    """A call to the candidate returned no value: it raised, crashed, timed out, or the code never loaded."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Worker:
    """One live worker process running the candidate's code."""

    def __init__(self, uid: int | None, home: str):
        self.process = guard.spawn([sys.executable, "-B", "call_worker.py"], uid=uid, cwd=home,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def request(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send one message and wait for the reply until ``deadline``."""
        write_frame(self.process.stdin.fileno(), message)
        reply = read_frame(self.process.stdout.fileno(), deadline)
        if type(reply) is not dict:
            raise ValueError("malformed reply")
        return reply

    def stop(self, grace_s: float = 0.0) -> int | None:
        """Kill the worker's process group, after ``grace_s`` seconds for it to exit by itself; return its
        own exit code if it did."""
        try:
            code: int | None = self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            code = None
        guard.kill_group(self.process)
        self.process.stdin.close()
        self.process.stdout.close()
        return code


class Candidate:
    """What the tests call in place of the candidate's function."""

    def __init__(self, setup: dict[str, str], uid: int | None, home: str, call_timeout: float,
                 deadline: float, recorder: Recorder):
        self._setup = setup
        self._uid = uid
        self._home = home
        self._call_timeout = call_timeout
        self._deadline = deadline
        self._recorder = recorder
        self._worker: Worker | None = None
        self.load_error: CandidateFailure | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            value = self._call(args, kwargs)
        except CandidateFailure as failure:
            self._recorder.note_failure(failure)
            raise
        self._recorder.note_call(args, kwargs, value)
        return value

    def _call(self, args: tuple, kwargs: dict) -> Any:
        worker = self._ready_worker()
        started = time.monotonic()
        deadline = min(started + self._call_timeout, self._deadline)
        try:
            reply = worker.request({"args": encode(list(args)), "kwargs": encode(kwargs)}, deadline)
        except TimeoutError:
            self._discard()
            raise CandidateFailure("timeout", f"no result within {deadline - started:.1f} s") from None
        except (EOFError, OSError) as exc:
            code = self._discard(EXIT_GRACE_S)
            raise CandidateFailure("error", f"the process running the code ended during the call "
                                            f"(exit code {code}; {type(exc).__name__})") from None
        except (ValueError, RecursionError) as exc:  # a malformed or absurdly nested reply
            self._discard()
            raise CandidateFailure("error", f"unreadable reply: {type(exc).__name__}") from None
        if "error" in reply:
            raise CandidateFailure("error", str(reply["error"])[-MAX_DETAIL_CHARS:])
        try:
            return decode(reply.get("value"))
        except (ValueError, TypeError, RecursionError) as exc:
            raise CandidateFailure("error", f"unreadable return value: {type(exc).__name__}: {exc}") from None

    def _ready_worker(self) -> Worker:
        if self.load_error is not None:
            raise self.load_error
        if self._worker is None:
            try:
                self._worker = Worker(self._uid, self._home)
            except (OSError, subprocess.SubprocessError) as exc:
                self.load_error = CandidateFailure("error", f"could not start the worker process: {exc}")
                raise self.load_error from None
            deadline = min(time.monotonic() + self._call_timeout + LOAD_ALLOWANCE_S, self._deadline)
            try:
                reply = self._worker.request(self._setup, deadline)
            except TimeoutError:
                self.load_error = CandidateFailure("timeout", "the code did not finish loading in time")
            except (EOFError, OSError, ValueError, RecursionError) as exc:
                code = self._discard(EXIT_GRACE_S)
                self.load_error = CandidateFailure("error", f"the process running the code ended while "
                                                            f"loading it (exit code {code}; {type(exc).__name__})")
            else:
                if reply.get("ready") is not True:
                    self.load_error = CandidateFailure("error", "the code failed to load:\n"
                                                       + str(reply.get("error"))[-MAX_DETAIL_CHARS:])
            if self.load_error is not None:
                self._discard()
                raise self.load_error
        return self._worker

    def _discard(self, grace_s: float = 0.0) -> int | None:
        """Stop the current worker (the next call starts a fresh one); return its own exit code, if any."""
        worker, self._worker = self._worker, None
        return worker.stop(grace_s) if worker is not None else None

    def close(self) -> None:
        self._discard()


class Recorder:
    """Per-test outcomes, fed by the instrumented ``check`` (``__rg_begin``/``__rg_end``) and the proxy."""

    def __init__(self, n_tests: int, fail_fast: bool, deadline: float):
        self.results: list[dict[str, str] | None] = [None] * n_tests
        self._fail_fast = fail_fast
        self._deadline = deadline
        self._failure: CandidateFailure | None = None
        self._last_call = ""

    def begin(self, index: int) -> bool:
        """Whether test ``index`` should run; a skipped test is recorded here."""
        if self._fail_fast and any(r is not None and r["status"] != "passed" for r in self.results):
            self.results[index] = {"status": "skipped", "detail": "not run: an earlier test failed"}
            return False
        if time.monotonic() >= self._deadline:
            self.results[index] = {"status": "skipped", "detail": "not run: the time budget was used up"}
            return False
        self._failure = None
        self._last_call = ""
        return True

    def note_call(self, args: tuple, kwargs: dict, value: Any) -> None:
        shown = [_short.repr(a) for a in args] + [f"{k}={_short.repr(v)}" for k, v in kwargs.items()]
        self._last_call = f"candidate({', '.join(shown)}) returned {_short.repr(value)}"

    def note_failure(self, failure: CandidateFailure) -> None:
        if self._failure is None:
            self._failure = failure

    def end(self, index: int, error: BaseException | None) -> None:
        """Record test ``index``: a failed call wins over whatever the test code made of it."""
        if self._failure is not None:
            result = {"status": self._failure.status, "detail": self._failure.detail}
        elif error is None:
            result = {"status": "passed", "detail": ""}
        else:
            message = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
            parts = [p for p in (message, self._last_call) if p]
            result = {"status": "failed", "detail": "; ".join(parts)[:MAX_DETAIL_CHARS]}
        self.results[index] = result

    def finish(self, reason: str) -> list[dict[str, str]]:
        """All results, tests that never ran marked with ``reason``."""
        return [r if r is not None else {"status": "error", "detail": reason} for r in self.results]


def _worker_home(uid: int | None) -> str:
    home = guard.private_dir(uid)
    here = os.path.dirname(os.path.abspath(__file__))
    for name in WORKER_FILES:
        target = os.path.join(home, name)
        shutil.copyfile(os.path.join(here, name), target)
        os.chmod(target, 0o644)
    return home


def main() -> None:
    run = guard.start_job()
    job, deadline, uid = run.spec, run.deadline, run.uid
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
    home = _worker_home(uid)
    recorder = Recorder(int(job["n_tests"]), bool(job["fail_fast"]), deadline)
    setup = {"prelude": job["prelude"], "code": job["code"], "entry_point": job["entry_point"]}
    candidate = Candidate(setup, uid, home, float(job["call_timeout_s"]), deadline, recorder)
    namespace: dict[str, Any] = {"__name__": "tests", "__builtins__": builtins}
    unfinished = "not run: the test code stopped early"
    try:
        exec(compile(job["prelude"], "prompt.py", "exec"), namespace)
        exec(compile(job["tests"], "tests.py", "exec"), namespace)
        namespace.update({job["entry_point"]: candidate, "__rg_begin": recorder.begin, "__rg_end": recorder.end})
        namespace["check"](candidate)
    except Exception as exc:  # the task's own test code failed outside any test statement
        unfinished = f"not run: the test code failed: {type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]
    finally:
        candidate.close()
        guard.reap(uid)
        guard.remove_dir(home)
    load_error = candidate.load_error.detail if candidate.load_error is not None else None
    run.finish({"tests": recorder.finish(unfinished), "load_error": load_error})


if __name__ == "__main__":
    main()
