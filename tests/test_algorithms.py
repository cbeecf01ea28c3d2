"""RL algorithms of the trainer: golden vectors (verl semantics), hand-computed cases, micro-batch
invariance of the losses, GAE transparency of environment tokens, chunked log-probs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reasongym.training.advantages import (
    broadcast_turn_advantages,
    gae_advantages,
    grpo_advantages,
    masked_whiten,
    per_turn_grpo_advantages,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
    sign_weighted,
)
from reasongym.training.losses import (
    AGG_MODES,
    agg_loss,
    count_tokens_and_seqs,
    entropy_from_logits,
    kl_penalty,
    ppo_per_token_loss,
    ppo_policy_loss,
    token_logprobs_from_logits,
    value_loss,
)
from reasongym.training.lm_head import token_logprobs_and_entropy

GOLDEN_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "golden" / "rl_semantics.json"
F64 = torch.float64


def t64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


@pytest.fixture(scope="module")
def golden() -> dict:
    if not GOLDEN_PATH.is_file():
        pytest.skip(f"golden vectors not found at {GOLDEN_PATH} (the shared folder beside the checkout)")
    return json.loads(GOLDEN_PATH.read_text())


def assert_close(actual: torch.Tensor, expected, atol: float = 1e-9) -> None:
    expected = expected if isinstance(expected, torch.Tensor) else t64(expected)
    torch.testing.assert_close(actual.to(F64), expected.to(F64), atol=atol, rtol=0)


# --------------------------------------------------------------------------------------------------
# Golden vectors
# --------------------------------------------------------------------------------------------------


def test_golden_grpo_std_normalized(golden):
    g = golden["grpo"]
    adv = grpo_advantages(t64(g["token_rewards"]), t64(g["response_mask"]), g["group_ids"], eps=g["eps"])
    assert_close(adv, g["advantages_std_normalized"])
    # the singleton group "b" uses mean 0, std 1: 0.5 / (1 + 1e-6)
    assert adv[3, 0].item() == pytest.approx(0.5 / (1 + 1e-6), abs=1e-15)


def test_golden_dr_grpo(golden):
    g = golden["grpo"]
    adv = grpo_advantages(
        t64(g["token_rewards"]), t64(g["response_mask"]), g["group_ids"], eps=g["eps"], norm_by_std=False
    )
    assert_close(adv, g["advantages_dr_grpo"])


@pytest.mark.parametrize("setting", ["gamma=1.0,lambda=1.0", "gamma=0.9,lambda=0.95"])
def test_golden_gae_multiturn(golden, setting):
    g = golden["gae_multiturn"]
    gamma, lam = (float(part.split("=")[1]) for part in setting.split(","))
    mask = t64(g["response_mask"])
    adv, returns = gae_advantages(t64(g["token_rewards"]), t64(g["values"]), mask, gamma=gamma, lam=lam)
    expected = g["results"][setting]
    policy = mask.bool()
    # the contract (golden note): mask-1 entries
    assert_close(adv[policy], t64(expected["whitened_advantages"])[policy])
    assert_close(returns[policy], t64(expected["returns"])[policy])
    # and, as in verl, the env entries carry the next policy token's values
    assert_close(adv, expected["whitened_advantages"])
    assert_close(returns, expected["returns"])


def test_golden_ppo_clip(golden):
    g = golden["ppo_clip"]
    args = (t64(g["log_prob"]), t64(g["old_log_prob"]), t64(g["advantages"]))
    kwargs = dict(
        clip_ratio_low=g["clip_ratio_low"], clip_ratio_high=g["clip_ratio_high"], dual_clip_c=g["dual_clip_c"]
    )
    assert_close(ppo_per_token_loss(*args, **kwargs), g["per_token_loss"])
    loss, stats = ppo_policy_loss(*args, t64(g["response_mask"]), agg_mode="token-mean", **kwargs)
    assert loss.item() == pytest.approx(g["token_mean_loss"], abs=1e-9)
    # token 0: A>0, r=e^0.2>1.2 (high clip); token 2: A<0, r=e^-1<0.8 (low clip); token 3: dual clip
    assert stats["clipfrac"].item() == pytest.approx(0.5)
    assert stats["clipfrac_high"].item() == pytest.approx(0.25)
    assert stats["clipfrac_low"].item() == pytest.approx(0.25)
    assert stats["dual_clipfrac"].item() == pytest.approx(0.25)
    diff = t64(g["old_log_prob"]) - t64(g["log_prob"])
    assert stats["approx_kl"].item() == pytest.approx(diff.mean().item())
    assert stats["ratio_mean"].item() == pytest.approx(torch.exp(-diff).mean().item())


@pytest.mark.parametrize("kind", ["k1", "abs", "k2", "k3"])
def test_golden_kl(golden, kind):
    g = golden["kl"]
    assert_close(kl_penalty(t64(g["log_prob"]), t64(g["ref_log_prob"]), kind), g[kind])


def test_kl_aliases_clamp_and_straight_through():
    lp, ref = t64([-1.0, -2.0]), t64([-1.5, -1.0])
    for alias, kind in (("kl", "k1"), ("mse", "k2"), ("low_var_kl", "k3")):
        assert_close(kl_penalty(lp, ref, alias), kl_penalty(lp, ref, kind))
    # k3 is clamped to [-10, 10]
    assert kl_penalty(t64([-30.0]), t64([0.0]), "k3").item() == 10.0
    # "k3+": the value of k3, the gradient of k2
    lp_a = lp.clone().requires_grad_(True)
    kl_penalty(lp_a, ref, "k3+").sum().backward()
    assert_close(kl_penalty(lp, ref, "k3+"), kl_penalty(lp, ref, "k3"))
    assert_close(lp_a.grad, lp - ref)
    with pytest.raises(ValueError):
        kl_penalty(lp, ref, "k4")


# --------------------------------------------------------------------------------------------------
# Outcome estimators: hand-computed cases
# --------------------------------------------------------------------------------------------------


def test_group_ids_types_agree():
    rewards = t64([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.5, 0.0]])
    mask = torch.ones(4, 2, dtype=F64)
    reference = grpo_advantages(rewards, mask, ["x", "x", "y", "y"])
    assert_close(grpo_advantages(rewards, mask, torch.tensor([7, 7, 3, 3])), reference)
    assert_close(grpo_advantages(rewards, mask, np.array([0, 0, 1, 1])), reference)
    with pytest.raises(ValueError):
        grpo_advantages(rewards, mask, ["x", "x", "y"])


def test_rloo_hand_computed():
    # group a scores 1, 0, 0.5 (n=3); group b a single score 2
    rewards = t64([[0.0, 1.0], [0.0, 0.0], [0.5, 0.0], [1.0, 1.0]])
    mask = t64([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    adv = rloo_advantages(rewards, mask, ["a", "a", "a", "b"])
    expected = t64(
        [
            [1 - (0 + 0.5) / 2] * 2,  # 0.75
            [0 - (1 + 0.5) / 2, 0.0],  # -0.75, masked
            [0.5 - (1 + 0) / 2] * 2,  # 0
            [2.0, 2.0],  # group of one: baseline 0
        ]
    )
    assert_close(adv, expected, atol=1e-12)


def test_reinforce_pp_hand_computed():
    rewards = t64([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = t64([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    adv = reinforce_pp_advantages(rewards, mask, gamma=0.5)
    # returns-to-go: row 0 [0.25, 0.5, 1], row 1 [0.5, 1]; mean 0.65, unbiased var 0.45 / 4
    std = math.sqrt(0.45 / 4 + 1e-8)
    w = lambda g: (g - 0.65) / std  # noqa: E731
    expected = t64([[w(0.25), w(0.5), w(1.0), 0.0], [w(0.5), w(1.0), 0.0, 0.0]])
    assert_close(adv, expected, atol=1e-12)


def _verl_reinforce_pp(rewards, mask, gamma):
    """verl's loop (running return reset after every mask-0 position), as a reference."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]
    return masked_whiten(returns, mask) * mask


