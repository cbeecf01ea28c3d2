"""JSON schemas for Python functions, and validation of call arguments against them.

:func:`function_schema` reads a function's signature, type hints and docstring (Google ``Args:`` or
reST ``:param x:`` style) and returns the ``{"name", "description", "parameters"}`` object that chat
templates put in the tools section of the system prompt. Parameters without a default are required.

:func:`validate_arguments` checks decoded JSON arguments against such a ``parameters`` schema (the subset
of JSON Schema that function schemas use: ``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``enum``, ``anyOf``) and returns readable error strings, so that a
tool is never invoked with arguments it did not declare.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Callable

_SIMPLE_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_ARRAY_ORIGINS = (list, tuple, set, frozenset, Sequence, typing.Sequence)
_OBJECT_ORIGINS = (dict, Mapping, typing.Mapping)
_GOOGLE_SECTIONS = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_GOOGLE_PARAM = re.compile(r"^\s*\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def json_type(annotation: Any) -> dict[str, Any]:
    """The JSON schema of a type hint; ``TypeError`` for hints with no JSON form."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    if annotation in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[annotation]}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_schema([member.value for member in annotation])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin is typing.Union or origin is types.UnionType:
        options = [json_type(a) for a in args]
        return {"anyOf": options}
    if annotation in _ARRAY_ORIGINS or origin in _ARRAY_ORIGINS:
        items = [a for a in args if a is not Ellipsis]
        schema: dict[str, Any] = {"type": "array"}
        if len(set(items)) == 1:
            schema["items"] = json_type(items[0])
        return schema
    if annotation in _OBJECT_ORIGINS or origin in _OBJECT_ORIGINS:
        schema = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = json_type(args[1])
        return schema
    raise TypeError(f"type hint {annotation!r} has no JSON schema; use str, int, float, bool, list, dict, "
                    "Literal, an Enum, or unions of these")


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {_SIMPLE_TYPES.get(type(v)) for v in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    return schema


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(summary, {parameter: description})`` from a Google- or reST-style docstring.

    The summary is the first paragraph; parameter descriptions may continue on indented lines.
    """
    summary: list[str] = []
    params: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    param_indent: int | None = None
    for line in inspect.cleandoc(doc or "").splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if rest := _REST_PARAM.match(line):
            section, current = "args", rest.group(1)
            params[current] = rest.group(2).strip()
        elif header := _GOOGLE_SECTIONS.match(line):
            section = "args" if header.group(1).lower() in ("args", "arguments", "parameters") else "other"
            current, param_indent = None, None
        elif section == "summary":
            if stripped.startswith(":"):
                section = "other"
            elif stripped or summary:
                summary.append(stripped)
        elif section == "args" and stripped.startswith(":"):
            section, current = "other", None
        elif section == "args" and (google := _GOOGLE_PARAM.match(line)) and indent <= (param_indent or indent):
            current, param_indent = google.group(1), indent
            params[current] = google.group(2).strip()
        elif section == "args" and current is not None and stripped:
            params[current] = f"{params[current]} {stripped}".strip()
    paragraph = summary[: summary.index("")] if "" in summary else summary
    return " ".join(paragraph), params


def function_schema(fn: Callable[..., Any], *, name: str | None = None,
                    description: str | None = None) -> dict[str, Any]:
    """``{"name", "description", "parameters"}`` for ``fn`` (see the module docstring).

    ``*args`` are not supported (a JSON call has named arguments only); ``**kwargs`` lets a call carry
    arguments the schema does not list (``additionalProperties`` is then left open).
    """
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    summary, docs = parse_docstring(inspect.getdoc(fn))
    properties: dict[str, Any] = {}
    required: list[str] = []
    open_ended = False
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL or param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"{fn.__qualname__}: parameter {param.name!r} cannot be passed by name from JSON")
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
            continue
        schema = dict(json_type(hints.get(param.name, inspect.Parameter.empty)))
        if param.name in docs:
            schema["description"] = docs[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        elif param.default is None or isinstance(param.default, (str, int, float, bool)):
            schema["default"] = param.default
        properties[param.name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if not open_ended:
        parameters["additionalProperties"] = False
    return {"name": name or fn.__name__, "description": description or summary, "parameters": parameters}


def validate_arguments(arguments: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[str]:
    """Readable errors for ``arguments`` under the ``parameters`` object schema (empty when valid)."""
    return _validate(arguments, parameters, "arguments")


def _validate(value: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    if "anyOf" in schema:
        if any(not _validate(value, option, where) for option in schema["anyOf"]):
            return []
        return [f"{where} does not match any of the allowed forms"]
    if "enum" in schema and not any(_same(value, allowed) for allowed in schema["enum"]):
        return [f"{where} must be one of {schema['enum']}, got {value!r}"]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_has_type(value, k) for k in kinds):
        return [f"{where} must be of type {' or '.join(kinds)}, got {_json_kind(value)}"]
    if isinstance(value, dict):
        return _validate_object(value, schema, where)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [error for i, item in enumerate(value) for error in _validate(item, schema["items"], f"{where}[{i}]")]
    return []


def _validate_object(value: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> list[str]:
    properties = schema.get("properties", {})
    errors = [f"{where} is missing the required {name!r}" for name in schema.get("required", ()) if name not in value]
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        path = f"{where}.{key}" if where != "arguments" else repr(key)
        if key in properties:
            errors += _validate(item, properties[key], path)
        elif extra is False:
            known = ", ".join(properties) or "none"
            errors.append(f"unknown argument {path} (known: {known})" if where == "arguments"
                          else f"{where} has an unknown key {key!r}")
        elif isinstance(extra, Mapping):
            errors += _validate(item, extra, path)
    return errors


def _has_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    checks: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool, "array": (list, tuple),
                                                  "object": dict, "null": type(None)}
    return kind not in checks or isinstance(value, checks[kind])


def _json_kind(value: Any) -> str:
    for kind in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _has_type(value, kind):
            return kind
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equality that does not confuse ``True`` with ``1`` (but lets ``2 == 2.0``)."""
    if _has_type(a, "number") and _has_type(b, "number"):
        return a == b
    return type(a) is type(b) and a == b
