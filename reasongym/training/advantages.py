"""Advantage estimators: pure functions on token tensors.

Shapes used throughout:

* ``token_level_rewards``: ``[B, T]`` -- reward placed on token positions (typically the outcome
  reward on the last policy token of each sequence, plus any per-step rewards).
* ``response_mask``: float ``[B, T]`` -- 1 for policy tokens (they get a loss), 0 for prompt,
  environment-message and padding tokens.
* ``group_ids``: B hashables (list, tuple, numpy array) or an int tensor ``[B]`` -- the rollouts of
  one prompt share an id.

Every estimator returns ``[B, T]`` advantages (GAE also returns ``[B, T]`` returns). They run under
``torch.no_grad()`` (advantages are targets, never differentiated) and never touch module state or a
global RNG. Semantics follow verl's ``core_algos`` (the golden vectors in
``../shared/golden/rl_semantics.json`` pin them down); where this module deliberately differs from
verl (environment tokens inside a multi-turn sequence for REINFORCE++) the docstring says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

__all__ = [
    "broadcast_turn_advantages",
    "gae_advantages",
    "group_rows",
    "grpo_advantages",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "per_turn_grpo_advantages",
    "reinforce_pp_advantages",
    "reinforce_pp_baseline_advantages",
    "rloo_advantages",
    "sign_weighted",
]

GroupIds = Sequence[Any] | torch.Tensor | Iterable[Any]


# --------------------------------------------------------------------------------------------------
# Masked statistics
# --------------------------------------------------------------------------------------------------


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is 1: ``sum(values * mask) / sum(mask)``.

    ``values`` and ``mask`` have the same shape (any); returns a 0-dim tensor. The division is exact
    (no epsilon) so that whitening reproduces verl's reference numbers to machine precision; an empty
    mask divides by 1 instead of 0 (the result is then 0).
    """
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, *, unbiased: bool = True) -> torch.Tensor:
    """Variance of ``values`` over the mask-1 positions.

    ``var = mean_mask((values - mean_mask(values))^2)``, times the Bessel correction ``n / (n - 1)``
    when ``unbiased`` (n = number of mask-1 positions). Like verl, an unbiased variance of fewer than
    two elements is an error rather than a silent ``inf``.
    """
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n <= 1:
            raise ValueError(
                f"unbiased masked variance needs at least 2 mask-1 positions, got {float(n):g}"
            )
        variance = variance * n / (n - 1)
    return variance


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """Whiten ``values`` with statistics of the mask-1 positions (verl's ``masked_whiten``).

    ``whitened = (values - mean) / sqrt(var + eps)`` with the masked mean and the unbiased masked
    variance; with ``shift_mean=False`` the mean is added back (only the scale is normalised).
    Every position is transformed, including mask-0 ones (callers mask afterwards when they need to).
    Shapes: ``values``/``mask`` any identical shape; the output has the same shape.
    """
    mean = masked_mean(values, mask)
    var = masked_var(values, mask, unbiased=True)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened


# --------------------------------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------------------------------


def group_rows(group_ids: GroupIds, batch_size: int, device: torch.device | str | None = None) -> list[torch.Tensor]:
    """Row indices of each group, groups in order of first appearance.

    ``group_ids`` is a list/tuple/numpy array of B hashables or an int tensor ``[B]``; returns a list of
    ``LongTensor`` index vectors that together cover ``range(batch_size)``.
    """
    if isinstance(group_ids, torch.Tensor):
        ids = group_ids.reshape(-1).tolist()
    elif hasattr(group_ids, "tolist"):  # numpy arrays
        ids = group_ids.tolist()
    else:
        ids = list(group_ids)
    if len(ids) != batch_size:
        raise ValueError(f"got {len(ids)} group ids for a batch of {batch_size} sequences")
    rows: dict[Any, list[int]] = {}
    for i, gid in enumerate(ids):
        rows.setdefault(gid, []).append(i)
    return [torch.tensor(r, dtype=torch.long, device=device) for r in rows.values()]


