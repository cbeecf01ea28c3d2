"""The candidate's side of a function-test run: load the candidate's code, then answer calls.

Started by the supervisor as an unprivileged child. Protocol (frames of :mod:`values` on fds 0 and 1):
the first message is ``{"prelude", "code", "entry_point"}``; the worker answers ``{"ready": true}`` or
``{"error": ...}``; then each ``{"args", "kwargs"}`` is answered with ``{"value": ...}`` or
``{"error": ...}``. Before any candidate code runs, the channel moves to private fds and fds 0-2 point
at ``/dev/null``, so the candidate's prints cannot corrupt the channel. Nothing here is trusted: the
candidate may rewrite this module at will, and it gains nothing by it, because the supervisor decodes
replies into plain values and never receives anything else.

Standard library only: this file is copied into each sandbox workspace.
"""

from __future__ import annotations

import sys
import traceback
import types

from values import answer_requests, decode, encode, read_frame, take_channel, write_frame

MAX_ERROR_CHARS = 2000
CODE_FILES = ("prompt.py", "solution.py")


def describe(exc: BaseException) -> str:
    """The exception with the traceback frames of the task's and the candidate's code only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in CODE_FILES]
    head = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) if frames else ""
    return (head + "".join(traceback.format_exception_only(type(exc), exc)))[-MAX_ERROR_CHARS:]


def load(setup: dict) -> object:
    """Run the task's prelude, then the candidate's code, as module ``solution``; return the entry point."""
    module = types.ModuleType("solution")
    module.__file__ = "solution.py"
    sys.modules["solution"] = module
    exec(compile(setup["prelude"], "prompt.py", "exec"), module.__dict__)
    exec(compile(setup["code"], "solution.py", "exec"), module.__dict__)
    function = module.__dict__.get(setup["entry_point"])
    if not callable(function):
        raise NameError(f"the code does not define a function named {setup['entry_point']!r}")
    return function


def serve() -> None:
    """Move the channel off fds 0/1, load the candidate, then answer calls until the channel closes."""
    rfd, wfd = take_channel()
    if hasattr(sys, "set_int_max_str_digits"):  # big integers are legitimate return values
        sys.set_int_max_str_digits(0)
    setup = read_frame(rfd)
    try:
        function = load(setup)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: loading failed
        write_frame(wfd, {"error": describe(exc)})
        return
    write_frame(wfd, {"ready": True})

    def call(request: dict) -> dict:
        try:
            return {"value": encode(function(*decode(request["args"]), **decode(request["kwargs"])))}
        except BaseException as exc:  # the call failed, whatever it raised
            return {"error": describe(exc)}

    answer_requests(rfd, wfd, call, lambda reason: {"error": reason})


if __name__ == "__main__":
    serve()
