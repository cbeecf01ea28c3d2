"""Shared test fixtures: the real benchmark files beside the checkout (and their absence), a tiny policy,
a fake ``vllm`` module."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MATH_DATA = SHARED_DATA / "math"
BFCL_DATA = SHARED_DATA / "bfcl"

# Dataset-backed envs read ../shared/data through the documented overrides, never the hub.
if MATH_DATA.is_dir():
    os.environ.setdefault("REASONGYM_DATA_DIR", str(MATH_DATA))
if BFCL_DATA.is_dir():
    os.environ.setdefault("REASONGYM_BFCL_DIR", str(BFCL_DATA))


def require_math_data() -> Path:
    """The math data folder, or skip the calling test with the reason."""
    if not MATH_DATA.is_dir():
        pytest.skip(f"benchmark files not found at {MATH_DATA} (the shared data folder beside the checkout)")
    return MATH_DATA


def require_bfcl_data() -> Path:
    """The BFCL data folder, or skip the calling test with the reason."""
    if not BFCL_DATA.is_dir():
        pytest.skip(f"BFCL files not found at {BFCL_DATA} (the shared data folder beside the checkout)")
    return BFCL_DATA


def eos_biased_tiny_policy() -> Any:
    """The tiny random Qwen2 with a biased output head: EOS is likely enough that turns end both ways
    (by EOS and by ``max_tokens``), so rollouts exercise both closings of a turn."""
    import torch

    from reasongym.agents import TransformersPolicy, tiny_qwen2

    model, tokenizer = tiny_qwen2(seed=0)
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tokenizer.convert_tokens_to_ids("<|im_end|>")] = 3.0
    model.lm_head = head
    return TransformersPolicy(model, tokenizer, batch_size=8)


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The fake ``vllm`` module of ``tests/fake_vllm.py`` in ``sys.modules`` for the test's duration."""
    import fake_vllm

    return fake_vllm.install(monkeypatch)
