"""Length-prefixed JSON frames: the wire format between the host and the in-container executor.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON holding one object.
Binary payloads (files, stdin) travel base64-encoded so any bytes survive JSON.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Callable

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 512 * 1024 * 1024
PROTOCOL_VERSION = 1


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """One message as a frame ready to write."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length announced by a 4-byte header; rejects absurd sizes."""
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return length


def decode_body(body: bytes) -> dict[str, Any]:
    """The message in a frame body."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame does not hold a JSON object")
    return message


def read_frame(read_exact: Callable[[int], bytes | None]) -> dict[str, Any] | None:
    """Read one message with ``read_exact(n)``, which returns n bytes or None at end of stream."""
    header = read_exact(HEADER.size)
    if header is None:
        return None
    body = read_exact(frame_length(header))
    if body is None:
        raise ProtocolError("stream ended inside a frame")
    return decode_body(body)


def pack_bytes(data: bytes) -> str:
    """Bytes as JSON-safe text."""
    return base64.b64encode(data).decode("ascii")


def unpack_bytes(text: str) -> bytes:
    """The bytes that :func:`pack_bytes` encoded."""
    return base64.b64decode(text.encode("ascii"), validate=True)