# --------------------------------------------------------------------------------------------------
# Outcome-level estimators (one scalar score per sequence, broadcast to its tokens)
# --------------------------------------------------------------------------------------------------


def _group_stats(values: torch.Tensor) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    """Mean and unbiased std of one group's values; a group of one gets mean 0 and std 1 (verl's rule)."""
    if values.numel() == 1:
        return 0.0, 1.0
    return values.mean(), values.std()


@torch.no_grad()
def grpo_advantages(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    group_ids: GroupIds,
    *,
    eps: float = 1e-6,
    norm_by_std: bool = True,
) -> torch.Tensor:
    """GRPO advantages (and Dr.GRPO with ``norm_by_std=False``).

    For sequence i in group g with score ``s_i = sum_t token_level_rewards[i, t]``::

        A_i = (s_i - mean_g) / (std_g + eps)     # GRPO
        A_i =  s_i - mean_g                      # Dr.GRPO (norm_by_std=False)

    ``std_g`` is ``torch.std`` (unbiased, n - 1), as in verl. A group with a single sequence uses
    ``mean_g = 0`` and ``std_g = 1`` (verl's convention), so its advantage is ``s_i / (1 + eps)``.
    ``A_i`` is broadcast to every position of row i and multiplied by ``response_mask``.

    Shapes: ``token_level_rewards`` ``[B, T]``, ``response_mask`` ``[B, T]``, ``group_ids`` B ids
    -> ``[B, T]``.
    """
    scores = token_level_rewards.sum(dim=-1)  # [B]
    advantages = torch.zeros_like(scores)
    for rows in group_rows(group_ids, scores.shape[0], scores.device):
        group_scores = scores[rows]
        mean, std = _group_stats(group_scores)
        centred = group_scores - mean
        advantages[rows] = centred / (std + eps) if norm_by_std else centred
    return advantages.unsqueeze(-1) * response_mask


@torch.no_grad()
def rloo_advantages(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    group_ids: GroupIds,
) -> torch.Tensor:
    """RLOO (REINFORCE leave-one-out) advantages.

    For sequence i in a group of n sequences with scores ``s_j = sum_t token_level_rewards[j, t]``,
    the baseline is the mean score of the *other* n - 1 samples::

        A_i = s_i - (sum_{j != i} s_j) / (n - 1)
            = s_i * n / (n - 1) - mean_g * n / (n - 1)      # verl's form (same number)

    A group of one has no other sample: baseline 0, ``A_i = s_i``. ``A_i`` is broadcast to row i and
    multiplied by ``response_mask``.

    Shapes: ``[B, T]``, ``[B, T]``, B ids -> ``[B, T]``.
    """
    scores = token_level_rewards.sum(dim=-1)  # [B]
    advantages = scores.clone()
    for rows in group_rows(group_ids, scores.shape[0], scores.device):
        n = rows.numel()
        if n == 1:
            continue  # baseline 0
        group_scores = scores[rows]
        advantages[rows] = group_scores * n / (n - 1) - group_scores.mean() * n / (n - 1)
    return advantages.unsqueeze(-1) * response_mask


@torch.no_grad()
def reinforce_pp_advantages(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    gamma: float = 1.0,
    eps: float = 1e-8,
) -> torch.Tensor:
    """REINFORCE++ advantages: discounted returns-to-go, whitened over the whole batch.

    Returns-to-go run right to left over the *policy* tokens of each row; mask-0 positions are
    transparent -- they neither add their reward nor apply a discount, they carry the running return
    through unchanged::

        G_t = r_t + gamma * G_{t'}     if mask_t = 1   (t' = the next policy token after t)
        G_t = G_{t+1}                  if mask_t = 0

    then ``A = masked_whiten(G, mask) * mask`` (masked mean, unbiased masked variance, ``eps`` added
    to the variance).

    Relation to verl: verl resets the running return to 0 after every mask-0 position. For the
    single-turn layout (policy tokens followed by right padding) both give identical advantages on
    policy tokens. In a multi-turn sequence verl's reset would cut the outcome reward off from every
    earlier turn at the first environment message; here the environment tokens are transparent,
    consistent with :func:`gae_advantages`.

    Shapes: ``[B, T]``, ``[B, T]`` -> ``[B, T]``.
    """
    returns = torch.zeros_like(token_level_rewards)
    running = torch.zeros_like(token_level_rewards[:, 0])  # [B]
    for t in reversed(range(token_level_rewards.shape[1])):
        is_policy = response_mask[:, t] > 0
        running = torch.where(is_policy, token_level_rewards[:, t] + gamma * running, running)
        returns[:, t] = running
    return masked_whiten(returns, response_mask, eps=eps) * response_mask


