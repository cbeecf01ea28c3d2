"""Per-token log-probs and entropy of a collated batch under a model, without full ``[B, L, V]`` logits.

The model's backbone (``model.<base_model_prefix>``: the decoder of a causal LM, or the vision tower plus
decoder of a Qwen2-VL / Qwen2.5-VL model) returns the final hidden states; the output head is then applied
chunk by chunk by :func:`reasongym.training.losses.token_logprobs_and_entropy`, so at most
``chunk_size`` positions' logits exist at once, in the forward and in the backward.

This matches the logits of ``model(...)`` for models whose logits are ``lm_head(hidden)`` (Llama, Qwen,
SmolLM, Qwen-VL families); models that post-process logits (soft-capping, logit scaling) are refused.
Gradients flow when grad mode is on, so the same function serves the rollout's old log-probs (under
``torch.no_grad()``) and the training forward.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from reasongym.training.losses import token_logprobs_and_entropy
from reasongym.training.trajectory import MODEL_INPUT_KEYS

_LOGIT_POSTPROCESSING = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def compute_logprobs(model: Any, batch: Mapping[str, torch.Tensor], *, temperature: float = 1.0,
                     chunk_size: int = 1024, compute_entropy: bool = True
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-prob and entropy of each token of ``batch["input_ids"]`` under ``model``.

    Args:
        model: a causal LM or a Qwen2-VL / Qwen2.5-VL conditional-generation model.
        batch: a batch from :func:`~reasongym.training.trajectory.collate_trajectories` (its model inputs
            are used: ids, attention mask, position ids and any vision tensors; the rest is ignored).
        temperature: the sampling temperature; log-probs are those of ``log_softmax(logits / temperature)``,
            which equal the rollout's when it sampled without top-k/top-p truncation.
        chunk_size: positions per chunk of the output head.
        compute_entropy: also return the entropy of each predictive distribution.

    Returns:
        ``(logprobs [B, L], entropy [B, L] or None)``, aligned with ``input_ids``: entry ``i`` is about
        token ``i``, predicted from the logits at ``i - 1``; position 0 gets 0. fp32 for half-precision
        models. Values at padding positions are meaningless; mask them.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    config = getattr(model, "config", None)
    for name in _LOGIT_POSTPROCESSING:
        if getattr(config, name, None) not in (None, 1, 1.0):
            raise NotImplementedError(f"{type(model).__name__} post-processes its logits ({name}); "
                                      "log-probs from hidden states would not match them")
    device = next(model.parameters()).device
    inputs = {key: _to_device(key, batch[key], device, model.dtype) for key in MODEL_INPUT_KEYS if key in batch}
    backbone = getattr(model, model.base_model_prefix)
    hidden = backbone(**inputs, use_cache=False).last_hidden_state  # [B, L, H]
    head = model.get_output_embeddings()
    input_ids = inputs["input_ids"]
    logprobs, entropy = token_logprobs_and_entropy(
        hidden[:, :-1], head.weight, input_ids[:, 1:], lm_head_bias=head.bias, temperature=temperature,
        chunk_size=chunk_size, compute_entropy=compute_entropy,
    )
    first = logprobs.new_zeros((logprobs.shape[0], 1))
    logprobs = torch.cat([first, logprobs], dim=1)
    if entropy is not None:
        entropy = torch.cat([first, entropy], dim=1)
    return logprobs, entropy


def _to_device(key: str, value: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Move one model input to ``device``; pixel tensors also take the model's dtype."""
    if key.startswith("pixel_values"):
        return value.to(device=device, dtype=dtype)
    return value.to(device)
