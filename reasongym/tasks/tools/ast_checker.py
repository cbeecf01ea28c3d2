"""A BFCL-style AST checker: are the predicted calls the ones the question asks for?

Ground truth is BFCL's ``possible_answer`` format: one ``{function name: {parameter: [accepted values]}}``
dict per expected call, where ``""`` among the accepted values marks a parameter that may be omitted.
The rules follow the Berkeley Function Calling Leaderboard's Python AST evaluation:

* the function name matches exactly, and the function is one of those offered;
* every parameter the schema lists as required is present; none is unknown (absent from the schema or
  from the possible answers); one that is absent must have ``""`` among its accepted values;
* types follow the schema's BFCL type names mapped to Python (``string``, ``integer``, ``float``,
  ``boolean``, ``array``/``tuple`` -> list, ``dict``, ``any``); an ``int`` is accepted for ``float``
  (also inside arrays), a ``bool`` is never an ``integer``; array items are checked one level deep; a
  value of the type the possible answers use is accepted too (BFCL's "variable" case);
* the value is among the accepted ones. Strings compare case-, whitespace- and punctuation-insensitively
  (``,./-_*^`` are removed, ``'`` reads as ``"``), also inside lists and dicts; lists compare in order;
  dicts key by key (keys whose accepted values hold ``""`` may be left out); lists of dicts item by item.

Several expected calls (parallel categories) are matched to the predicted calls in any order through a
maximum assignment, so the verdict never depends on the order of the calls (BFCL's greedy pass can).
The number of calls must equal the number of expected calls; no expected call (irrelevance) means the
only correct prediction is no call at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from reasongym.tasks.tools.calls import ToolCall
from reasongym.tasks.tools.matching import max_weight_assignment

#: BFCL type names -> the Python type a JSON-decoded value must have (``any`` accepts every value)
PYTHON_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list,
                                 "tuple": list, "dict": dict}
_NESTED = ("array", "tuple")
_IGNORED = re.compile(r"[\s,./\-_*^]")

GroundTruth = Sequence[Mapping[str, Mapping[str, Sequence[Any]]]]


@dataclass(frozen=True)
class AstVerdict:
    """The checker's answer: ``valid``, and for a rejection a message and BFCL-like error type."""

    valid: bool
    error: str = ""
    error_type: str = ""


PASS = AstVerdict(True)