def test_reinforce_pp_matches_verl_on_right_padded_batches():
    gen = torch.Generator().manual_seed(0)
    B, T = 5, 7
    lengths = [7, 3, 5, 1, 6]
    mask = t64([[1.0] * n + [0.0] * (T - n) for n in lengths])
    rewards = torch.randn(B, T, generator=gen, dtype=F64)  # rewards on padding too: both ignore them
    for gamma in (1.0, 0.9):
        assert_close(reinforce_pp_advantages(rewards, mask, gamma=gamma), _verl_reinforce_pp(rewards, mask, gamma))


def test_reinforce_pp_env_tokens_transparent():
    rewards = t64([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    mask = t64([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    base = reinforce_pp_advantages(rewards, mask, gamma=0.8)
    # insert 2 environment tokens (with rewards that must be ignored) after position 1 of every row
    env = t64([[5.0, -3.0], [7.0, 1.0]])
    rewards_env = torch.cat([rewards[:, :2], env, rewards[:, 2:]], dim=1)
    mask_env = torch.cat([mask[:, :2], torch.zeros(2, 2, dtype=F64), mask[:, 2:]], dim=1)
    with_env = reinforce_pp_advantages(rewards_env, mask_env, gamma=0.8)
    keep = [0, 1, 4, 5]
    assert_close(with_env[:, keep], base)
    assert torch.all(with_env[:, 2:4] == 0)


def test_reinforce_pp_baseline_hand_computed():
    # group a scores 1, 0 -> +0.5, -0.5; group b a single score 0.3 -> 0.3
    rewards = t64([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.3, 0.0, 0.0]])
    mask = t64([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    adv = reinforce_pp_baseline_advantages(rewards, mask, ["a", "a", "b"])
    values = [0.5, 0.5, -0.5, -0.5, -0.5, 0.3]  # the 6 policy tokens
    mean = sum(values) / 6
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 5 + 1e-8)
    w = lambda v: (v - mean) / std  # noqa: E731
    expected = t64([[w(0.5), w(0.5), 0.0], [w(-0.5), w(-0.5), w(-0.5)], [w(0.3), 0.0, 0.0]])
    assert_close(adv, expected, atol=1e-12)


def test_sign_weighted():
    adv = t64([[1.0, -2.0, 0.0], [0.5, -0.5, 0.0]])
    out = sign_weighted(adv, lambda_pos=0.1, lambda_neg=2.0)
    assert_close(out, t64([[0.1, -4.0, 0.0], [0.05, -1.0, 0.0]]), atol=1e-15)
    assert_close(sign_weighted(adv), adv)


def test_per_turn_grpo_and_broadcast():
    # two trajectories of one group: turn rewards [0, 1] and [1] (+ a padding turn)
    turn_rewards = t64([[0.0, 1.0], [1.0, 9.0]])
    turn_mask = t64([[1.0, 1.0], [1.0, 0.0]])
    adv = per_turn_grpo_advantages(turn_rewards, turn_mask, ["g", "g"], gamma=0.5, norm_by_std=False)
    # returns-to-go: [0.5, 1] and [1]; pooled mean 2.5 / 3
    mean = 2.5 / 3
    assert_close(adv, t64([[0.5 - mean, 1 - mean], [1 - mean, 0.0]]), atol=1e-12)
    normed = per_turn_grpo_advantages(turn_rewards, turn_mask, ["g", "g"], gamma=0.5)
    std = torch.tensor([0.5, 1.0, 1.0], dtype=F64).std().item()
    z = lambda g: (g - mean) / (std + 1e-6)  # noqa: E731
    assert_close(normed, t64([[z(0.5), z(1.0)], [z(1.0), 0.0]]), atol=1e-12)

    turn_ids = torch.tensor([[-1, 0, 0, -1, 1, 1], [-1, 0, 0, 0, -1, -1]])
    tokens = broadcast_turn_advantages(adv, turn_ids)
    a = adv
    expected = torch.stack(
        [
            torch.stack([a.new_zeros(()), a[0, 0], a[0, 0], a.new_zeros(()), a[0, 1], a[0, 1]]),
            torch.stack([a.new_zeros(()), a[1, 0], a[1, 0], a[1, 0], a.new_zeros(()), a.new_zeros(())]),
        ]
    )
    assert_close(tokens, expected, atol=0)


# --------------------------------------------------------------------------------------------------
# GAE transparency
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.9, 0.95), (0.99, 0.5)])
def test_gae_env_tokens_are_transparent(gamma, lam):
    gen = torch.Generator().manual_seed(1)
    B, T = 3, 6
    rewards = torch.randn(B, T, generator=gen, dtype=F64)
    values = torch.randn(B, T, generator=gen, dtype=F64)
    mask = t64([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]])
    rewards = rewards * mask  # rewards only on policy tokens
    adv, returns = gae_advantages(rewards, values, mask, gamma=gamma, lam=lam)

    # insert 3 environment tokens with arbitrary values and rewards after position 2 of every row
    n_env = 3
    env_values = t64([[1e6, -7.0, float("inf")], [3.0, 3.0, 3.0], [-1e3, 0.0, 42.0]])
    env_rewards = t64([[100.0, 0.0, -5.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    cat = lambda a, e: torch.cat([a[:, :3], e, a[:, 3:]], dim=1)  # noqa: E731
    adv_env, returns_env = gae_advantages(
        cat(rewards, env_rewards), cat(values, env_values), cat(mask, torch.zeros(B, n_env, dtype=F64)),
        gamma=gamma, lam=lam,
    )
    policy_cols = [0, 1, 2] + [c + n_env for c in range(3, T)]
    policy = mask.bool()
    assert_close(adv_env[:, policy_cols][policy], adv[policy])
    assert_close(returns_env[:, policy_cols][policy], returns[policy])


def test_gae_single_turn_hand_computed():
    # one row, 3 policy tokens then padding; gamma=0.5, lam=1: plain discounted TD sums
    rewards = t64([[0.0, 0.0, 1.0, 0.0]])
    values = t64([[0.2, 0.4, 0.6, 99.0]])
    mask = t64([[1.0, 1.0, 1.0, 0.0]])
    adv, returns = gae_advantages(rewards, values, mask, gamma=0.5, lam=1.0)
    raw = [0.25 - 0.2, 0.5 - 0.4, 1 - 0.6]  # A_t = G_t - V_t with G = [0.25, 0.5, 1]
    assert_close(returns[0, :3], t64([0.25, 0.5, 1.0]), atol=1e-12)
    assert_close(adv[0, :3], masked_whiten(t64([raw]), torch.ones(1, 3, dtype=F64))[0], atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Aggregation and value loss
# --------------------------------------------------------------------------------------------------


def test_agg_loss_hand_computed():
    loss = t64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    mask = t64([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # the last row has no loss token
    assert agg_loss(loss, mask, "token-mean").item() == pytest.approx(7 / 3)
    assert agg_loss(loss, mask, "seq-mean-token-sum").item() == pytest.approx((3 + 4) / 2)
    assert agg_loss(loss, mask, "seq-mean-token-mean").item() == pytest.approx((1.5 + 4) / 2)
    assert agg_loss(loss, mask, "seq-mean-token-sum-norm").item() == pytest.approx((3 / 3 + 4 / 3) / 2)
    assert agg_loss(loss, mask, "seq-mean-token-sum-norm", norm_constant=10).item() == pytest.approx(0.7 / 2)
    # global normalisers replace the local ones
    assert agg_loss(loss, mask, "token-mean", global_tokens=7).item() == pytest.approx(1.0)
    assert agg_loss(loss, mask, "seq-mean-token-sum", global_seqs=7).item() == pytest.approx(1.0)
    tokens, seqs = count_tokens_and_seqs(mask)
    assert (tokens.item(), seqs.item()) == (3, 2)
    # an empty mask gives 0, not NaN
    for mode in AGG_MODES:
        assert agg_loss(loss, torch.zeros_like(mask), mode).item() == 0.0
    with pytest.raises(ValueError):
        agg_loss(loss, mask, "sum")


def test_value_loss_hand_computed():
    values = t64([[1.0, 0.0, 2.0]])
    old_values = t64([[0.0, 0.0, 0.0]])
    returns = t64([[0.0, 1.0, 3.0]])
    mask = t64([[1.0, 1.0, 0.0]])
    loss, stats = value_loss(values, old_values, returns, mask, clip_range=0.5)
    # token 0: unclipped (1-0)^2=1, clipped (0.5-0)^2=0.25 -> 1; token 1: both 1 -> 1
    assert loss.item() == pytest.approx(0.5 * (1 + 1) / 2)
    assert stats["vf_clipfrac"].item() == 0.0
    loss, stats = value_loss(t64([[-1.0, 0.0, 0.0]]), old_values, t64([[-2.0, 1.0, 0.0]]), mask, clip_range=0.5)
    # token 0: unclipped 1, clipped (-0.5+2)^2=2.25 -> 2.25 (clipped active); token 1: 1
    assert loss.item() == pytest.approx(0.5 * (2.25 + 1) / 2)
    assert stats["vf_clipfrac"].item() == pytest.approx(0.5)
    loss, _ = value_loss(t64([[-1.0, 0.0, 0.0]]), old_values, t64([[-2.0, 1.0, 0.0]]), mask, clip_range=None)
    assert loss.item() == pytest.approx(0.5 * (1 + 1) / 2)


# --------------------------------------------------------------------------------------------------
# Micro-batch invariance
# --------------------------------------------------------------------------------------------------


def _tiny_policy_batch():
    gen = torch.Generator().manual_seed(3)
    B, T, H, V = 6, 5, 4, 7
    hidden = torch.randn(B, T, H, generator=gen, dtype=F64)
    targets = torch.randint(0, V, (B, T), generator=gen)
    weight0 = torch.randn(V, H, generator=gen, dtype=F64)
    lengths = [5, 2, 0, 4, 1, 3]  # one row has no policy token at all
    mask = t64([[0.0] + [1.0] * n + [0.0] * (T - 1 - n) if n < T else [1.0] * T for n in lengths])
    with torch.no_grad():
        logp0 = token_logprobs_from_logits(hidden @ weight0.T, targets)
    old_log_prob = logp0 + 0.4 * torch.randn(B, T, generator=gen, dtype=F64)  # ratios on both sides of the clip
    ref_log_prob = logp0 + 0.3 * torch.randn(B, T, generator=gen, dtype=F64)
    advantages = torch.randn(B, T, generator=gen, dtype=F64)
    return hidden, targets, weight0, mask, old_log_prob, ref_log_prob, advantages


def _rl_loss(batch, weight, rows, mode, global_tokens, global_seqs):
    hidden, targets, _, mask, old_log_prob, ref_log_prob, advantages = batch
    T = mask.shape[1]
    log_prob, entropy = token_logprobs_and_entropy(hidden[rows], weight, targets[rows], chunk_size=4)
    m = mask[rows]
    counts = dict(global_tokens=global_tokens, global_seqs=global_seqs, norm_constant=T)
    pg, _ = ppo_policy_loss(
        log_prob, old_log_prob[rows], advantages[rows], m,
        clip_ratio_low=0.2, clip_ratio_high=0.28, dual_clip_c=3.0, agg_mode=mode, **counts,
    )
    kl = agg_loss(kl_penalty(log_prob, ref_log_prob[rows], "k3"), m, mode, **counts)
    ent = agg_loss(entropy, m, mode, **counts)
    return pg + 0.1 * kl - 0.01 * ent


def _grad(batch, splits, mode, use_global=True):
    weight = batch[2].clone().requires_grad_(True)
    tokens, seqs = count_tokens_and_seqs(batch[3])
    total = 0.0
    for rows in splits:
        rows = torch.tensor(rows)
        if use_global:
            loss = _rl_loss(batch, weight, rows, mode, tokens, seqs)
        else:  # naive: each micro-batch normalised by its own counts, averaged
            loss = _rl_loss(batch, weight, rows, mode, None, None) / len(splits)
        loss.backward()
        total += loss.item()
    return weight.grad, total


@pytest.mark.parametrize("mode", AGG_MODES)
def test_micro_batch_invariance(mode):
    batch = _tiny_policy_batch()
    full_grad, full_loss = _grad(batch, [list(range(6))], mode)
    # sanity: the full batch with its own (local) counts is the same as with the global counts
    weight = batch[2].clone().requires_grad_(True)
    assert _rl_loss(batch, weight, torch.arange(6), mode, None, None).item() == pytest.approx(full_loss, abs=1e-12)
    assert full_grad.abs().sum() > 0
    for splits in ([[0, 1, 2], [3, 4, 5]], [[0, 1], [2, 3], [4, 5]], [[0], [1, 2, 3], [4, 5]]):
        grad, loss = _grad(batch, splits, mode)
        torch.testing.assert_close(grad, full_grad, atol=1e-6, rtol=0)
        assert loss == pytest.approx(full_loss, abs=1e-9)


def test_micro_batch_local_normalisation_would_differ():
    """Shows the test above is sensitive: per-micro-batch token-mean averaged over micro-batches differs."""
    batch = _tiny_policy_batch()
    full_grad, _ = _grad(batch, [list(range(6))], "token-mean")
    naive_grad, _ = _grad(batch, [[0, 1], [2, 3], [4, 5]], "token-mean", use_global=False)
    assert (naive_grad - full_grad).abs().max() > 1e-4


# --------------------------------------------------------------------------------------------------
# Chunked log-probs and entropy
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature,chunk_size,with_bias,entropy_grad",
                         [(1.0, 4, False, True), (0.7, 5, True, True), (1.3, 1024, False, True), (0.7, 5, True, False)])
def test_chunked_logprobs_equal_naive(temperature, chunk_size, with_bias, entropy_grad):
    """Values and gradients of the fused head equal the naive full-logits ones (fp64: exact to rounding),
    with a gradient through the entropy (entropy bonus) and without one (the entropy only as a metric)."""
    gen = torch.Generator().manual_seed(4)
    B, T, H, V = 3, 7, 6, 11
    hidden0 = torch.randn(B, T, H, generator=gen, dtype=F64)
    weight0 = torch.randn(V, H, generator=gen, dtype=F64)
    bias0 = torch.randn(V, generator=gen, dtype=F64) if with_bias else None
    targets = torch.randint(0, V, (B, T), generator=gen)
    upstream_lp = torch.randn(B, T, generator=gen, dtype=F64)
    upstream_ent = torch.randn(B, T, generator=gen, dtype=F64) if entropy_grad else torch.zeros(B, T, dtype=F64)

    def run(chunked: bool):
        hidden = hidden0.clone().requires_grad_(True)
        weight = weight0.clone().requires_grad_(True)
        bias = bias0.clone().requires_grad_(True) if with_bias else None
        if chunked:
            lp, ent = token_logprobs_and_entropy(
                hidden, weight, targets, lm_head_bias=bias, temperature=temperature, chunk_size=chunk_size
            )
        else:
            logits = hidden @ weight.T + (bias if with_bias else 0)
            lp = token_logprobs_from_logits(logits, targets, temperature=temperature)
            ent = entropy_from_logits(logits / temperature)
        loss = (lp * upstream_lp).sum() + ((ent * upstream_ent).sum() if entropy_grad else 0.0)
        loss.backward()
        grads = [hidden.grad, weight.grad] + ([bias.grad] if with_bias else [])
        return lp.detach(), ent.detach(), grads

    lp_c, ent_c, grads_c = run(True)
    lp_n, ent_n, grads_n = run(False)
    torch.testing.assert_close(lp_c, lp_n, atol=1e-12, rtol=0)
    torch.testing.assert_close(ent_c, ent_n, atol=1e-12, rtol=0)
    for g_c, g_n in zip(grads_c, grads_n):
        torch.testing.assert_close(g_c, g_n, atol=1e-12, rtol=0)


def test_chunked_logprobs_of_a_bfloat16_head_take_the_softmax_in_fp32():
    """The bf16 logits (what the model's own head returns) are upcast before the softmax statistics."""
    gen = torch.Generator().manual_seed(7)
    hidden = torch.randn(5, 8, generator=gen).bfloat16().requires_grad_(True)
    weight = torch.randn(40, 8, generator=gen).bfloat16().requires_grad_(True)
    targets = torch.randint(0, 40, (5,), generator=gen)
    lp, ent = token_logprobs_and_entropy(hidden, weight, targets, chunk_size=2)
    assert lp.dtype == ent.dtype == torch.float32
    lp.sum().backward()
    assert hidden.grad.dtype == weight.grad.dtype == torch.bfloat16
    logits = (hidden.detach() @ weight.detach().T).float()
    torch.testing.assert_close(lp.detach(), token_logprobs_from_logits(logits, targets), atol=1e-5, rtol=0)
    torch.testing.assert_close(ent.detach(), entropy_from_logits(logits), atol=1e-5, rtol=0)


def test_chunked_logprobs_leave_banned_ids_out_of_the_distribution():
    """With banned ids (a VLM's vision placeholders, which the sampler never draws) the head gives the
    log-probs, entropy and gradients of the softmax over the remaining ids, at any temperature."""
    gen = torch.Generator().manual_seed(8)
    V, banned = 12, [3, 7]
    keep = [v for v in range(V) if v not in banned]
    hidden0 = torch.randn(6, 5, generator=gen, dtype=F64)
    weight0 = torch.randn(V, 5, generator=gen, dtype=F64)
    targets = torch.tensor(keep[:6])
    upstream = torch.randn(2, 6, generator=gen, dtype=F64)

    def run(fused: bool):
        hidden, weight = hidden0.clone().requires_grad_(True), weight0.clone().requires_grad_(True)
        if fused:
            lp, ent = token_logprobs_and_entropy(hidden, weight, targets, temperature=0.7, chunk_size=4,
                                                 banned_ids=banned)
        else:  # the softmax over the kept ids only
            logits = (hidden @ weight[keep].T) / 0.7
            lp = torch.log_softmax(logits, -1).gather(-1, torch.tensor([keep.index(t) for t in targets])[:, None])
            lp, ent = lp.squeeze(-1), entropy_from_logits(logits)
        ((lp * upstream[0]).sum() + (ent * upstream[1]).sum()).backward()
        return lp.detach(), ent.detach(), hidden.grad, weight.grad

    for fused_value, reference in zip(run(True), run(False)):
        torch.testing.assert_close(fused_value, reference, atol=1e-12, rtol=0)
    assert run(True)[3][banned].abs().max() == 0  # no gradient reaches the banned rows of the head


def test_chunked_logprobs_no_grad_and_without_entropy():
    gen = torch.Generator().manual_seed(5)
    hidden, weight = torch.randn(2, 3, 4, generator=gen), torch.randn(9, 4, generator=gen)
    targets = torch.randint(0, 9, (2, 3), generator=gen)
    with torch.no_grad():
        lp, ent = token_logprobs_and_entropy(hidden, weight, targets, chunk_size=2, compute_entropy=False)
    assert ent is None
    torch.testing.assert_close(lp, token_logprobs_from_logits(hidden @ weight.T, targets), atol=1e-6, rtol=0)
    assert_close(entropy_from_logits(torch.zeros(9, dtype=F64)), t64(math.log(9)), atol=1e-12)


def test_chunked_logprobs_keep_no_logits_for_backward():
    """Structure, not timing: the fused head saves only its inputs (hidden rows, the weight, the targets)
    and per-position statistics -- never a [chunk, V] logits tensor; the naive path saves [B*T, V]-sized ones."""
    B, T, H, V, chunk = 2, 8, 3, 50, 4
    gen = torch.Generator().manual_seed(6)
    hidden = torch.randn(B, T, H, generator=gen, requires_grad=True)
    weight = torch.randn(V, H, generator=gen, requires_grad=True)
    targets = torch.randint(0, V, (B, T), generator=gen)

    def saved_shapes(fn):
        shapes = []

        def pack(tensor):
            shapes.append(tuple(tensor.shape))
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            fn()
        return shapes

    chunked = saved_shapes(lambda: token_logprobs_and_entropy(hidden, weight, targets, chunk_size=chunk))
    assert chunked and all(math.prod(s) <= V * H for s in chunked), chunked
    assert not any(V in s and s != (V, H) for s in chunked), chunked
    naive = saved_shapes(lambda: token_logprobs_from_logits(hidden @ weight.T, targets))
    assert any(math.prod(s) >= B * T * V for s in naive), naive
