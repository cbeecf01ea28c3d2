"""The critic (value model) and PPO with GAE in the trainer, on tiny random models."""

from __future__ import annotations

import math

import pytest
import torch

from reasongym.agents.tiny import tiny_qwen2
from reasongym.training.config import CriticConfig, config_from_dict
from reasongym.training.critic import Critic, value_metrics
from reasongym.training.losses import count_tokens_and_seqs, value_loss
from reasongym.training.trainer import Trainer

from test_trainer import params, tiny_config, without_timings

GAE = {"algorithm": {"advantage": "gae", "gamma": 1.0, "lam": 0.95}, "critic": {"lr": 1e-2}}


def gae_config(out_dir, **sections) -> dict:
    """:func:`tiny_config` with PPO + GAE and a fast-learning critic."""
    config = tiny_config(out_dir, **GAE)
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def text_batch(seed: int = 0, rows: int = 3, width: int = 9) -> dict[str, torch.Tensor]:
    """Random ids, right-padded rows of different lengths, policy tokens after a 3-token prompt."""
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 256, (rows, width), generator=gen)
    lengths = [width - 2 * r for r in range(rows)]
    attention_mask = torch.zeros(rows, width, dtype=torch.long)
    loss_mask = torch.zeros(rows, width)
    for r, n in enumerate(lengths):
        attention_mask[r, :n] = 1
        loss_mask[r, 3:n] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
            "loss_mask": loss_mask}


def normalisers(mask: torch.Tensor) -> dict:
    tokens, seqs = count_tokens_and_seqs(mask)
    return dict(agg_mode="token-mean", global_tokens=tokens, global_seqs=seqs, norm_constant=None)


