"""Plain values across the process boundary between the test supervisor and the candidate's worker.

The worker (untrusted) encodes what the candidate returned; the supervisor (trusted) decodes it with
:func:`decode`, which can only build ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``,
``bytes``, ``list``, ``tuple``, ``dict``, ``set`` and ``frozenset``. Whatever the worker sends, the tests
therefore compare genuine built-in values: an object whose ``__eq__`` always answers ``True`` cannot
reach them, and a forged reply is no more than a returned value.

Frames are a 4-byte big-endian length followed by UTF-8 JSON. Standard library only: this file is
copied into each sandbox workspace.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any, Callable

#: the largest frame either side accepts (a reply holding a huge list is an error, not a hang)
MAX_FRAME = 64 * 1024 * 1024
_HEADER = struct.Struct(">I")


def encode(value: Any) -> Any:
    """A JSON-able form of ``value``; subclasses of built-in types become their base type."""
    if value is None or type(value) is bool:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, complex):
        return {"c": [value.real, value.imag]}
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).hex()}
    if isinstance(value, (list, tuple, set, frozenset)):
        tag = "l" if isinstance(value, list) else "t" if isinstance(value, tuple) else \
            "fs" if isinstance(value, frozenset) else "s"
        return {tag: [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars are plain numbers
        return encode(value.item())
    raise TypeError(f"a {type(value).__name__} cannot be returned across the test boundary; "
                    "return built-in values (numbers, strings, lists, tuples, dicts, sets)")


def decode(data: Any) -> Any:
    """Rebuild a value from :func:`encode` output, accepting nothing but the forms it produces."""
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is not dict or len(data) != 1:
        raise ValueError(f"malformed value of type {type(data).__name__}")
    (tag, payload), = data.items()
    if tag == "c":
        real, imag = payload
        return complex(_number(real), _number(imag))
    if tag == "b":
        return bytes.fromhex(_text(payload))
    items = [decode(v) for v in _array(payload)] if tag != "d" else None
    if tag == "l":
        return items
    if tag == "t":
        return tuple(items)
    if tag == "s":
        return set(items)
    if tag == "fs":
        return frozenset(items)
    if tag == "d":
        pairs = [_array(pair) for pair in _array(payload)]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("malformed dict entry")
        return {decode(k): decode(v) for k, v in pairs}
    raise ValueError(f"unknown value tag {tag!r}")


def _number(data: Any) -> float:
    if type(data) not in (int, float):
        raise ValueError("malformed number")
    return float(data)


def _text(data: Any) -> str:
    if type(data) is not str:
        raise ValueError("malformed text")
    return data


def _array(data: Any) -> list:
    if type(data) is not list:
        raise ValueError("malformed sequence")
    return data


def write_frame(fd: int, message: Any) -> None:
    """Send one JSON message on ``fd``."""
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view):]


def read_exactly(fd: int, size: int, deadline: float | None = None) -> bytes:
    """Read ``size`` bytes; ``EOFError`` when the other side closed early, ``TimeoutError`` when the
    ``time.monotonic()`` ``deadline`` passes first (``None`` waits forever)."""
    chunks = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError("no reply before the deadline")
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> Any:
    """Receive one JSON message from ``fd`` (see :func:`read_exactly` for ``deadline``)."""
    (size,) = _HEADER.unpack(read_exactly(fd, _HEADER.size, deadline))
    if size > MAX_FRAME:
        raise ValueError(f"message of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    return json.loads(read_exactly(fd, size, deadline).decode("utf-8"))


def take_channel() -> tuple[int, int]:
    """Move the request channel off fds 0/1 and point fds 0-2 at ``/dev/null``.

    Run by a worker before it touches untrusted code, so that code can neither read requests nor forge
    replies by printing. Returns the channel's ``(read_fd, write_fd)``.
    """
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return rfd, wfd


def answer_requests(rfd: int, wfd: int, handle: Callable[[Any], Any], too_large: Callable[[str], Any]) -> None:
    """Reply ``handle(request)`` to each request until the channel closes.

    A reply too large to send is replaced by ``too_large(reason)``.
    """
    while True:
        try:
            request = read_frame(rfd)
        except EOFError:
            return
        try:
            write_frame(wfd, handle(request))
        except ValueError as exc:  # the value is too large to send
            write_frame(wfd, too_large(str(exc)))
