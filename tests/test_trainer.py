"""The trainer end to end on a tiny random model: it updates, masks environment tokens, and resumes exactly."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import gymnasium as gym
import pytest
import torch
import yaml

from reasongym.training.config import config_from_dict, load_config
from reasongym.training.logprobs import compute_logprobs
from reasongym.training.losses import ppo_policy_loss
from reasongym.training.metrics import read_metrics
from reasongym.training.trainer import Trainer, per_turn_rewards

from conftest import REPO
from test_rollout import PictureEnv

TIMINGS = ("time/", "throughput/")


def tiny_config(out_dir, **sections) -> dict:
    """A config that trains the tiny Qwen2 on two-attempt Echo with dense partial credit."""
    config = {
        "model": {"name": "tiny-qwen2"},
        "env": {"id": "reason/Echo-v0", "kwargs": {"reward_mode": "partial", "max_attempts": 2}},
        "rollout": {"tasks_per_step": 2, "group_size": 4, "max_tokens": 6},
        "optim": {"lr": 1e-2, "micro_batch_size": 3},
        "run": {"steps": 3, "out_dir": str(out_dir), "save_every": 1},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


def params(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def without_timings(records):
    return [{k: v for k, v in r.items() if not k.startswith(TIMINGS)} for r in records]


def test_one_step_updates_parameters_with_finite_loss(tmp_path):
    trainer = Trainer(config_from_dict(tiny_config(tmp_path, run={"steps": 1})), resume=False)
    before = params(trainer.model)
    metrics = trainer.step(1)
    after = params(trainer.model)
    assert math.isfinite(metrics["loss/policy"]) and math.isfinite(metrics["grad_norm"])
    assert metrics["grad_norm"] > 0
    assert any(not torch.equal(before[n], after[n]) for n in before)
    assert metrics["logprob/rollout_vs_train_abs_diff"] < 1e-4  # training sees what sampling saw
    assert metrics["response/turns_mean"] >= 1


def test_environment_tokens_get_no_gradient(tmp_path):
    trainer = Trainer(config_from_dict(tiny_config(tmp_path)), resume=False)
    trajectories = trainer.collector.collect([0, 1], seed=3)
    assert any(t.num_turns == 2 for t in trajectories), "need a multi-turn episode with environment tokens inside"
    batch = trainer._collate(trajectories)
    mask = batch["loss_mask"]
    logprobs, _ = compute_logprobs(trainer.model, batch, compute_entropy=False)
    logprobs.retain_grad()
    advantages = torch.randn(mask.shape, generator=torch.Generator().manual_seed(0))
    loss, _ = ppo_policy_loss(logprobs, logprobs.detach(), advantages, mask)
    loss.backward()
    grad = logprobs.grad
    inside = torch.zeros_like(mask, dtype=torch.bool)  # environment tokens between two policy turns
    for row, t in enumerate(trajectories):
        positions = [i for i, turn in enumerate(t.turn_index) if turn >= 0]
        inside[row, positions[0]:positions[-1]] = True
    env_between = inside & (mask == 0)
    assert env_between.any()
    assert torch.all(grad[mask == 0] == 0)
    assert torch.count_nonzero(grad[mask == 1]) > 0


def test_resumed_run_matches_uninterrupted_run_exactly(tmp_path):
    straight = Trainer(config_from_dict(tiny_config(tmp_path / "a", algorithm={"kl_coef": 0.05})), resume=False)
    straight_records = straight.train()
    interrupted = config_from_dict(tiny_config(tmp_path / "b", algorithm={"kl_coef": 0.05}, run={"steps": 1}))
    Trainer(interrupted, resume=False).train()
    resumed = Trainer(config_from_dict(tiny_config(tmp_path / "b", algorithm={"kl_coef": 0.05})), resume=True)
    assert resumed.step_done == 1
    resumed_records = resumed.train()
    assert [r["step"] for r in resumed_records] == [1, 2, 3]
    assert without_timings(resumed_records) == without_timings(straight_records)
    a, b = params(straight.model), params(resumed.model)
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_killed_run_resumes_without_lost_or_repeated_steps(tmp_path, monkeypatch):
    config = config_from_dict(tiny_config(tmp_path, run={"steps": 4, "save_every": 2}))
    trainer = Trainer(config, resume=False)
    real_step = Trainer.step

    def dying_step(self, step):
        if step == 4:
            raise KeyboardInterrupt("killed")  # after step 3 was logged but before it was checkpointed
        return real_step(self, step)

    monkeypatch.setattr(Trainer, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    monkeypatch.setattr(Trainer, "step", real_step)
    resumed = Trainer(config, resume=True)
    assert resumed.step_done == 2
    records = resumed.train()
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    reference = Trainer(config_from_dict(tiny_config(tmp_path / "ref", run={"steps": 4, "save_every": 2})),
                        resume=False).train()
    assert without_timings(records) == without_timings(reference)


def test_lora_with_reference_kl_trains_adapters_only(tmp_path):
    config = config_from_dict(tiny_config(tmp_path, run={"steps": 2, "save_every": 1},
                                          model={"lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}},
                                          algorithm={"kl_coef": 0.1}))
    trainer = Trainer(config, resume=False)
    before = params(trainer.model)
    records = trainer.train()
    after = params(trainer.model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all("lora_" in n for n in changed)
    assert all("kl/mean" in r for r in records)
    assert (tmp_path / "checkpoints" / "step_00000002" / "model" / "adapter_config.json").exists()
    resumed = Trainer(config_from_dict({**tiny_config(tmp_path, model={"lora": {"r": 4, "alpha": 8,
                                                                                 "target_modules": ["q_proj", "v_proj"]}},
                                                      algorithm={"kl_coef": 0.1}), "run": {"steps": 3, "out_dir": str(tmp_path)}}))
    assert resumed.step_done == 2
    assert all(torch.equal(after[n], p) for n, p in params(resumed.model).items())


def test_periodic_evaluation_and_outputs(tmp_path):
    config = config_from_dict(tiny_config(tmp_path, run={"steps": 2, "eval_every": 2, "eval_tasks": 4}))
    records = Trainer(config, resume=False).train()
    assert [r["step"] for r in records] == [0, 1, 2]
    assert "eval/pass@1" in records[0] and "eval/pass@1" in records[2]
    assert (tmp_path / "eval" / "step_000002" / "summary.json").exists()
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert list((tmp_path / "tensorboard").iterdir())


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match=r"config.rollout: unknown keys \['groupsize'\]"):
        config_from_dict({"rollout": {"groupsize": 4}})
    with pytest.raises(ValueError, match="advantage"):
        config_from_dict({"algorithm": {"advantage": "ppo2"}})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path)))
    config = load_config(path, {"run.steps": 7, "rollout.group_size": 2})
    assert config.run.steps == 7 and config.rollout.group_size == 2


def test_cli_train_runs_a_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config(tmp_path / "run", run={"steps": 1})))
    run = subprocess.run([sys.executable, "-m", "reasongym.cli", "train", str(path), "--set", "rollout.group_size=2"],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1]


class VariedPictureEnv(PictureEnv):
    """PictureEnv whose outcome varies with the reply, so GRPO has something to push on."""

    def _judge(self, action: str):
        judgement = super()._judge(action)
        judgement.reward_parts["outcome"] = len(set(action)) / 8
        return judgement


def test_one_step_of_a_tiny_vlm_on_image_observations(tmp_path):
    if "test/VariedPicture-v0" not in gym.registry:
        gym.register("test/VariedPicture-v0", entry_point=VariedPictureEnv)
    config = config_from_dict(tiny_config(tmp_path, model={"name": "tiny-qwen2-vl"},
                                          env={"id": "test/VariedPicture-v0", "kwargs": {}},
                                          rollout={"tasks_per_step": 2, "group_size": 2, "max_tokens": 4},
                                          optim={"lr": 1e-2, "micro_batch_size": 3}, run={"steps": 1}))
    trainer = Trainer(config, resume=False)
    before = params(trainer.model)
    metrics = trainer.step(1)
    after = params(trainer.model)
    assert math.isfinite(metrics["loss/policy"]) and metrics["grad_norm"] > 0
    assert metrics["logprob/rollout_vs_train_abs_diff"] < 1e-4  # pixels and image tokens line up
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert any("visual" in n for n in changed) and any("visual" not in n for n in changed)


def test_per_turn_grpo_keeps_rewards_at_their_turns(tmp_path):
    config = config_from_dict(tiny_config(tmp_path, algorithm={"advantage": "per_turn_grpo"},
                                          reward={"gate_mode": "turn"}, run={"steps": 1}))
    trainer = Trainer(config, resume=False)
    trajectories = trainer.collector.collect([0, 1], seed=5)
    batch = trainer._collate(trajectories)
    turn_rewards, turn_mask = per_turn_rewards(batch["token_level_rewards"], batch["turn_index"])
    for row, t in enumerate(trajectories):
        assert turn_rewards[row, :t.num_completions].tolist() == pytest.approx(t.rewards)
        assert turn_mask[row].sum() == t.num_completions
    metrics = trainer.step(1)
    assert math.isfinite(metrics["loss/policy"]) and metrics["grad_norm"] > 0


def test_gradient_checkpointing_gives_the_same_update(tmp_path):
    # lean layers (off under checkpointing) round differently, and AdamW's first step is about lr * sign(grad)
    plain = Trainer(config_from_dict(tiny_config(tmp_path / "a", run={"steps": 1}, model={"lean_layers": False})),
                    resume=False)
    checkpointed = Trainer(config_from_dict(tiny_config(tmp_path / "b", run={"steps": 1},
                                                        model={"gradient_checkpointing": True})), resume=False)
    assert checkpointed.model.is_gradient_checkpointing and not plain.model.is_gradient_checkpointing
    initial = params(plain.model)
    plain.step(1)
    checkpointed.step(1)
    a, b = params(plain.model), params(checkpointed.model)
    assert any(not torch.equal(a[n], initial[n]) for n in a)
    assert all(torch.allclose(a[n], b[n], atol=1e-6) for n in a)


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_micro_batches_split_at_pack_boundaries_leave_the_gradient_unchanged(tmp_path):
    def first_step_gradient(pack_tokens: int, out: str):
        trainer = Trainer(config_from_dict(tiny_config(tmp_path / out, run={"steps": 1},
                                                       optim={"pack_tokens": pack_tokens, "micro_batch_size": 8})),
                          resume=False)
        calls, grads = [], {}
        logprobs = trainer._logprobs
        trainer._logprobs = lambda *a, **k: calls.append(1) or logprobs(*a, **k)

        def capture(*a, **k):
            grads.update((n, p.grad.clone()) for n, p in trainer.model.named_parameters() if p.grad is not None)
        trainer.optimizer.step = capture
        trainer.step(1)
        return grads, len(calls)

    padded, padded_calls = first_step_gradient(0, "padded")
    split, split_calls = first_step_gradient(8, "split")  # a few rows per pack: 8 trajectories, several packs
    assert padded_calls == 1 and split_calls > 1
    for name, grad in padded.items():
        assert (split[name] - grad).abs().max() <= 1e-5 * max(1.0, grad.abs().max()), name
