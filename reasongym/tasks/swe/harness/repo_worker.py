"""The repository's side of a test run: import the package, then evaluate one case per request.

Started by ``repo_tests.py`` in a private copy of the repository. Protocol (frames of :mod:`values` on
fds 0 and 1): the first message is ``{"imports", "modules"}``; the worker imports every module and answers
``{"ready": true}`` or ``{"error": ...}``; then each ``{"name", "setup", "expr"}`` is answered with
``{"value": ...}`` or ``{"raised": [class names of the exception's MRO], "error": ...}``. Before any
repository code runs, the channel moves to private fds and fds 0-2 point at ``/dev/null``, so prints
cannot corrupt it. Nothing here is trusted: the repository's code may rewrite this module, and it gains
nothing by it, because the supervisor decodes replies into plain values and holds the expectations.

Standard library only: this file is copied into each sandbox workspace.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from values import answer_requests, encode, read_frame, take_channel, write_frame

MAX_ERROR_CHARS = 1200


def _own_frame(filename: str) -> bool:
    """Frames of this file and of the import machinery, which say nothing about the repository."""
    return filename.endswith("repo_worker.py") or filename.startswith("<frozen") or "/importlib/" in filename


def describe(exc: BaseException) -> str:
    """The exception with the frames of the repository's code and of the case only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _own_frame(f.filename)]
    head = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) if frames else ""
    text = head + "".join(traceback.format_exception_only(type(exc), exc))
    return text.replace(os.getcwd() + os.sep, "")[-MAX_ERROR_CHARS:]  # repository paths, not the private copy's


def run_case(imports: str, case: dict) -> dict:
    """Evaluate one case in a fresh namespace."""
    namespace: dict = {"__name__": "case"}
    try:
        exec(compile(imports, "<imports>", "exec"), namespace)
        exec(compile(case["setup"], "<setup>", "exec"), namespace)
        value = eval(compile(case["expr"], f"<{case['name']}>", "eval"), namespace)
    except BaseException as exc:  # whatever the code raised, SystemExit included, is the case's result
        return {"raised": [cls.__name__ for cls in type(exc).__mro__], "error": describe(exc)}
    try:
        return {"value": encode(value)}
    except (TypeError, RecursionError) as exc:
        return {"raised": [], "error": f"{type(exc).__name__}: {exc}"}


def serve() -> None:
    """Move the channel off fds 0/1, import the package, then answer cases until the channel closes."""
    rfd, wfd = take_channel()
    sys.path.insert(1, os.getcwd())
    setup = read_frame(rfd)
    try:
        for module in setup["modules"]:
            importlib.import_module(module)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: loading failed
        write_frame(wfd, {"error": describe(exc)})
        return
    write_frame(wfd, {"ready": True})
    answer_requests(rfd, wfd, lambda case: run_case(setup["imports"], case),
                    lambda reason: {"raised": [], "error": reason})


if __name__ == "__main__":
    serve()