def test_values_are_those_of_the_state_before_each_token():
    """values[:, i] must equal the head on the last hidden state of the prefix tokens[:i], run on its own."""
    policy, _ = tiny_qwen2(seed=0)
    critic = Critic(policy, CriticConfig(), seed=0)
    with torch.no_grad():
        critic.model.head.weight.normal_(generator=torch.Generator().manual_seed(1))  # a head that discriminates
        ids = torch.tensor([[5, 17, 99, 3, 42, 7]])
        values = critic.values({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        assert values.shape == ids.shape and values[0, 0] == 0  # nothing precedes the first token
        for i in range(1, ids.shape[1]):
            prefix = ids[:, :i]
            hidden = critic.model.backbone(input_ids=prefix, attention_mask=torch.ones_like(prefix)).last_hidden_state
            expected = critic.model.head(hidden[:, -1]).squeeze(-1)
            assert torch.allclose(values[:, i], expected, atol=1e-5), f"position {i}"
        # so V_i does not see token i itself, and does see token i - 1
        changed = ids.clone()
        changed[0, 3] = 200
        moved = critic.values({"input_ids": changed, "attention_mask": torch.ones_like(ids)})
    assert torch.equal(moved[:, :4], values[:, :4])
    assert not torch.allclose(moved[:, 4], values[:, 4])


def test_value_head_starts_near_zero_and_critic_copies_without_sharing():
    policy, _ = tiny_qwen2(seed=0)
    critic = Critic(policy, CriticConfig(), seed=0)
    with torch.no_grad():
        values = critic.values(text_batch())
    assert values.abs().max() < 0.1
    backbone = critic.model.backbone
    assert all(p.requires_grad for p in critic.model.parameters())
    pairs = list(zip(policy.model.parameters(), backbone.parameters()))
    assert all(torch.equal(a, b) and a.data_ptr() != b.data_ptr() for a, b in pairs)


def test_lora_policy_gives_a_critic_of_the_base_weights():
    from peft import LoraConfig, get_peft_model

    base, _ = tiny_qwen2(seed=0)
    expected = {name: p.detach().clone() for name, p in base.model.named_parameters()}
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    critic = Critic(peft_model.get_base_model(), CriticConfig(), seed=0)
    copied = dict(critic.model.backbone.named_parameters())
    assert set(copied) == set(expected)  # no adapter weights, same names as the plain backbone
    assert all(torch.equal(copied[n], expected[n]) for n in expected)
    assert all(p.requires_grad for p in copied.values())


def test_update_lowers_the_value_loss_on_a_fixed_batch():
    policy, _ = tiny_qwen2(seed=0)
    critic = Critic(policy, CriticConfig(lr=1e-2, value_clip=None), seed=0)
    batch = text_batch()
    mask = batch["loss_mask"]
    returns = torch.randn(mask.shape, generator=torch.Generator().manual_seed(2))

    def loss() -> float:
        with torch.no_grad():
            return float(value_loss(critic.values(batch), returns, returns, mask, None)[0])

    before = loss()
    micro = [{**batch, "old_values": torch.zeros_like(mask), "returns": returns}]
    for _ in range(5):
        stats = critic.update(micro, **normalisers(mask))
    assert stats["critic/grad_norm"] > 0 and math.isfinite(stats["critic/value_loss"])
    assert loss() < 0.7 * before


def test_micro_batches_give_the_full_batch_update():
    batch = text_batch(rows=4)
    mask = batch["loss_mask"]
    targets = {"old_values": torch.zeros_like(mask), "returns": torch.randn(mask.shape)}
    whole = {**batch, **targets}
    halves = [{k: v[rows] for k, v in whole.items()} for rows in (slice(0, 1), slice(1, 4))]
    critics = [Critic(tiny_qwen2(seed=0)[0], CriticConfig(lr=1e-2), seed=0) for _ in range(2)]
    whole_stats = critics[0].update([whole], **normalisers(mask))
    split_stats = critics[1].update(halves, **normalisers(mask))
    # the same loss and gradient norm (parameters are not compared: Adam's first step is ~lr * sign(grad),
    # which turns float noise in near-zero gradients into lr-sized differences)
    for name in ("critic/value_loss", "critic/grad_norm"):
        assert split_stats[name] == pytest.approx(whole_stats[name], rel=1e-5), name


def test_environment_and_padding_positions_get_no_value_gradient():
    """Targets at mask-0 positions (prompt, environment, padding) must not change the update at all."""
    batch = text_batch()
    mask = batch["loss_mask"]
    gen = torch.Generator().manual_seed(3)
    old_values, returns = torch.randn(mask.shape, generator=gen), torch.randn(mask.shape, generator=gen)
    garbage = torch.full(mask.shape, 1e6)
    clean = {**batch, "old_values": old_values, "returns": returns}
    dirty = {**batch, "old_values": torch.where(mask > 0, old_values, -garbage),
             "returns": torch.where(mask > 0, returns, garbage)}
    critics = [Critic(tiny_qwen2(seed=0)[0], CriticConfig(lr=1e-2), seed=0) for _ in range(2)]
    initial = params(critics[0].model)
    stats = [critic.update([micro], **normalisers(mask)) for critic, micro in zip(critics, (clean, dirty))]
    assert stats[0] == stats[1]
    a, b = params(critics[0].model), params(critics[1].model)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], initial[n]) for n in a)  # the update did something


def test_value_metrics():
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    returns = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    perfect = value_metrics(returns, returns, mask)
    assert perfect["critic/explained_variance"] == pytest.approx(1.0)
    assert perfect["critic/returns_mean"] == pytest.approx(2.0)
    constant = value_metrics(torch.full_like(returns, 2.0), returns, mask)
    assert constant["critic/explained_variance"] == pytest.approx(0.0)
    assert "critic/explained_variance" not in value_metrics(returns, torch.ones_like(returns), mask)


def test_gae_trainer_step_updates_policy_and_critic(tmp_path):
    trainer = Trainer(config_from_dict(gae_config(tmp_path, run={"steps": 1})), resume=False)
    policy_before, critic_before = params(trainer.model), params(trainer.critic.model)
    metrics = trainer.step(1)
    policy_after, critic_after = params(trainer.model), params(trainer.critic.model)
    for name in ("loss/policy", "grad_norm", "critic/value_loss", "critic/grad_norm", "critic/vf_clipfrac",
                 "critic/values_mean", "critic/returns_mean"):
        assert math.isfinite(metrics[name]), name
    assert metrics["grad_norm"] > 0 and metrics["critic/grad_norm"] > 0 and metrics["critic/value_loss"] > 0
    assert any(not torch.equal(policy_before[n], policy_after[n]) for n in policy_before)
    changed = {n for n in critic_before if not torch.equal(critic_before[n], critic_after[n])}
    assert "head.weight" in changed and any(n.startswith("backbone.") for n in changed)


