"""Tool calls in assistant text: the Hermes / Qwen ``<tool_call>`` protocol, parsed without exceptions.

A call is a JSON object between ``<tool_call>`` and ``</tool_call>``::

    <tool_call>
    {"name": "calculator", "arguments": {"expression": "2 + 2"}}
    </tool_call>

Several blocks may appear in one message, with any text around them. For compatibility with the
formats models were trained on, a block may also hold several objects (one per line, as ToolRL writes
them) or a JSON list of objects, ``"parameters"`` is accepted for ``"arguments"``, ``arguments`` may be a
JSON-encoded string (OpenAI style), and a Markdown code fence inside the block is ignored.

Whatever the model writes, :func:`parse_tool_calls` returns a :class:`ParsedAction`: the well-formed
calls, a readable :class:`CallError` per malformed block, and the text outside the blocks. Time and size
are bounded: one linear scan for the tags, blocks above ``max_call_chars`` are rejected unread, at most
``max_calls`` calls are read, and JSON nested too deeply to decode is a malformed call, not a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OPEN = "<tool_call>"
CLOSE = "</tool_call>"
#: the most calls read from one message; later blocks are reported as one error
MAX_CALLS = 32
#: the longest block (in characters) that is decoded at all
MAX_CALL_CHARS = 100_000
CALL_SHAPE = '{"name": "<tool name>", "arguments": {"<argument>": <value>, ...}}'


@dataclass(frozen=True)
class ToolCall:
    """One function call: the tool's name and its JSON arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """The call as a ``<tool_call>`` block (the inverse of :func:`parse_tool_calls`)."""
        body = json.dumps({"name": self.name, "arguments": self.arguments}, ensure_ascii=False)
        return f"{OPEN}\n{body}\n{CLOSE}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready ``{"name", "arguments"}`` dict (for ``info`` and logs)."""
        return {"name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class CallError:
    """A block that could not be read as a call; ``block`` counts blocks from 1 in the message."""

    block: int
    message: str

    def __str__(self) -> str:
        return f"tool call {self.block}: {self.message}"


@dataclass(frozen=True)
class ParsedAction:
    """What an assistant message contains in terms of tool calls."""

    calls: tuple[ToolCall, ...]
    errors: tuple[CallError, ...]
    #: how many ``<tool_call>`` openings were found (well-formed or not)
    blocks: int
    #: the message with every tool-call block removed (where a final answer or reply is looked for)
    text: str

    @property
    def ok(self) -> bool:
        """True when every block was a well-formed call."""
        return not self.errors


def parse_tool_calls(action: str, *, max_calls: int = MAX_CALLS, max_call_chars: int = MAX_CALL_CHARS) -> ParsedAction:
    """Find and decode every ``<tool_call>`` block of ``action`` (see the module docstring)."""
    calls: list[ToolCall] = []
    errors: list[CallError] = []
    outside: list[str] = []
    blocks = 0
    pos = 0
    while True:
        start = action.find(OPEN, pos)
        if start < 0:
            outside.append(action[pos:])
            break
        outside.append(action[pos:start])
        blocks += 1
        if len(calls) + len(errors) >= max_calls:
            errors.append(CallError(blocks, f"more than {max_calls} tool calls in one message; this one and "
                                            "the rest were ignored"))
            break
        body_start = start + len(OPEN)
        end = action.find(CLOSE, body_start)
        reopened = action.find(OPEN, body_start)
        if end < 0 or 0 <= reopened < end:
            errors.append(CallError(blocks, f"{OPEN} is never closed with {CLOSE}"))
            if reopened < 0:
                break
            pos = reopened
            continue
        found, error = _decode_block(action[body_start:end], max_call_chars)
        calls.extend(found[: max_calls - len(calls)])
        if error is not None:
            errors.append(CallError(blocks, error))
        pos = end + len(CLOSE)
    return ParsedAction(tuple(calls), tuple(errors), blocks, "".join(outside))


def _decode_block(body: str, max_chars: int) -> tuple[list[ToolCall], str | None]:
    """The calls of one block, and an error message when (part of) it is malformed."""
    body = _strip_fence(body.strip())
    if not body:
        return [], f"empty block; write {CALL_SHAPE}"
    if len(body) > max_chars:
        return [], f"the block is {len(body):,} characters long; the limit is {max_chars:,}"
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos = 0
    try:
        while pos < len(body):
            value, pos = decoder.raw_decode(body, pos)
            values.extend(value if isinstance(value, list) else [value])
            while pos < len(body) and body[pos] in " \t\r\n,":
                pos += 1
    except json.JSONDecodeError as exc:
        return [], f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); write {CALL_SHAPE}"
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        return [], f"unreadable JSON value ({exc})"
    except RecursionError:
        return [], "the JSON is nested too deeply to read"
    calls = []
    for value in values:
        call, error = _as_call(value)
        if error is not None:
            return calls, error
        calls.append(call)
    return calls, None


def _as_call(value: Any) -> tuple[ToolCall | None, str | None]:
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}; write {CALL_SHAPE}"
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, f'the call has no "name" string; write {CALL_SHAPE}'
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI-style: the arguments object encoded as a string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            return None, f'"arguments" of {name!r} is a string that is not a JSON object'
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None, f'"arguments" of {name!r} must be a JSON object, got {type(arguments).__name__}'
    return ToolCall(name.strip(), arguments), None


def _strip_fence(body: str) -> str:
    """Remove a Markdown code fence (```json ... ```) wrapped around the JSON."""
    if body.startswith("```") and body.endswith("```") and len(body) >= 6:
        first_newline = body.find("\n")
        if first_newline < 0:
            return body[3:-3].strip()
        return body[first_newline + 1: -3].strip()
    return body
