"""Policies: transformers (text and Qwen-VL), vLLM, OpenAI-compatible HTTP, random baselines; model resolution.

The contract (:class:`Policy`, :class:`SamplingParams`, :class:`Completion`) is imported eagerly. Backends
are imported on first attribute access (PEP 562 ``__getattr__``), so ``import reasongym.agents`` stays
light: torch and transformers load only when a torch-backed name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from reasongym.agents.base import Completion, Policy, SamplingParams

_LAZY = {
    "TransformersPolicy": "reasongym.agents.transformers_policy",
    "VLLMPolicy": "reasongym.agents.vllm_policy",
    "OpenAIPolicy": "reasongym.agents.openai_policy",
    "OpenAIPolicyError": "reasongym.agents.openai_policy",
    "RandomPolicy": "reasongym.agents.scripted",
    "resolve_model": "reasongym.agents.models",
    "embedded_smollm2": "reasongym.agents.models",
    "ModelUnavailableError": "reasongym.agents.models",
    "tiny_tokenizer": "reasongym.agents.tiny",
    "tiny_qwen2": "reasongym.agents.tiny",
    "tiny_qwen2_vl": "reasongym.agents.tiny",
}

__all__ = ["Completion", "Policy", "SamplingParams", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import a backend's module when one of its names is first used, and cache the name here."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
