"""Per-token log-probs and entropy of a collated batch under a model, without full ``[B, L, V]`` logits.

The model's backbone (``model.<base_model_prefix>``: the decoder of a causal LM, or the vision tower plus
decoder of a Qwen2-VL / Qwen2.5-VL model) returns the final hidden states; the output head is then applied
chunk by chunk by :func:`reasongym.training.lm_head.token_logprobs_and_entropy`, on the positions whose
log-probs are wanted only (the policy tokens, for training), so at most ``chunk_size`` positions' logits
exist at once, in the forward and in the backward. Text batches can be packed first
(:mod:`reasongym.training.packing`): each group's prompt is computed once and padding not at all.

This matches the logits of ``model(...)`` for models whose logits are ``lm_head(hidden)`` (Llama, Qwen,
SmolLM, Qwen-VL families); models that post-process logits (soft-capping, logit scaling) are refused.
Gradients flow when grad mode is on, so the same function serves the rollout's old log-probs (under
``torch.no_grad()``) and the training forward.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from reasongym.agents.encoding import to_device
from reasongym.agents.special_tokens import vision_placeholder_ids
from reasongym.training.lm_head import token_logprobs_and_entropy
from reasongym.training.packing import can_pack, pack_batch
from reasongym.training.trajectory import MODEL_INPUT_KEYS

_LOGIT_POSTPROCESSING = ("final_logit_softcapping", "logit_scale", "logits_scaling")


def compute_logprobs(model: Any, batch: Mapping[str, torch.Tensor], *, temperature: float = 1.0,
                     chunk_size: int = 1024, compute_entropy: bool = True, positions: torch.Tensor | None = None,
                     pack_tokens: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-prob and entropy of each token of ``batch["input_ids"]`` under ``model``.

    Args:
        model: a causal LM or a Qwen2-VL / Qwen2.5-VL conditional-generation model.
        batch: a batch from :func:`~reasongym.training.trajectory.collate_trajectories` (its model inputs
            are used: ids, attention mask, position ids and any vision tensors, plus ``loss_mask`` to find
            shareable prompts when packing; the rest is ignored).
        temperature: the sampling temperature; log-probs are those of ``log_softmax(logits / temperature)``
            over the ids a policy may sample (a vision-language model's image/video placeholder ids are left
            out, as :class:`~reasongym.agents.transformers_policy.TransformersPolicy` never samples them),
            which equal the rollout's when it sampled without top-k/top-p truncation. (A placeholder id as a
            *target*, e.g. in the prompt, gets the lowest float: never ask for those positions.)
        chunk_size: positions per chunk of the output head.
        compute_entropy: also return the entropy of each predictive distribution.
        positions: ``[B, L]``, nonzero where a log-prob is wanted (e.g. the loss mask); the output head
            runs on those positions only. Default: every real token after the first.
        pack_tokens: when positive and the model allows it (:func:`~reasongym.training.packing.can_pack`),
            run the backbone on packed rows of at most this many positions, each shared prompt once and no
            padding (:mod:`reasongym.training.packing`); 0 runs the padded batch as it is.

    Returns:
        ``(logprobs [B, L], entropy [B, L] or None)``, aligned with ``input_ids``: entry ``i`` is about
        token ``i``, predicted from the logits at ``i - 1``; 0 at position 0 and wherever no log-prob was
        wanted. fp32 for half-precision models.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    config = getattr(model, "config", None)
    for name in _LOGIT_POSTPROCESSING:
        if getattr(config, name, None) not in (None, 1, 1.0):
            raise NotImplementedError(f"{type(model).__name__} post-processes its logits ({name}); "
                                      "log-probs from hidden states would not match them")
    device = next(model.parameters()).device
    input_ids = batch["input_ids"]
    wanted = (batch["attention_mask"] if positions is None else positions).clone()
    wanted[:, 0] = 0  # the first token has no prediction
    rows, cols = wanted.nonzero(as_tuple=True)
    backbone = getattr(model, model.base_model_prefix)
    if pack_tokens > 0 and can_pack(model, batch):
        packed = pack_batch(input_ids, batch["attention_mask"], batch.get("loss_mask", wanted),
                            max_tokens=pack_tokens, dtype=model.dtype)
        hidden = torch.cat([backbone(input_ids=pack.input_ids.to(device), position_ids=pack.position_ids.to(device),
                                     attention_mask=pack.attention_mask.to(device), use_cache=False
                                     ).last_hidden_state[0] for pack in packed.packs])  # [positions, H]
        predictors = packed.source[rows, cols - 1]
    else:
        inputs = {key: to_device(key, batch[key], device, model.dtype) for key in MODEL_INPUT_KEYS if key in batch}
        hidden = backbone(**inputs, use_cache=False).last_hidden_state  # [B, L, H]
        predictors = rows * input_ids.shape[1] + cols - 1
    head = model.get_output_embeddings()
    selected = hidden.reshape(-1, hidden.shape[-1])[predictors.to(device)]
    logprobs, entropy = token_logprobs_and_entropy(
        selected, head.weight, input_ids[rows, cols].to(device), lm_head_bias=head.bias, temperature=temperature,
        chunk_size=chunk_size, compute_entropy=compute_entropy, banned_ids=vision_placeholder_ids(config),
    )
    index = (rows.to(device), cols.to(device))
    zeros = logprobs.new_zeros(input_ids.shape)
    return zeros.index_put(index, logprobs), (None if entropy is None else zeros.index_put(index, entropy))