@torch.no_grad()
def reinforce_pp_baseline_advantages(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    group_ids: GroupIds,
    *,
    eps: float = 1e-8,
) -> torch.Tensor:
    """REINFORCE++ with a group baseline (verl's ``reinforce_plus_plus_baseline``).

    ``s_i = sum_t token_level_rewards[i, t]``; subtract the group mean (groups of one: mean 0), broadcast
    to the row, mask, then whiten over every mask-1 token of the batch::

        A = masked_whiten((s_i - mean_g) * mask, mask) * mask

    ``eps`` is added to the variance in the whitening (verl's constant is 1e-8).

    Shapes: ``[B, T]``, ``[B, T]``, B ids -> ``[B, T]``.
    """
    scores = token_level_rewards.sum(dim=-1)  # [B]
    centred = scores.clone()
    for rows in group_rows(group_ids, scores.shape[0], scores.device):
        if rows.numel() > 1:
            centred[rows] = scores[rows] - scores[rows].mean()
    token_scores = centred.unsqueeze(-1) * response_mask  # [B, T]
    return masked_whiten(token_scores, response_mask, eps=eps) * response_mask


# --------------------------------------------------------------------------------------------------
# GAE (critic)
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def gae_advantages(
    token_level_rewards: torch.Tensor,
    values: torch.Tensor,
    response_mask: torch.Tensor,
    *,
    gamma: float,
    lam: float,
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation with environment tokens transparent.

    Right to left over the positions of each row, keeping ``next_value`` (the value of the next
    *policy* token, 0 past the end) and ``last_gae`` (the advantage of the next policy token)::

        delta_t  = r_t + gamma * next_value - V_t
        A_t      = delta_t + gamma * lam * last_gae        if mask_t = 1
        A_t      = last_gae                                if mask_t = 0   (carried through)
        next_value, last_gae <- V_t, A_t                   only if mask_t = 1

    So a mask-0 position (an environment/observation message in a multi-turn trajectory, or padding)
    neither breaks nor decays the value chain: its value and reward are never used, and the policy
    token before it bootstraps from the first policy token after it. This is verl's multi-turn GAE.

    Returns ``(advantages, returns)``: ``returns = A + V`` (before whitening) and ``advantages =
    masked_whiten(A, mask)`` (masked mean, unbiased masked variance, ``eps`` added to the variance).
    As in verl, neither output is multiplied by the mask: mask-0 entries carry the neighbouring policy
    token's values and must be ignored by the caller (the losses mask them).

    Shapes: ``token_level_rewards``, ``values``, ``response_mask`` ``[B, T]`` -> two ``[B, T]``.
    """
    advantages = torch.zeros_like(token_level_rewards)
    next_value = torch.zeros_like(values[:, 0])  # [B]
    last_gae = torch.zeros_like(values[:, 0])  # [B]
    for t in reversed(range(token_level_rewards.shape[1])):
        is_policy = response_mask[:, t] > 0
        delta = token_level_rewards[:, t] + gamma * next_value - values[:, t]
        gae_t = delta + gamma * lam * last_gae
        # torch.where (not arithmetic masking) so that arbitrary values, even inf, at env tokens are inert.
        next_value = torch.where(is_policy, values[:, t], next_value)
        last_gae = torch.where(is_policy, gae_t, last_gae)
        advantages[:, t] = last_gae
    returns = advantages + values
    return masked_whiten(advantages, response_mask, eps=eps), returns


# --------------------------------------------------------------------------------------------------
# Per-turn credit and sign weighting
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def per_turn_grpo_advantages(
    turn_rewards: torch.Tensor,
    turn_mask: torch.Tensor,
    group_ids: GroupIds,
    *,
    gamma: float = 1.0,
    eps: float = 1e-6,
    norm_by_std: bool = True,
) -> torch.Tensor:
    """GRPO normalisation of per-turn returns-to-go.

    ``turn_rewards[i, k]`` is the reward of turn k of trajectory i; ``turn_mask[i, k]`` is 1 for real
    turns (0 = padding, transparent like env tokens in :func:`reinforce_pp_advantages`). Per turn::

        G_{i,k} = r_{i,k} + gamma * G_{i,k+1}        (over real turns, right to left)

    then, per group g, the returns of *all real turns of all trajectories of g* are pooled and
    normalised: ``A = (G - mean_g) / (std_g + eps)`` (unbiased std; ``norm_by_std=False`` keeps only
    the centring). A pool of a single turn uses mean 0 and std 1, as GRPO does for a group of one.
    Output is multiplied by ``turn_mask``. Use :func:`broadcast_turn_advantages` to put it on tokens.

    Shapes: ``turn_rewards`` ``[B, K]``, ``turn_mask`` ``[B, K]``, B ids -> ``[B, K]``.
    """
    returns = torch.zeros_like(turn_rewards)
    running = torch.zeros_like(turn_rewards[:, 0])
    for k in reversed(range(turn_rewards.shape[1])):
        is_turn = turn_mask[:, k] > 0
        running = torch.where(is_turn, turn_rewards[:, k] + gamma * running, running)
        returns[:, k] = running

    advantages = torch.zeros_like(returns)
    for rows in group_rows(group_ids, returns.shape[0], returns.device):
        group_returns, group_mask = returns[rows], turn_mask[rows] > 0
        pooled = group_returns[group_mask]
        if pooled.numel() == 0:
            continue
        mean, std = _group_stats(pooled)
        centred = group_returns - mean
        advantages[rows] = centred / (std + eps) if norm_by_std else centred
    return advantages * turn_mask


def broadcast_turn_advantages(turn_advantages: torch.Tensor, token_turn_ids: torch.Tensor) -> torch.Tensor:
    """Put per-turn advantages on the tokens of their turn.

    ``out[i, t] = turn_advantages[i, token_turn_ids[i, t]]``, and 0 where ``token_turn_ids[i, t] == -1``
    (prompt, environment and padding tokens).

    Shapes: ``turn_advantages`` ``[B, K]``, ``token_turn_ids`` int ``[B, T]`` -> ``[B, T]``.
    """
    is_policy = token_turn_ids >= 0
    gathered = torch.gather(turn_advantages, 1, token_turn_ids.clamp(min=0).long())
    return torch.where(is_policy, gathered, torch.zeros_like(gathered))


def sign_weighted(advantages: torch.Tensor, *, lambda_pos: float = 1.0, lambda_neg: float = 1.0) -> torch.Tensor:
    """Weight positive and negative advantages separately (PSR/NSR).

    ``out = lambda_pos * A`` where ``A > 0``, ``lambda_neg * A`` where ``A < 0``, ``A`` (zero) elsewhere.

    Why: positive-sample reinforcement (PSR) sharpens the policy onto answers it already finds, which
    raises pass@1 but shrinks the set of solutions and so hurts pass@k at large k; negative-sample
    reinforcement (NSR) only pushes mass away from wrong answers and redistributes it according to the
    model's prior, which preserves (even improves) pass@k across the whole k range. Upweighting the
    negatives (``lambda_neg > lambda_pos``, e.g. W-REINFORCE's ``lambda_pos = 0.1``) keeps most of
    PSR's pass@1 gain without the diversity loss -- "The Surprising Effectiveness of Negative
    Reinforcement in LLM Reasoning", Zhu et al. 2025.

    Shapes: any -> same shape.
    """
    return torch.where(
        advantages > 0,
        advantages * lambda_pos,
        torch.where(advantages < 0, advantages * lambda_neg, advantages),
    )
