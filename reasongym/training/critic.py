"""The value model (critic) that ``algorithm.advantage: gae`` trains beside the policy.

:class:`ValueModel` is a copy of the policy's backbone (``model.<base_model_prefix>``, the part that
:func:`reasongym.training.logprobs.compute_logprobs` runs too) with a ``Linear(hidden, 1)`` head instead
of the LM head. :class:`Critic` owns it with its own AdamW and trains it on the clipped value loss.

Alignment (the convention of :mod:`reasongym.training.trajectory`): ``values[:, i]`` is the value of the
state *before* token ``i`` -- the sequence ``tokens[:i]`` from which the policy chose token ``i`` -- so it
is the head applied to the hidden state at position ``i - 1`` (the same shift that gives the log-prob of
token ``i`` from the logits at ``i - 1``); position 0 has no state before it and gets 0 (it is always a
prompt token). This is what :func:`reasongym.training.advantages.gae_advantages` expects: with the
turn's reward ``r_t`` on its last token ``t``, ``delta_t = r_t + gamma * V_next - V_t`` compares the
value of choosing from ``tokens[:t]`` with what followed. The first policy token after an environment
message is valued from a state that includes the message.

Memory: the critic is a second full copy of the backbone plus its gradients and AdamW state (two more
tensors per parameter), i.e. about as much again as a fully fine-tuned policy.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

import torch

from reasongym.agents.encoding import to_device
from reasongym.training.advantages import masked_mean, masked_var
from reasongym.training.config import CriticConfig
from reasongym.training.losses import value_loss
from reasongym.training.trajectory import MODEL_INPUT_KEYS

#: std of the value head's initial weights (its bias starts at 0)
VALUE_HEAD_INIT_STD = 1e-3


class ValueModel(torch.nn.Module):
    """A causal backbone and a scalar head: ``[B, L]`` values of the states before each token.

    Args:
        backbone: the decoder (or VLM backbone) returning ``last_hidden_state``; trained in full.
        hidden_size: width of its hidden states.
        seed: seeds the head's initial weights (the global RNG is not touched).

    The head starts nearly at zero (weights ``N(0, VALUE_HEAD_INIT_STD^2)``, bias 0): hidden states are
    O(1) after the final norm, so a default-initialised head would start with O(1) arbitrary values that
    GAE subtracts from the returns as noise, whereas near-zero values make the first advantages simply the
    (whitened) returns. The weights are not exactly zero so that the backbone gets a gradient from the first
    update (with a zero head, d value / d hidden = 0). The head runs in float32 whatever the backbone's dtype.
    """

    def __init__(self, backbone: torch.nn.Module, hidden_size: int, *, seed: int):
        super().__init__()
        self.backbone = backbone
        device = next(backbone.parameters()).device
        self.head = torch.nn.Linear(hidden_size, 1, device=device, dtype=torch.float32)
        with torch.no_grad():
            torch.nn.init.normal_(self.head.weight, std=VALUE_HEAD_INIT_STD,
                                  generator=torch.Generator(device=device).manual_seed(seed))
            self.head.bias.zero_()

    @classmethod
    def from_policy(cls, policy: Any, *, seed: int) -> ValueModel:
        """A value model whose backbone is a trainable copy of ``policy``'s *base* weights.

        With LoRA, ``policy`` is the peft base model whose layers hold the adapters; the copy replaces each
        adapter layer with the layer it wraps, so the critic starts from the pretrained backbone, is trained
        in full, and is unaffected by the policy's adapters (which start as a no-op anyway).
        """
        backbone = _without_adapters(copy.deepcopy(getattr(policy, policy.base_model_prefix)))
        hidden_size = policy.get_output_embeddings().weight.shape[1]
        return cls(backbone.requires_grad_(True), hidden_size, seed=seed)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Values ``[B, L]`` (float32) of a collated batch, aligned as in the module docstring.

        Only the batch's model inputs are used; entries at padding are meaningless (mask them).
        """
        device = self.head.weight.device
        inputs = {key: to_device(key, batch[key], device, self.backbone.dtype)
                  for key in MODEL_INPUT_KEYS if key in batch}
        hidden = self.backbone(**inputs, use_cache=False).last_hidden_state  # [B, L, H]
        after = self.head(hidden[:, :-1].float()).squeeze(-1)  # [B, L-1]: entry i values tokens[:i+1]
        return torch.cat([after.new_zeros(after.shape[0], 1), after], dim=1)


