"""Losses of the RL trainer: pure functions on token tensors.

Shapes: token-level tensors are ``[B, T]``; ``response_mask`` is a float ``[B, T]`` tensor (1 = policy
token that gets a loss, 0 = prompt/environment/padding token).

Micro-batching never changes the gradient: every loss is aggregated with :func:`agg_loss`, which
divides by the *global* token count (token-mean) or the *global* sequence count (seq-mean-*) when
they are given. Compute them once for the whole mini-batch with :func:`count_tokens_and_seqs`, pass
them to every micro-batch, and sum the micro-batch losses (``loss.backward()`` per micro-batch):
the accumulated gradient is exactly the full-batch gradient.

Semantics follow verl's ``core_algos`` (``../shared/golden/rl_semantics.json`` pins them down).
"""

from __future__ import annotations

import torch

from reasongym.training.advantages import masked_mean

__all__ = [
    "AGG_MODES",
    "KL_KINDS",
    "agg_loss",
    "count_tokens_and_seqs",
    "entropy_from_logits",
    "kl_penalty",
    "ppo_per_token_loss",
    "ppo_policy_loss",
    "token_logprobs_from_logits",
    "value_loss",
]

AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
KL_KINDS = ("k1", "abs", "k2", "k3")
_KL_ALIASES = {"kl": "k1", "mse": "k2", "low_var_kl": "k3"}


# --------------------------------------------------------------------------------------------------
# KL estimators
# --------------------------------------------------------------------------------------------------


