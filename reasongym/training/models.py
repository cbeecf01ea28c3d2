"""Building the trainable policy: a transformers model, optional LoRA, optional gradient checkpointing.

Unless gradient checkpointing is on, the model's RMSNorm and SwiGLU MLP modules get leaner forwards
(:mod:`reasongym.training.lean_layers`: the same values, about a third less activation memory).

``ModelConfig.name`` accepts everything :func:`reasongym.agents.models.resolve_model` does (a local
folder, a hub id, ``smollm2`` for the embedded default) plus ``tiny-qwen2`` and ``tiny-qwen2-vl``: tiny
random-initialised models built in code, for tests and CPU learning demos.

With LoRA the trainer works on the underlying model (``peft_model.get_base_model()``), whose layers peft
has replaced in place with adapter layers: generation and log-prob passes then go through the adapters,
and the frozen reference policy is the same model with the adapters switched off
(``peft_model.disable_adapter()``), so no second copy of the weights is kept. An inference engine that
needs plain weights gets them from :func:`merged_named_weights`, which folds the adapters in without
touching the trained model.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import torch

from reasongym.training.config import ModelConfig
from reasongym.training.lean_layers import apply_lean_layers

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


def load_base_model(config: ModelConfig, seed: int) -> tuple[Any, Any]:
    """The initial model (in ``config.dtype``, on the CPU) and its processor."""
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
    base, processor = load_base_model(config, seed)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base = base.to(device)
    if config.lean_layers and not config.gradient_checkpointing:
        apply_lean_layers(base)
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


def merged_named_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """The model's parameters under their plain Hugging Face names, with LoRA adapters folded in.

    A layer that peft wrapped (``q_proj.base_layer.weight`` beside ``q_proj.lora_A.default.weight``) yields
    ``q_proj.weight = base + delta`` of its active adapters, computed by peft's own ``get_delta_weight``
    into new tensors: unlike ``merge_and_unload`` the trained model keeps its adapters and its base
    weights. The adapters' own tensors are not yielded; other parameters (all of them without LoRA) are
    yielded as they are, detached.
    """
    layers = {name: module for name, module in model.named_modules() if _is_lora_layer(module)}
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            layer_name, rest = _split_at_lora_layer(name, layers)
            if layer_name is None:
                yield name, parameter.detach()
            elif rest.startswith("base_layer."):
                leaf = rest.removeprefix("base_layer.")
                delta = _lora_delta(layers[layer_name]) if leaf == "weight" else 0
                yield f"{layer_name}.{leaf}", parameter.detach() + delta


def _is_lora_layer(module: Any) -> bool:
    """Whether peft replaced this module by a LoRA layer (checked without importing peft)."""
    return hasattr(module, "base_layer") and hasattr(module, "get_delta_weight") and hasattr(module, "lora_A")


def _split_at_lora_layer(name: str, layers: dict[str, Any]) -> tuple[str | None, str]:
    """``(LoRA layer name, rest of the parameter name)`` when a LoRA layer owns the parameter, else ``(None, name)``."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in layers:
            return prefix, ".".join(parts[end:])
    return None, name


def _lora_delta(layer: Any) -> torch.Tensor | int:
    """The summed weight deltas of a LoRA layer's active adapters (0 when none is active here)."""
    return sum(layer.get_delta_weight(adapter) for adapter in layer.active_adapters if adapter in layer.scaling)