def standardize(text: str) -> str:
    """BFCL's string normalisation: drop whitespace and ``,./-_*^``, lower-case, ``'`` -> ``"``."""
    return _IGNORED.sub("", text).lower().replace("'", '"')


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        return standardize(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _equal(a: Any, b: Any) -> bool:
    """Structural equality in which ``True`` is not ``1`` and ``2 == 2.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _among(value: Any, accepted: Sequence[Any]) -> bool:
    canonical = _canonical(value)
    return any(_equal(canonical, _canonical(option)) for option in accepted)


def _has_type(value: Any, type_name: str | None) -> bool:
    expected = PYTHON_TYPES.get(type_name or "any")
    if expected is None:
        return True
    if expected is float:
        return type(value) in (int, float)
    return type(value) is expected


def _answer_type(accepted: Sequence[Any]) -> type | None:
    """The type of the first accepted value that is not the omission marker ``""``."""
    return next((type(a) for a in accepted if a != ""), None)


def check_value(param: str, value: Any, spec: Mapping[str, Any], accepted: Sequence[Any]) -> AstVerdict:
    """Is ``value`` a correct argument for parameter ``param`` (schema ``spec``, accepted values ``accepted``)?"""
    type_name = spec.get("type")
    answer_type = _answer_type(accepted)
    if not _has_type(value, type_name):
        if answer_type is not None and type(value) is answer_type:  # BFCL's "variable" case
            return PASS if _among(value, accepted) else _wrong_value(param, value, accepted)
        return AstVerdict(False, f"parameter {param!r} must be of type {type_name}, got "
                                 f"{type(value).__name__} {value!r:.80}", "type_error:simple")
    if type_name in _NESTED and not _items_typed(value, spec.get("items", {}).get("type"), accepted):
        return AstVerdict(False, f"the items of {param!r} must be of type {spec.get('items', {}).get('type')}",
                          "type_error:nested")
    if type_name == "dict":
        ok = any(isinstance(option, dict) and _dict_matches(value, option) for option in accepted)
    elif type_name in _NESTED and spec.get("items", {}).get("type") == "dict":
        ok = any(isinstance(option, list) and len(option) == len(value)
                 and all(isinstance(v, dict) and _dict_matches(v, o) for v, o in zip(value, option, strict=True))
                 for option in accepted)
    else:
        ok = _among(value, accepted)
    return PASS if ok else _wrong_value(param, value, accepted)


def _wrong_value(param: str, value: Any, accepted: Sequence[Any]) -> AstVerdict:
    shown = [a for a in accepted if a != ""]
    return AstVerdict(False, f"wrong value for {param!r}: {value!r:.80}; expected one of {shown!r:.200}", "value_error")


def _items_typed(value: list, item_type: str | None, accepted: Sequence[Any]) -> bool:
    if all(_has_type(item, item_type) for item in value):
        return True
    # BFCL's "variable" case one level down: items of the type the accepted lists hold
    return any(isinstance(option, list) and (kind := _answer_type(option)) is not None
               and all(type(item) is kind for item in value) for option in accepted)


def _dict_matches(value: Mapping[str, Any], option: Mapping[str, Sequence[Any]]) -> bool:
    if any(key not in option or not _among(item, option[key]) for key, item in value.items()):
        return False
    return all(key in value or "" in accepted for key, accepted in option.items())


def _find_function(functions: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((f for f in functions if f.get("name") == name), None)


def check_call(call: ToolCall, functions: Sequence[Mapping[str, Any]],
               expected: Mapping[str, Mapping[str, Sequence[Any]]]) -> AstVerdict:
    """Does ``call`` satisfy one expected call ``{function name: {parameter: [accepted values]}}``?"""
    (name, possible), = expected.items()
    if call.name != name:
        return AstVerdict(False, f"expected a call to {name!r}, got {call.name!r}", "wrong_func_name")
    function = _find_function(functions, name)
    if function is None:
        return AstVerdict(False, f"function {name!r} is not among the offered functions", "wrong_func_name")
    properties = function.get("parameters", {}).get("properties", {})
    for param in function.get("parameters", {}).get("required", ()):
        if param not in call.arguments:
            return AstVerdict(False, f"{name}: missing required parameter {param!r}", "missing_required")
    for param, value in call.arguments.items():
        if param not in properties or param not in possible:
            return AstVerdict(False, f"{name}: unexpected parameter {param!r}", "unexpected_param")
        verdict = check_value(param, value, properties[param], possible[param])
        if not verdict.valid:
            return AstVerdict(False, f"{name}: {verdict.error}", verdict.error_type)
    for param, accepted in possible.items():
        if param not in call.arguments and "" not in accepted:
            return AstVerdict(False, f"{name}: parameter {param!r} must be given", "missing_optional")
    return PASS


def check_calls(calls: Sequence[ToolCall], functions: Sequence[Mapping[str, Any]],
                ground_truth: GroundTruth) -> AstVerdict:
    """Do ``calls`` (any order) satisfy every expected call of ``ground_truth``, and nothing else?"""
    if not ground_truth:
        if calls:
            return AstVerdict(False, f"no function should be called here, got {len(calls)} call(s)", "irrelevance")
        return PASS
    if len(calls) != len(ground_truth):
        return AstVerdict(False, f"expected {len(ground_truth)} call(s), got {len(calls)}", "wrong_count")
    verdicts = [[check_call(call, functions, expected) for call in calls] for expected in ground_truth]
    pairs = max_weight_assignment([[1.0 if v.valid else 0.0 for v in row] for row in verdicts])
    unpaired = [j for j in range(len(calls)) if j not in set(pairs)]
    for index, paired in enumerate(pairs):
        if paired is None:
            # the counts are equal, so some call is left over too: it is the one that failed this expectation
            verdict = verdicts[index][unpaired[0]]
            name = next(iter(ground_truth[index]))
            return AstVerdict(False, f"no call matches expected call {index + 1} ({name}): {verdict.error}",
                              verdict.error_type)
    return PASS


def canonical_calls(ground_truth: GroundTruth, functions: Sequence[Mapping[str, Any]]) -> list[ToolCall]:
    """One concrete call per expected call: each parameter's first accepted value other than ``""``.

    Parameters whose accepted values are only ``""``, and parameters the function's schema does not
    declare (a few BFCL answers list such optional ones; a call carrying them would be rejected), are left
    out. The result is what the AST checker must accept and what ToolRL's reward compares against.
    """
    calls = []
    for expected in ground_truth:
        (name, possible), = expected.items()
        function = _find_function(functions, name) or {}
        declared = function.get("parameters", {}).get("properties", {})
        arguments = {}
        for param, accepted in possible.items():
            values = [a for a in accepted if a != ""]
            if values and param in declared:
                arguments[param] = _concrete(values[0], declared[param])
        calls.append(ToolCall(name, arguments))
    return calls


def _concrete(value: Any, spec: Mapping[str, Any]) -> Any:
    """A dict (or list of dicts) answer holds accepted values per key: pick the first of each."""
    if spec.get("type") == "dict" and isinstance(value, dict):
        return _first_values(value)
    if spec.get("type") in _NESTED and spec.get("items", {}).get("type") == "dict" and isinstance(value, list):
        return [_first_values(item) if isinstance(item, dict) else item for item in value]
    return value


def _first_values(option: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    chosen = {}
    for key, accepted in option.items():
        values = [a for a in accepted if a != ""]
        if values:
            chosen[key] = values[0]
    return chosen
