"""Log-probs and entropy of chosen tokens through the output head, without full-vocabulary logits.

A training step needs, for each policy token, ``log softmax(z)[target]`` and the entropy of
``softmax(z)`` where ``z = (h @ W^T + b) / temperature`` has one entry per vocabulary item (49k for
SmolLM2, 150k for Qwen). Autograd over ``F.linear`` + ``log_softmax`` keeps ``[N, V]`` tensors alive
for the backward; for 2,000 positions and a 150k vocabulary that is 1.2 GB per copy in fp32.

:class:`FusedLogprobHead` is an autograd function that processes ``chunk_size`` positions at a time and
keeps only the per-position statistics (the log-sum-exp and the entropy). Its backward recomputes one
chunk's logits and turns them into their gradient in place, using the closed forms

* ``d logp / d z = onehot(target) - p``,
* ``d H / d z = -p * (log p + H)``,

so one ``[chunk, V]`` buffer (plus the probabilities when the entropy has a gradient) exists at a time,
in the forward and in the backward. Gradients equal those of the naive computation
(:func:`reasongym.training.losses.token_logprobs_from_logits`), which the tests check.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

__all__ = ["FusedLogprobHead", "token_logprobs_and_entropy"]


def _chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, temperature: float,
                  banned: torch.Tensor | None) -> torch.Tensor:
    """``(h @ W^T + b) / temperature`` for one chunk; at least fp32 (softmax statistics of half models).

    ``banned`` ids get the lowest finite logit, so their probability is 0 (and ``0 * logit`` stays 0 in the
    entropy, where ``-inf`` would give NaN).
    """
    logits = F.linear(hidden, weight, bias)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    if temperature != 1.0:
        logits.div_(temperature)
    if banned is not None:
        logits.index_fill_(-1, banned, torch.finfo(logits.dtype).min)
    return logits


class FusedLogprobHead(torch.autograd.Function):
    """``(hidden [N, H], weight [V, H], bias [V] | None, targets [N]) -> (logprobs [N], entropy [N])``.

    Called through :func:`token_logprobs_and_entropy`; see the module docstring for the maths.
    """

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                targets: torch.Tensor, temperature: float, chunk_size: int,
                banned: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        count = hidden.shape[0]
        logprobs = torch.empty(count, dtype=torch.promote_types(hidden.dtype, torch.float32), device=hidden.device)
        entropy = torch.empty_like(logprobs)
        lse = torch.empty_like(logprobs)
        for start in range(0, count, chunk_size):
            rows = slice(start, start + chunk_size)
            logits = _chunk_logits(hidden[rows], weight, bias, temperature, banned)
            chunk_lse = torch.logsumexp(logits, dim=-1)
            lse[rows] = chunk_lse
            logprobs[rows] = logits.gather(-1, targets[rows, None]).squeeze(-1) - chunk_lse
            # H = lse - sum_v p_v z_v with p = exp(z - lse): one extra [chunk, V] buffer, reused for p * z
            weighted = logits.sub(chunk_lse[:, None]).exp_().mul_(logits).sum(-1)
            entropy[rows] = chunk_lse - weighted
        ctx.save_for_backward(hidden, weight, bias, targets, lse, entropy, banned)
        ctx.temperature, ctx.chunk_size = temperature, chunk_size
        ctx.set_materialize_grads(False)
        return logprobs, entropy

    @staticmethod
    def backward(ctx: Any, grad_logprobs: torch.Tensor | None, grad_entropy: torch.Tensor | None):
        hidden, weight, bias, targets, lse, entropy, banned = ctx.saved_tensors
        temperature, chunk_size = ctx.temperature, ctx.chunk_size
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        accumulate = lse.dtype  # fp32 sums of the weight gradient for half-precision models
        grad_weight = torch.zeros_like(weight, dtype=accumulate) if ctx.needs_input_grad[1] else None
        grad_bias = torch.zeros_like(bias, dtype=accumulate) if bias is not None and ctx.needs_input_grad[2] else None
        for start in range(0, hidden.shape[0], chunk_size):
            rows = slice(start, start + chunk_size)
            g_lp = 0.0 if grad_logprobs is None else grad_logprobs[rows, None]
            # log p, in place of the recomputed logits
            log_p = _chunk_logits(hidden[rows], weight, bias, temperature, banned).sub_(lse[rows, None])
            if grad_entropy is None:  # d(g_lp * logp)/dz = g_lp * (onehot - p): the -p part
                grad_logits = log_p.exp_().mul_(-g_lp)
            else:  # adding g_H * dH/dz: -p * (g_lp + g_H * (log p + H)), before the onehot part
                probs = log_p.exp()
                grad_logits = log_p.add_(entropy[rows, None]).mul_(grad_entropy[rows, None])
                grad_logits.add_(g_lp).mul_(probs).neg_()
            if banned is not None:  # p = 0 there; (log p + H) * g_H may have overflowed to inf * 0
                grad_logits.index_fill_(-1, banned, 0.0)
            if grad_logprobs is not None:
                grad_logits.scatter_add_(-1, targets[rows, None], grad_logprobs[rows, None])
            if temperature != 1.0:
                grad_logits.div_(temperature)
            grad_logits = grad_logits.to(hidden.dtype)
            if grad_hidden is not None:
                grad_hidden[rows] = grad_logits @ weight
            if grad_weight is not None:
                grad_weight.addmm_(grad_logits.t().to(accumulate), hidden[rows].to(accumulate))
            if grad_bias is not None:
                grad_bias.add_(grad_logits.sum(0, dtype=accumulate))
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        if grad_bias is not None:
            grad_bias = grad_bias.to(bias.dtype)
        return grad_hidden, grad_weight, grad_bias, None, None, None, None


def token_logprobs_and_entropy(
    hidden_states: torch.Tensor,
    lm_head_weight: torch.Tensor,
    target_ids: torch.Tensor,
    *,
    lm_head_bias: torch.Tensor | None = None,
    temperature: float = 1.0,
    chunk_size: int = 1024,
    compute_entropy: bool = True,
    banned_ids: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the target tokens and the entropy, without materialising full-vocabulary logits.

    For each position: ``z = (h @ W^T + b) / temperature``, ``logp = log_softmax(z)[target]``,
    ``H = entropy(softmax(z))``. ``hidden_states[..., i, :]`` is the final hidden state that *predicts*
    ``target_ids[..., i]`` (the caller does the usual shift by one and picks the positions it needs).
    At most ``[chunk_size, V]`` logits exist at once, in the forward and in the backward; the entropy is
    always computed (it costs one extra pass over a chunk already in memory) and is returned when asked.
    Outputs are fp32 for half-precision models, else the model's dtype. ``banned_ids`` are left out of the
    distribution, as a sampler that never draws them (vision placeholders) left them out.

    Shapes: ``hidden_states`` ``[..., H]``, ``lm_head_weight`` ``[V, H]``, ``lm_head_bias`` ``[V]`` or
    None, ``target_ids`` int ``[...]`` -> ``(log_probs [...], entropy [...] or None)``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    shape = target_ids.shape
    flat_hidden = hidden_states.reshape(-1, hidden_states.shape[-1])
    flat_targets = target_ids.reshape(-1).long()
    banned = torch.tensor(sorted(banned_ids), dtype=torch.long, device=flat_hidden.device) if banned_ids else None
    log_probs, entropy = FusedLogprobHead.apply(flat_hidden, lm_head_weight, lm_head_bias, flat_targets,
                                                float(temperature), int(chunk_size), banned)
    return log_probs.reshape(shape), (entropy.reshape(shape) if compute_entropy else None)
