"""Building the trainable policy: a transformers model, optional LoRA, optional gradient checkpointing.

``ModelConfig.name`` accepts everything :func:`reasongym.agents.models.resolve_model` does (a local
folder, a hub id, ``smollm2`` for the embedded default) plus ``tiny-qwen2`` and ``tiny-qwen2-vl``: tiny
random-initialised models built in code, for tests and CPU learning demos.

With LoRA the trainer works on the underlying model (``peft_model.get_base_model()``), whose layers peft
has replaced in place with adapter layers: generation and log-prob passes then go through the adapters,
and the frozen reference policy is the same model with the adapters switched off
(``peft_model.disable_adapter()``), so no second copy of the weights is kept.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch

from reasongym.training.config import ModelConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TINY_MODELS = ("tiny-qwen2", "tiny-qwen2-vl")


@dataclass
class PolicyModel:
    """The model to train and how to reach its parts.

    Attributes:
        model: the module that generates and is differentiated (adapters included, when there are any).
        processor: its tokenizer or multimodal processor.
        saveable: what ``save_pretrained`` is called on (the peft wrapper with LoRA, else ``model``).
        reference: a context manager factory under which ``reference_model`` computes reference log-probs.
        reference_model: the frozen reference (``model`` itself with LoRA, a frozen copy otherwise, or None).
    """

    model: Any
    processor: Any
    saveable: Any
    reference_model: Any | None
    reference: Callable[[], ContextManager]


def _load_base(config: ModelConfig, seed: int) -> tuple[Any, Any]:
    """The initial model and its processor."""
    dtype = DTYPES[config.dtype]
    if config.name in TINY_MODELS:
        from reasongym.agents.tiny import tiny_qwen2, tiny_qwen2_vl

        model, processor = (tiny_qwen2 if config.name == "tiny-qwen2" else tiny_qwen2_vl)(seed=seed)
        return model.to(dtype), processor
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasongym.agents.models import resolve_model

    path = resolve_model(config.name)
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype), AutoTokenizer.from_pretrained(path)


def build_policy_model(config: ModelConfig, *, seed: int, need_reference: bool,
                       checkpoint: str | Path | None = None) -> PolicyModel:
    """Load the policy (resuming from ``checkpoint/model`` when given) and its reference if needed.

    The reference is always the *initial* model, also when resuming, so a KL term keeps its anchor.
    """
    saved = Path(checkpoint) / "model" if checkpoint is not None else None
    base, processor = _load_base(config, seed)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base = base.to(device)
    if config.lora is None:
        reference_model = copy.deepcopy(base).eval().requires_grad_(False) if need_reference else None
        if saved is not None:
            base.load_state_dict(type(base).from_pretrained(saved, dtype=base.dtype).state_dict())
        if config.gradient_checkpointing:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.train()
        return PolicyModel(base, processor, base, reference_model, contextlib.nullcontext)
    from peft import LoraConfig, PeftModel, get_peft_model

    if config.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if saved is not None:
        peft_model = PeftModel.from_pretrained(base, saved, is_trainable=True)
    else:
        lora = LoraConfig(r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                          target_modules=list(config.lora.target_modules), task_type="CAUSAL_LM")
        peft_model = get_peft_model(base, lora)
    if config.gradient_checkpointing:
        peft_model.enable_input_require_grads()
    model = peft_model.get_base_model()
    model.train()
    return PolicyModel(model, processor, peft_model, model if need_reference else None, peft_model.disable_adapter)