def kl_penalty(log_prob: torch.Tensor, ref_log_prob: torch.Tensor, kind: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from the log-probs of the sampled tokens.

    With ``d = log_prob - ref_log_prob``:

    * ``"k1"`` (alias ``"kl"``):  ``d``                               -- unbiased, high variance
    * ``"abs"``:                 ``|d|``
    * ``"k2"`` (alias ``"mse"``): ``0.5 * d^2``
    * ``"k3"`` (alias ``"low_var_kl"``): ``exp(-d) - (-d) - 1``, with ``-d`` clamped to ``[-20, 20]``
      before the exp and the result clamped to ``[-10, 10]`` (verl's ``low_var_kl``) -- unbiased,
      non-negative, low variance (Schulman's k3).

    A trailing ``"+"`` (e.g. ``"k3+"``) is verl's straight-through variant: the *value* of the named
    estimator with the *gradient* of k2 (whose gradient is the unbiased KL gradient); useful for the
    KL-in-loss term.

    Shapes: any identical shapes -> same shape.
    """
    if kind.endswith("+"):
        value = kl_penalty(log_prob, ref_log_prob, kind[:-1])
        k2 = 0.5 * (log_prob - ref_log_prob).square()
        return value.detach() + (k2 - k2.detach())

    kind = _KL_ALIASES.get(kind, kind)
    diff = log_prob - ref_log_prob
    if kind == "k1":
        return diff
    if kind == "abs":
        return diff.abs()
    if kind == "k2":
        return 0.5 * diff.square()
    if kind == "k3":
        log_ratio = torch.clamp(-diff, min=-20.0, max=20.0)  # log(pi_ref / pi)
        k3 = torch.exp(log_ratio) - log_ratio - 1
        return torch.clamp(k3, min=-10.0, max=10.0)
    raise ValueError(f"unknown KL estimator {kind!r}; expected one of {KL_KINDS} (optionally with '+')")


# --------------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------------


def count_tokens_and_seqs(response_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalisers of :func:`agg_loss` for a (mini-)batch: ``(number of mask-1 tokens, number of
    sequences with at least one mask-1 token)``, as 0-dim tensors (all-reduce them across data-parallel
    ranks if the batch is sharded). Shape: ``[B, T]`` -> two 0-dim tensors."""
    return response_mask.sum(), (response_mask.sum(dim=-1) > 0).sum().to(response_mask.dtype)


def agg_loss(
    loss_mat: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token-mean",
    *,
    global_tokens: float | torch.Tensor | None = None,
    global_seqs: float | torch.Tensor | None = None,
    norm_constant: float | None = None,
) -> torch.Tensor:
    """Aggregate a per-token loss ``[B, T]`` into a scalar.

    With ``l = loss_mat * mask``, ``N`` = token normaliser, ``S`` = sequence normaliser:

    * ``"token-mean"``:              ``sum_{i,t} l / N``                        (DAPO-style)
    * ``"seq-mean-token-sum"``:      ``sum_i (sum_t l_i) / S``
    * ``"seq-mean-token-mean"``:     ``sum_i (sum_t l_i / n_i) / S``            (original GRPO; n_i =
      tokens of row i -- per sequence, so it is micro-batch invariant by itself)
    * ``"seq-mean-token-sum-norm"``: ``sum_i (sum_t l_i / C) / S``              (Dr.GRPO: a constant
      C = ``norm_constant``, default ``T`` = ``mask.shape[-1]``; pass it explicitly when micro-batches
      may be padded to different lengths)

    ``N = global_tokens`` and ``S = global_seqs`` when given (the counts of the whole mini-batch,
    from :func:`count_tokens_and_seqs`), else the local counts of this batch: the number of mask-1
    tokens, and the number of sequences with at least one mask-1 token (sequences without any do
    not count, as in verl). With global counts, the sum of the losses of the micro-batches equals the
    full-batch loss, hence the same gradient. An empty normaliser is treated as 1 (loss 0, not NaN).

    Differences with verl, deliberately: seq-mean-token-mean divides by ``n_i`` exactly instead of
    ``n_i + 1e-8``; seq-mean-token-sum-norm also divides by S (verl's agg_loss leaves that division
    to the trainer's micro/mini-batch scale factor; the effective gradient is the same, and it is
    Dr.GRPO's ``1/G``).

    Shapes: ``loss_mat``, ``mask`` ``[B, T]`` -> 0-dim tensor.
    """
    masked = loss_mat * mask
    if mode == "token-mean":
        n_tokens = mask.sum() if global_tokens is None else global_tokens
        return masked.sum() / _at_least_one(n_tokens)

    tokens_per_seq = mask.sum(dim=-1)  # [B]
    seq_has_tokens = (tokens_per_seq > 0).to(masked.dtype)  # [B]
    n_seqs = seq_has_tokens.sum() if global_seqs is None else global_seqs
    if mode == "seq-mean-token-sum":
        seq_losses = masked.sum(dim=-1)
    elif mode == "seq-mean-token-mean":
        seq_losses = masked.sum(dim=-1) / tokens_per_seq.clamp(min=1)
    elif mode == "seq-mean-token-sum-norm":
        constant = mask.shape[-1] if norm_constant is None else norm_constant
        seq_losses = masked.sum(dim=-1) / constant
    else:
        raise ValueError(f"unknown aggregation mode {mode!r}; expected one of {AGG_MODES}")
    return (seq_losses * seq_has_tokens).sum() / _at_least_one(n_seqs)


def _at_least_one(count: float | torch.Tensor) -> float | torch.Tensor:
    """A normaliser with 0 replaced by 1 (so that an empty batch gives loss 0, not NaN)."""
    if isinstance(count, torch.Tensor):
        return count.clamp(min=1)
    return max(count, 1)


# --------------------------------------------------------------------------------------------------
# PPO
# --------------------------------------------------------------------------------------------------


def ppo_per_token_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip_ratio_low: float = 0.2,
    clip_ratio_high: float = 0.2,
    dual_clip_c: float | None = None,
) -> torch.Tensor:
    """Per-token PPO clipped surrogate loss (to minimise).

    ::

        r      = exp(clamp(log_prob - old_log_prob, -20, 20))
        loss   = max(-A * r, -A * clip(r, 1 - clip_ratio_low, 1 + clip_ratio_high))
        loss   = min(loss, -A * c)      where A < 0, if dual_clip_c = c is given (dual clip)

    Separate low/high clip ranges allow DAPO's clip-higher; the dual clip (Ye et al. 2020) bounds the
    loss of a negative-advantage token whose ratio exploded (c > 1, typically 3).

    Shapes: three ``[B, T]`` -> ``[B, T]`` (unmasked; aggregate with :func:`agg_loss`).
    """
    ratio = torch.exp(torch.clamp(log_prob - old_log_prob, min=-20.0, max=20.0))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_ratio_low, 1 + clip_ratio_high)
    loss = torch.maximum(unclipped, clipped)
    if dual_clip_c is not None:
        if dual_clip_c <= 1.0:
            raise ValueError(f"dual_clip_c must be > 1, got {dual_clip_c}")
        loss = torch.where(advantages < 0, torch.minimum(loss, -advantages * dual_clip_c), loss)
    return loss


def ppo_policy_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    clip_ratio_low: float = 0.2,
    clip_ratio_high: float = 0.2,
    dual_clip_c: float | None = None,
    agg_mode: str = "token-mean",
    global_tokens: float | torch.Tensor | None = None,
    global_seqs: float | torch.Tensor | None = None,
    norm_constant: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped policy loss, aggregated, with diagnostics.

    ``loss = agg_loss(ppo_per_token_loss(...), response_mask, agg_mode, global_...)`` (see those two
    functions for the formulas).

    Stats (detached 0-dim tensors, masked means over this batch's mask-1 tokens):

    * ``clipfrac``: fraction where the clipped branch is active (``-A*clip(r) > -A*r``, verl's
      ``pg_clipfrac``); ``clipfrac_high`` (A > 0 and r > 1 + high) and ``clipfrac_low`` (A < 0 and
      r < 1 - low) split it;
    * ``dual_clipfrac``: fraction where A < 0 and the dual-clip bound ``-A*c`` is active (verl's
      ``pg_clipfrac_lower``), 0 without dual clip;
    * ``approx_kl``: ``mean(old_log_prob - log_prob)``, the k1 estimate of KL(pi_old || pi) (verl's
      ``ppo_kl``); ``approx_kl_k3``: ``mean((r - 1) - log r)``, the low-variance k3 estimate of the
      same KL;
    * ``ratio_mean``: mean of r.

    Shapes: four ``[B, T]`` -> (0-dim loss, dict of 0-dim tensors).
    """
    per_token = ppo_per_token_loss(
        log_prob,
        old_log_prob,
        advantages,
        clip_ratio_low=clip_ratio_low,
        clip_ratio_high=clip_ratio_high,
        dual_clip_c=dual_clip_c,
    )
    loss = agg_loss(
        per_token,
        response_mask,
        agg_mode,
        global_tokens=global_tokens,
        global_seqs=global_seqs,
        norm_constant=norm_constant,
    )

    with torch.no_grad():
        log_ratio = torch.clamp(log_prob - old_log_prob, min=-20.0, max=20.0)
        ratio = torch.exp(log_ratio)
        clipped_high = (advantages > 0) & (ratio > 1 + clip_ratio_high)
        clipped_low = (advantages < 0) & (ratio < 1 - clip_ratio_low)
        if dual_clip_c is not None:
            clipped_ratio = ratio.clamp(1 - clip_ratio_low, 1 + clip_ratio_high)
            standard = torch.maximum(-advantages * ratio, -advantages * clipped_ratio)
            dual_active = (advantages < 0) & (standard > -advantages * dual_clip_c)
        else:
            dual_active = torch.zeros_like(clipped_low)
        mask = response_mask
        stats = {
            "clipfrac": masked_mean((clipped_high | clipped_low).to(mask.dtype), mask),
            "clipfrac_high": masked_mean(clipped_high.to(mask.dtype), mask),
            "clipfrac_low": masked_mean(clipped_low.to(mask.dtype), mask),
            "dual_clipfrac": masked_mean(dual_active.to(mask.dtype), mask),
            "approx_kl": masked_mean(-log_ratio, mask),
            "approx_kl_k3": masked_mean(ratio - 1 - log_ratio, mask),
            "ratio_mean": masked_mean(ratio, mask),
        }
    return loss, stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float | None = 0.5,
    *,
    agg_mode: str = "token-mean",
    global_tokens: float | torch.Tensor | None = None,
    global_seqs: float | torch.Tensor | None = None,
    norm_constant: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped value loss (verl's ``compute_value_loss``).

    ::

        v_clipped = clip(values, old_values - clip_range, old_values + clip_range)
        per_token = max((values - returns)^2, (v_clipped - returns)^2)
        loss      = 0.5 * agg_loss(per_token, mask, agg_mode, ...)

    ``clip_range=None`` disables the clipping (plain squared error). Stats (detached): ``vf_clipfrac``
    (fraction of mask-1 tokens where the clipped term is the larger one, verl's ``vf_clipfrac``) and
    ``vpred_mean`` (masked mean of ``values``).

    Shapes: four ``[B, T]`` -> (0-dim loss, dict of 0-dim tensors).
    """
    unclipped = (values - returns) ** 2
    if clip_range is None:
        per_token = unclipped
        clipped = unclipped
    else:
        v_clipped = torch.clamp(values, old_values - clip_range, old_values + clip_range)
        clipped = (v_clipped - returns) ** 2
        per_token = torch.maximum(unclipped, clipped)
    loss = 0.5 * agg_loss(
        per_token, mask, agg_mode, global_tokens=global_tokens, global_seqs=global_seqs, norm_constant=norm_constant
    )
    with torch.no_grad():
        stats = {
            "vf_clipfrac": masked_mean((clipped > unclipped).to(mask.dtype), mask),
            "vpred_mean": masked_mean(values, mask),
        }
    return loss, stats


# --------------------------------------------------------------------------------------------------
# Log-probs and entropy
# --------------------------------------------------------------------------------------------------


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution given by ``logits`` over the last dimension.

    ``H = logsumexp(z) - sum_v softmax(z)_v * z_v`` (equal to ``-sum p log p``, computed without
    ``log`` of small probabilities). Shapes: ``[..., V]`` -> ``[...]``.
    """
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


def token_logprobs_from_logits(
    logits: torch.Tensor, target_ids: torch.Tensor, *, temperature: float = 1.0
) -> torch.Tensor:
    """Log-prob of ``target_ids`` under ``log_softmax(logits / temperature)``.

    The naive reference (materialises the full logits). Shapes: ``[..., V]``, int ``[...]`` -> ``[...]``.
    """
    log_probs = torch.log_softmax(logits / temperature, dim=-1)
    return torch.gather(log_probs, -1, target_ids.long().unsqueeze(-1)).squeeze(-1)
