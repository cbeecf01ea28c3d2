"""Tools an agent can call: a Python callable with a JSON schema, and a toolbox that runs calls safely.

Any typed, documented Python function becomes a tool::

    @tool
    def convert(amount: float, currency: Literal["EUR", "USD"]) -> str:
        \"\"\"Convert an amount of money.

        Args:
            amount: how much money.
            currency: the target currency.
        \"\"\"

or ``Tool.from_function(fn, name=..., description=...)``. A :class:`Toolbox` dispatches parsed
:class:`~reasongym.tasks.tools.calls.ToolCall` objects: unknown tools and arguments that do not match the
schema are answered with an error message and never reach the function; an exception raised by the
function becomes an error message too (:class:`ToolError` for expected failures, whose message is shown
as is). Only :class:`ToolUnavailable` (the tool's backend is down) propagates. Results are turned into
text and cut at ``max_result_chars``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, overload

from reasongym.tasks.tools.calls import ToolCall
from reasongym.tasks.tools.schema import function_schema, validate_arguments

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
DEFAULT_MAX_RESULT_CHARS = 4000


class ToolError(Exception):
    """An expected tool failure (file not found, bad expression); its message is shown to the agent."""


class ToolUnavailable(RuntimeError):
    """The tool cannot run at all (its backend is missing or broken): not the agent's doing, so it
    propagates out of :meth:`Toolbox.run` instead of becoming a message."""


@dataclass(frozen=True)
class Tool:
    """A callable the agent may invoke by name with JSON arguments.

    Attributes:
        name: the name calls use (letters, digits, ``_ . -``; at most 64 characters).
        description: what the tool does, shown to the agent.
        parameters: a JSON schema of type ``object`` describing the arguments.
        fn: called with the validated arguments as keyword arguments.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid tool name {self.name!r}: use letters, digits, '_', '.', '-' (at most 64)")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: parameters must be a JSON schema of type 'object'")

    @classmethod
    def from_function(cls, fn: Callable[..., Any], *, name: str | None = None,
                      description: str | None = None) -> Tool:
        """A tool whose schema is read from ``fn``'s signature, type hints and docstring."""
        schema = function_schema(fn, name=name, description=description)
        return cls(schema["name"], schema["description"], schema["parameters"], fn)

    def spec(self) -> dict[str, Any]:
        """The OpenAI / Qwen tool entry: ``{"type": "function", "function": {name, description, parameters}}``."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def __call__(self, **arguments: Any) -> Any:
        """Call the underlying function directly (no validation), as if it were not a tool."""
        return self.fn(**arguments)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         description: str | None = None) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorator: ``@tool`` or ``@tool(name=..., description=...)`` turns a function into a :class:`Tool`."""
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description)
    return lambda f: Tool.from_function(f, name=name, description=description)


@dataclass(frozen=True)
class ToolResult:
    """What one call returned: its text, and whether it succeeded."""

    call: ToolCall
    ok: bool
    content: str


def as_tool(item: Tool | Callable[..., Any]) -> Tool:
    """``item`` itself when it is a :class:`Tool`, else ``Tool.from_function(item)``."""
    return item if isinstance(item, Tool) else Tool.from_function(item)


class Toolbox:
    """A set of tools with unique names, and the safe way to run calls against them."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]], *, max_result_chars: int = DEFAULT_MAX_RESULT_CHARS):
        self.tools: dict[str, Tool] = {}
        for item in tools:
            t = as_tool(item)
            if t.name in self.tools:
                raise ValueError(f"two tools are named {t.name!r}")
            self.tools[t.name] = t
        self.max_result_chars = max_result_chars

    def specs(self) -> list[dict[str, Any]]:
        """Every tool's entry for the system prompt, in registration order."""
        return [t.spec() for t in self.tools.values()]

    def run(self, call: ToolCall) -> ToolResult:
        """Validate and execute ``call``; never raises for anything the agent or the tool did."""
        found = self.tools.get(call.name)
        if found is None:
            available = ", ".join(self.tools) or "none"
            return ToolResult(call, False,
                              f"Error: there is no tool named {call.name!r}. Available tools: {available}.")
        problems = validate_arguments(call.arguments, found.parameters)
        if problems:
            listed = "; ".join(problems[:5])
            return ToolResult(call, False, f"Error: invalid arguments for {call.name}: {listed}.")
        try:
            value = found.fn(**call.arguments)
        except ToolUnavailable:
            raise
        except ToolError as exc:
            return ToolResult(call, False, self._cut(f"Error: {exc}"))
        except Exception as exc:  # a tool's own bug or a user tool's exception: report it, keep the episode
            return ToolResult(call, False, self._cut(f"Error: {call.name} raised {type(exc).__name__}: {exc}"))
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        return ToolResult(call, True, self._cut(text))

    def _cut(self, text: str) -> str:
        if len(text) > self.max_result_chars:
            cut = len(text) - self.max_result_chars
            text = f"{text[: self.max_result_chars]}\n... [{cut:,} more characters not shown]"
        return text