def test_gae_advantages_come_from_the_critic(tmp_path, monkeypatch):
    """Two identical runs whose critics differ only in the head's bias: same rollouts, different advantages."""
    seen = []
    real_update = Trainer._update

    def spy(self, trajectories, advantages, *args):
        seen.append((advantages.clone(), args[-1].clone()))
        return real_update(self, trajectories, advantages, *args)

    monkeypatch.setattr(Trainer, "_update", spy)
    for name, bias in (("a", 0.0), ("b", 0.5)):
        trainer = Trainer(config_from_dict(gae_config(tmp_path / name, run={"steps": 1})), resume=False)
        trainer.critic.model.head.bias.data.fill_(bias)
        trainer.step(1)
    (adv_a, mask_a), (adv_b, mask_b) = seen
    assert torch.equal(mask_a, mask_b)  # the same episodes were played
    policy = mask_a > 0
    assert not torch.allclose(adv_a[policy], adv_b[policy])


def test_gae_config_errors_are_clear():
    with pytest.raises(ValueError, match="'gae' needs a value model: add a 'critic:' section"):
        config_from_dict({"algorithm": {"advantage": "gae"}})
    with pytest.raises(ValueError, match="only used by algorithm.advantage 'gae', not 'grpo'"):
        config_from_dict({"critic": {}})
    with pytest.raises(ValueError, match=r"config.critic: unknown keys \['learning_rate'\]"):
        config_from_dict({**GAE, "critic": {"learning_rate": 1e-5}})
    with pytest.raises(ValueError, match="critic.lr must be positive"):
        config_from_dict({**GAE, "critic": {"lr": 0}})
    with pytest.raises(ValueError, match="critic.value_clip must be positive or null"):
        config_from_dict({**GAE, "critic": {"value_clip": -0.5}})
    with pytest.raises(ValueError, match=r"algorithm.lam must be in \[0, 1\]"):
        config_from_dict({**GAE, "algorithm": {"advantage": "gae", "lam": 1.5}})
    config = config_from_dict({"algorithm": {"advantage": "gae"}, "critic": {}})
    assert config.critic == CriticConfig() and config.algorithm.lam == 1.0
    assert config_from_dict({"algorithm": {"advantage": "gae"}, "critic": {"value_clip": None}}).critic.value_clip is None


def test_gae_run_resumes_exactly(tmp_path):
    sections = dict(algorithm={"ppo_epochs": 2}, run={"steps": 2})
    straight = Trainer(config_from_dict(gae_config(tmp_path / "a", **sections)), resume=False)
    straight_records = straight.train()
    Trainer(config_from_dict(gae_config(tmp_path / "b", algorithm={"ppo_epochs": 2}, run={"steps": 1})),
            resume=False).train()
    assert (tmp_path / "b" / "checkpoints" / "step_00000001" / "critic.pt").is_file()
    resumed = Trainer(config_from_dict(gae_config(tmp_path / "b", **sections)), resume=True)
    assert resumed.step_done == 1
    resumed_records = resumed.train()
    assert [r["step"] for r in resumed_records] == [1, 2]
    assert all("critic/value_loss" in r for r in resumed_records)
    assert without_timings(resumed_records) == without_timings(straight_records)
    for a, b in ((straight.model, resumed.model), (straight.critic.model, resumed.critic.model)):
        pa, pb = params(a), params(b)
        assert all(torch.equal(pa[n], pb[n]) for n in pa)
    sa, sb = straight.critic.optimizer.state_dict()["state"], resumed.critic.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_grpo_checkpoint_cannot_resume_as_gae(tmp_path):
    Trainer(config_from_dict(tiny_config(tmp_path, run={"steps": 1})), resume=False).train()
    assert not (tmp_path / "checkpoints" / "step_00000001" / "critic.pt").exists()
    with pytest.raises(FileNotFoundError, match="has no critic.pt"):
        Trainer(config_from_dict(gae_config(tmp_path, run={"steps": 2})), resume=True)