def _without_adapters(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with every peft adapter layer replaced, in place, by the base layer it wraps."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # without peft there are no adapters
        return module
    wrapped = [name for name, child in module.named_modules() if isinstance(child, BaseTunerLayer)]
    for name in wrapped:
        module.set_submodule(name, module.get_submodule(name).get_base_layer())
    return module


class Critic:
    """The value model with its optimiser: values for GAE, and clipped value-loss updates.

    Args:
        policy: the policy model (see :meth:`ValueModel.from_policy` for what is copied).
        config: learning rate, weight decay, gradient clipping and value clipping.
        seed: seeds the value head's initialisation.

    The LR is constant (no schedule), so the checkpointed state is the model and AdamW's state.
    """

    def __init__(self, policy: Any, config: CriticConfig, *, seed: int):
        self.config = config
        self.model = ValueModel.from_policy(policy, seed=seed)
        self.params = list(self.model.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay, fused=True)

    def values(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[B, L]`` values of ``batch`` (call under ``torch.no_grad()`` for GAE's targets)."""
        return self.model(batch)

    def update(self, micro_batches: Sequence[Mapping[str, torch.Tensor]], *, agg_mode: str,
               global_tokens: float | torch.Tensor, global_seqs: float | torch.Tensor,
               norm_constant: float | None) -> dict[str, float]:
        """One optimiser step on the clipped value loss summed over ``micro_batches``.

        Each micro-batch is a collated batch (model inputs and ``loss_mask``) plus ``old_values`` (the
        values GAE used, the clipping anchor) and ``returns`` (the targets), all ``[b, l]``. The loss of each
        is aggregated with ``agg_mode`` and the *global* token/sequence counts of the whole batch, so the
        accumulated gradient is that of the full batch; mask-0 positions (prompt, environment, padding) get
        no gradient. Returns ``critic/value_loss``, the token-weighted ``critic/vf_clipfrac`` and the
        pre-clipping ``critic/grad_norm``.
        """
        device = self.model.head.weight.device
        total_tokens = max(1.0, float(global_tokens))
        loss_sum, clipfrac = 0.0, 0.0
        for micro in micro_batches:
            mask = micro["loss_mask"].to(device)
            loss, stats = value_loss(self.model(micro), micro["old_values"].to(device), micro["returns"].to(device),
                                     mask, self.config.value_clip, agg_mode=agg_mode, global_tokens=global_tokens,
                                     global_seqs=global_seqs, norm_constant=norm_constant)
            loss.backward()
            loss_sum += float(loss.detach())
            clipfrac += float(stats["vf_clipfrac"]) * float(mask.sum()) / total_tokens
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"critic/value_loss": loss_sum, "critic/vf_clipfrac": clipfrac, "critic/grad_norm": float(grad_norm)}

    def state_dict(self) -> dict[str, Any]:
        """The value model's weights and the optimiser's state, for checkpoints."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def value_metrics(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """How well the values GAE used predicted its returns, over the mask-1 tokens.

    ``critic/explained_variance = 1 - Var(returns - values) / Var(returns)``: 1 for a perfect critic, 0 for
    one no better than the mean return, negative for a worse one; left out when the returns are constant.
    Shapes: three ``[B, L]`` -> floats.
    """
    metrics = {"critic/values_mean": float(masked_mean(values, mask)),
               "critic/returns_mean": float(masked_mean(returns, mask))}
    spread = float(masked_var(returns, mask, unbiased=False))
    if spread > 0:
        metrics["critic/explained_variance"] = 1.0 - float(masked_var(returns - values, mask, unbiased=False)) / spread
    return metrics
