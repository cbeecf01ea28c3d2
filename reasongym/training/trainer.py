"""The RL trainer: rollouts, reward transforms, advantages, PPO-clip updates, checkpoints, metrics.

One training step, top to bottom (:meth:`Trainer.step`):

1. pick ``tasks_per_step`` task indices from the training range with a generator seeded by
   ``(run seed, step)``, and collect ``group_size`` token-in/token-out episodes per index
   (:class:`~reasongym.training.rollout.RolloutCollector`; DAPO dynamic sampling optional), then let a
   vLLM engine release its GPU memory when it sleeps during updates;
2. collate them into ``[B, L]`` tensors (:func:`~reasongym.training.trajectory.collate_trajectories`);
3. take the old log-probs from the training forward itself (one PPO epoch: the ratio is exactly 1), or
   from a separate no-grad pass (several epochs, or a KL penalty in the reward), and the reference
   log-probs when a KL term is on;
4. optionally subtract the KL penalty from the token rewards, then compute advantages with the configured
   estimator (for ``gae``, from the critic's no-grad values of the batch) and apply PSR/NSR sign weighting;
5. for each PPO epoch, accumulate the gradient of the policy loss (plus KL-in-loss and entropy terms)
   over micro-batches (split where they pack into several rows, the C heap's free pages released before
   each) normalised by the *global* token/sequence counts, clip it, and step AdamW and the
   LR schedule once; with a critic, then give it as many epochs of the clipped value loss towards GAE's
   returns, with the same micro-batches and normalisers;
6. hand the new weights to the rollout engine (a vLLM engine loads them; the transformers policy is the
   trained model already).

Every random choice of step ``s`` derives from ``(seed, s)``, so a run resumed from the checkpoint of step
``s`` replays steps ``s+1, ...`` exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console

from reasongym.agents.base import SamplingParams
from reasongym.training import advantages as adv
from reasongym.training.backends import build_collector, build_engine
from reasongym.training.checkpoint import list_checkpoints, load_trainer_state, save_checkpoint
from reasongym.training.config import TrainConfig
from reasongym.training.critic import Critic, value_metrics
from reasongym.training.logprobs import compute_logprobs
from reasongym.training.losses import agg_loss, count_tokens_and_seqs, kl_penalty, ppo_policy_loss
from reasongym.training.memory import release_free_memory
from reasongym.training.metrics import MetricsLogger, plot_metrics, read_metrics
from reasongym.training.models import build_policy_model
from reasongym.training.packing import pack_row_groups
from reasongym.training.rollout import derive_seed
from reasongym.training.trajectory import Trajectory, collate_trajectories

console = Console()


def per_turn_rewards(rewards: torch.Tensor, turn_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather token rewards ``[B, L]`` into per-turn rewards ``[B, K]`` and a turn mask ``[B, K]``."""
    policy = turn_index >= 0
    index = turn_index.clamp(min=0)
    turns = int(turn_index.max()) + 1
    turn_rewards = torch.zeros(rewards.shape[0], turns).scatter_add_(1, index, rewards * policy)
    turn_mask = torch.zeros(rewards.shape[0], turns).scatter_reduce_(1, index, policy.float(), reduce="amax")
    return turn_rewards, turn_mask


def compute_advantages(config: TrainConfig, rewards: torch.Tensor, mask: torch.Tensor, group_ids: torch.Tensor,
                       turn_index: torch.Tensor, values: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token advantages ``[B, L]`` with the configured estimator, then PSR/NSR sign weighting.

    ``per_turn_grpo`` normalises each turn's return-to-go within the group (with rewards kept at their
    turns, e.g. ``reward.gate_mode: turn``) and gives every token of a turn that turn's advantage.
    ``gae`` needs the critic's ``values`` ``[B, L]`` (of the state before each token) and is the only
    estimator that also returns the critic's targets (``returns`` ``[B, L]``); the others return ``None``.
    """
    algo = config.algorithm
    returns = None
    if algo.advantage == "per_turn_grpo":
        turn_rewards, turn_mask = per_turn_rewards(rewards, turn_index)
        turn_advantages = adv.per_turn_grpo_advantages(turn_rewards, turn_mask, group_ids, gamma=algo.gamma)
        advantages = adv.broadcast_turn_advantages(turn_advantages, turn_index) * mask
    elif algo.advantage in ("grpo", "dr_grpo"):
        advantages = adv.grpo_advantages(rewards, mask, group_ids, norm_by_std=algo.advantage == "grpo")
    elif algo.advantage == "rloo":
        advantages = adv.rloo_advantages(rewards, mask, group_ids)
    elif algo.advantage == "reinforce_pp":
        advantages = adv.reinforce_pp_advantages(rewards, mask, gamma=algo.gamma)
    elif algo.advantage == "reinforce_pp_baseline":
        advantages = adv.reinforce_pp_baseline_advantages(rewards, mask, group_ids)
    elif algo.advantage == "gae":
        if values is None:
            raise ValueError("advantage 'gae' needs the critic's values")
        advantages, returns = adv.gae_advantages(rewards, values, mask, gamma=algo.gamma, lam=algo.lam)
    else:
        raise ValueError(f"advantage {algo.advantage!r} is not supported by the trainer")
    return adv.sign_weighted(advantages, lambda_pos=algo.lambda_pos, lambda_neg=algo.lambda_neg), returns


def lr_lambda(config: TrainConfig):
    """The LR multiplier of optimiser step ``n``: linear warm-up, then constant, linear or cosine decay."""
    warmup, total, schedule = config.optim.warmup_steps, config.run.steps * config.algorithm.ppo_epochs, \
        config.optim.schedule

    def factor(n: int) -> float:
        if warmup and n < warmup:
            return (n + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (n - warmup) / max(1, total - warmup))
        return 1.0 - progress if schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def zero_variance_fraction(trajectories: Sequence[Trajectory]) -> float:
    """Fraction of GRPO groups whose returns are all equal (they carry no group-relative signal)."""
    groups: dict[int, list[float]] = {}
    for t in trajectories:
        groups.setdefault(t.group_id, []).append(t.total_reward)
    return float(np.mean([max(r) - min(r) < 1e-9 for r in groups.values()])) if groups else 0.0


class Trainer:
    """Trains a transformers policy on a reasongym environment; see the module docstring.

    Rollouts are sampled by the trained model itself or by a vLLM engine that follows it, from environments
    in this process or in Ray actors (``config.rollout``, :mod:`reasongym.training.backends`).

    Args:
        config: the run's configuration.
        resume: continue from the newest checkpoint in ``run.out_dir/checkpoints`` when there is one.
    """

    def __init__(self, config: TrainConfig, *, resume: bool = True):
        self.config = config
        self.out_dir = Path(config.run.out_dir)
        self.checkpoints = self.out_dir / "checkpoints"
        found = list_checkpoints(self.checkpoints) if resume else []
        checkpoint = found[-1] if found else None
        algo = config.algorithm
        self.parts = build_policy_model(config.model, seed=config.run.seed, need_reference=algo.kl_coef > 0,
                                        checkpoint=checkpoint)
        self.model = self.parts.model
        self.engine = build_engine(config, self.parts, self.out_dir)
        self.policy = self.engine.policy
        roll = config.rollout
        self.sampling = SamplingParams(max_tokens=roll.max_tokens, temperature=roll.temperature, top_p=roll.top_p,
                                       top_k=roll.top_k)
        self.train_range, self.eval_range = self._task_ranges()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.optim.lr, betas=config.optim.betas,
                                           weight_decay=config.optim.weight_decay, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(config))
        self.critic = Critic(self.model, config.critic, seed=config.run.seed) if config.critic is not None else None
        self.step_done = 0
        if checkpoint is not None:
            self.step_done = int(load_trainer_state(checkpoint, optimizer=self.optimizer, scheduler=self.scheduler,
                                                    extra=self._extra_states())["step"])
            console.print(f"resumed from {checkpoint} (step {self.step_done})")
        self.collector = build_collector(config, self.policy, self.sampling)  # last: it may start Ray actors
        self.metrics = MetricsLogger(self.out_dir, resume_step=self.step_done if checkpoint else None)

    # ------------------------------------------------------------------ data
    def _task_ranges(self) -> tuple[range, range]:
        """Training and held-out evaluation index ranges (evaluation takes the source's last items)."""
        probe = gym.make(self.config.env.id, **self.config.env.kwargs)
        size = len(probe.unwrapped.source)
        probe.close()
        run = self.config.run
        eval_count = min(run.eval_tasks, size // 2) if run.eval_every else 0
        first = self.config.env.first_index
        count = self.config.env.num_tasks or (size - eval_count - first)
        if first < 0 or count < 1 or first + count > size - eval_count:
            raise ValueError(f"training range [{first}, {first + count}) does not fit in {size} items "
                             f"with {eval_count} held out for evaluation")
        return range(first, first + count), range(size - eval_count, size)

    def _indices(self, step: int) -> tuple[list[int], Iterator[int]]:
        """This step's task indices and, for dynamic sampling, an iterator over further ones."""
        rng = np.random.default_rng([self.config.run.seed, step])
        order = rng.permutation(len(self.train_range))
        wanted = min(self.config.rollout.tasks_per_step, len(order))
        first = [self.train_range[i] for i in order[:wanted]]
        return first, (self.train_range[i] for i in order[wanted:])

    # ------------------------------------------------------------------ one step
    def _logprobs(self, model: Any, batch: dict[str, torch.Tensor], *, entropy: bool = False):
        """Log-probs (and entropy) of the policy tokens only: every use of them in a step is masked."""
        return compute_logprobs(model, batch, temperature=max(self.sampling.temperature, 1e-6),
                                chunk_size=self.config.optim.logprob_chunk_size, compute_entropy=entropy,
                                positions=batch["loss_mask"], pack_tokens=self.config.optim.pack_tokens)

    def _collate(self, trajectories: Sequence[Trajectory]) -> dict[str, torch.Tensor]:
        return collate_trajectories(trajectories, self.policy.pad_id, model=self.model)

    def _micro_batches(self, trajectories: Sequence[Trajectory]
                       ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """``(rows, collated batch)`` for each micro-batch of ``optim.micro_batch_size`` trajectories.

        A micro-batch that packs into several rows (``optim.pack_tokens``) is split into one micro-batch per
        pack (:func:`~reasongym.training.packing.pack_row_groups`), so its backward holds one pack's
        activations at a time; the loss is normalised by global counts, so the gradient is unchanged.
        """
        for rows in self._micro_batch_rows(len(trajectories)):
            indices = list(range(len(trajectories)))[rows]
            micro = self._collate(trajectories[rows])
            groups = pack_row_groups(self.model, micro, self.config.optim.pack_tokens)
            if len(groups) == 1:
                yield indices, micro
                continue
            for group in groups:
                chosen = [indices[i] for i in group]
                yield chosen, self._collate([trajectories[i] for i in chosen])

    def _micro_batch_rows(self, batch_size: int) -> list[slice]:
        """The rows of each micro-batch of a batch of ``batch_size`` trajectories."""
        size = self.config.optim.micro_batch_size
        return [slice(start, start + size) for start in range(0, batch_size, size)]

    def _loss_normalisers(self, mask: torch.Tensor) -> dict[str, Any]:
        """The global token/sequence counts (and Dr.GRPO's constant) that every micro-batch loss divides by."""
        n_tokens, n_seqs = count_tokens_and_seqs(mask)
        return dict(global_tokens=n_tokens, global_seqs=n_seqs, norm_constant=self.config.rollout.max_tokens)

    def _extra_states(self) -> dict[str, Any]:
        """Checkpointed parts beyond the policy, its optimiser and scheduler: the critic, when there is one."""
        return {"critic": self.critic} if self.critic is not None else {}

    def step(self, step: int) -> dict[str, Any]:
        """Run training step ``step`` (1-based) and return its metrics."""
        cfg, algo = self.config, self.config.algorithm
        started = time.perf_counter()
        indices, refill = self._indices(step)
        trajectories = self.collector.collect(indices, seed=derive_seed(cfg.run.seed, step), refill=refill)
        if not trajectories:
            raise RuntimeError(f"step {step}: dynamic sampling kept no group; widen the range or add rounds")
        self.engine.release()
        generated = time.perf_counter()
        batch = self._collate(trajectories)
        mask = batch["loss_mask"]
        # With one PPO epoch the old policy is the current one: its log-probs are the detached log-probs
        # of the training forward itself, so the separate no-grad pass is needed only for several
        # epochs or for a KL penalty in the reward.
        kl_reward = algo.kl_in_reward and algo.kl_coef > 0
        with torch.no_grad():
            old_logprobs = self._logprobs(self.model, batch)[0] if algo.ppo_epochs > 1 or kl_reward else None
            ref_logprobs = None
            if algo.kl_coef > 0:
                with self.parts.reference():
                    ref_logprobs, _ = self._logprobs(self.parts.reference_model, batch)
        with torch.no_grad():
            values = self.critic.values(batch).cpu() if self.critic is not None else None
        rewards = batch["token_level_rewards"]
        if kl_reward:
            rewards = rewards - algo.kl_coef * kl_penalty(old_logprobs, ref_logprobs, algo.kl_estimator) * mask
        advantages, returns = compute_advantages(cfg, rewards, mask, batch["group_ids"], batch["turn_index"],
                                                 values=values)
        scored = time.perf_counter()
        update = self._update(trajectories, advantages, old_logprobs, ref_logprobs, batch["old_logprobs"], mask)
        if self.critic is not None:
            update.update(self._update_critic(trajectories, values, returns, mask))
        self.engine.sync(self.model)
        finished = time.perf_counter()
        policy_tokens = int(mask.sum())
        metrics = {
            **self._reward_metrics(trajectories),
            **update,
            "response/length_mean": policy_tokens / len(trajectories),
            "response/turns_mean": float(np.mean([t.num_turns for t in trajectories])),
            "groups/zero_variance_fraction": zero_variance_fraction(trajectories),
            "lr": self.scheduler.get_last_lr()[0],
            "time/generation_s": generated - started,
            "time/logprob_s": scored - generated,
            "time/update_s": finished - scored,
            "throughput/tokens_per_s": int(batch["attention_mask"].sum()) / (finished - started),
        }
        stats = self.collector.last_stats
        if stats is not None and cfg.rollout.dynamic_sampling:
            metrics["groups/dropped"] = stats.groups_dropped
            metrics["groups/episodes_played"] = stats.episodes
        return {k: v for k, v in metrics.items() if v is not None}

    def _update(self, trajectories: Sequence[Trajectory], advantages: torch.Tensor, old_logprobs: torch.Tensor | None,
                ref_logprobs: torch.Tensor | None, rollout_logprobs: torch.Tensor,
                mask: torch.Tensor) -> dict[str, float]:
        """PPO epochs over micro-batches of trajectories, normalised by the global token/sequence counts.

        ``old_logprobs`` is ``None`` for a single epoch (the detached current log-probs serve). The first
        epoch also measures the KL to the reference and the gap to the rollout's own log-probs.
        """
        algo, optim = self.config.algorithm, self.config.optim
        agg = self._loss_normalisers(mask)
        n_tokens = agg["global_tokens"]
        mode = algo.loss_agg
        totals: dict[str, float] = {}
        diagnostics = {"kl/mean": 0.0, "logprob/rollout_vs_train_abs_diff": 0.0}
        total_tokens = max(1, int(n_tokens))
        self.model.train()
        for epoch in range(algo.ppo_epochs):
            for rows, micro in self._micro_batches(trajectories):
                if optim.release_memory:  # the sampling's or the last micro-batch's freed heap
                    release_free_memory()
                width = micro["input_ids"].shape[1]
                m = micro["loss_mask"]
                device = next(self.model.parameters()).device
                logprobs, entropy = self._logprobs(self.model, micro, entropy=True)
                m = m.to(device)
                current = logprobs.detach()
                old = current if old_logprobs is None else old_logprobs[rows, :width].to(device)
                if epoch == 0:
                    gap = (current - rollout_logprobs[rows, :width].to(device)).abs()
                    diagnostics["logprob/rollout_vs_train_abs_diff"] += float((gap * m).sum()) / total_tokens
                    if ref_logprobs is not None:
                        kl_now = kl_penalty(current, ref_logprobs[rows, :width].to(device), algo.kl_estimator)
                        diagnostics["kl/mean"] += float((kl_now * m).sum()) / total_tokens
                loss, stats = ppo_policy_loss(logprobs, old, advantages[rows, :width].to(device), m,
                                              clip_ratio_low=algo.clip_ratio_low, clip_ratio_high=algo.clip_ratio_high,
                                              dual_clip_c=algo.dual_clip_c, agg_mode=mode, **agg)
                total = loss
                if ref_logprobs is not None and not algo.kl_in_reward:
                    kl = kl_penalty(logprobs, ref_logprobs[rows, :width].to(device), algo.kl_estimator)
                    total = total + algo.kl_coef * agg_loss(kl, m, mode, **agg)
                entropy_term = agg_loss(entropy, m, mode, **agg)
                if algo.entropy_coef:
                    total = total - algo.entropy_coef * entropy_term
                total.backward()
                share = float(m.sum()) / max(1, n_tokens)  # token-weighted average of micro-batch stats
                entropy_share = (entropy.detach() * m).sum() / max(1, n_tokens)
                for name, value in (("loss/policy", loss.detach()), ("loss/total", total.detach()),
                                    ("entropy/mean", entropy_share),
                                    ("clip/fraction", stats["clipfrac"] * share),
                                    ("clip/dual_fraction", stats["dual_clipfrac"] * share),
                                    ("ppo/approx_kl", stats["approx_kl"] * share)):
                    totals[name] = totals.get(name, 0.0) + float(value)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, optim.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        epochs = algo.ppo_epochs
        if ref_logprobs is None:
            del diagnostics["kl/mean"]
        return {**{k: v / epochs for k, v in totals.items()}, **diagnostics, "grad_norm": float(grad_norm)}

    def _update_critic(self, trajectories: Sequence[Trajectory], values: torch.Tensor, returns: torch.Tensor,
                       mask: torch.Tensor) -> dict[str, float]:
        """``ppo_epochs`` critic updates on the step's batch, after the policy's (the two are independent).

        ``values`` (what GAE used, the value clipping's anchor) and ``returns`` (the targets) are ``[B, L]``.
        Value loss and clip fraction are averaged over epochs; the grad norm is the last epoch's, as for the
        policy. The explained variance etc. describe the values GAE used, before this step's updates.
        """
        micro_batches = []
        for rows in self._micro_batch_rows(len(trajectories)):
            micro = self._collate(trajectories[rows])
            width = micro["input_ids"].shape[1]
            micro_batches.append({**micro, "old_values": values[rows, :width], "returns": returns[rows, :width]})
        normalisers = self._loss_normalisers(mask)
        epochs = [self.critic.update(micro_batches, agg_mode=self.config.algorithm.loss_agg, **normalisers)
                  for _ in range(self.config.algorithm.ppo_epochs)]
        metrics = {name: float(np.mean([epoch[name] for epoch in epochs])) for name in epochs[0]}
        metrics["critic/grad_norm"] = epochs[-1]["critic/grad_norm"]
        return {**value_metrics(values, returns, mask), **metrics}

    def _reward_metrics(self, trajectories: Sequence[Trajectory]) -> dict[str, float]:
        returns = [t.total_reward for t in trajectories]
        metrics = {"reward/mean": float(np.mean(returns)), "reward/std": float(np.std(returns))}
        parts: dict[str, list[float]] = {}
        for t in trajectories:
            episode: dict[str, float] = {}
            for turn in t.reward_parts:
                for name, value in turn.items():
                    episode[name] = episode.get(name, 0.0) + value
            for name, value in episode.items():
                parts.setdefault(name, []).append(value)
        metrics.update({f"reward/{name}": float(np.mean(values)) for name, values in parts.items()})
        metrics["actions/invalid_rate"] = float(np.mean([not v for t in trajectories for v in t.valid_actions]))
        return metrics

    # ------------------------------------------------------------------ evaluation and the loop
    def evaluate(self, step: int) -> dict[str, float]:
        """Greedy pass@1 on the held-out items through the ``reasongym eval`` runner."""
        from reasongym.evaluation.runner import EvalConfig, evaluate

        run = self.config.run
        config = EvalConfig(self.config.env.id, k=1, first_index=self.eval_range.start, max_tasks=len(self.eval_range),
                            batch_size=min(32, len(self.eval_range)), seed=run.seed,
                            env_kwargs=dict(self.config.env.kwargs))
        sampling = replace(self.sampling, temperature=0.0, max_tokens=run.eval_max_tokens or self.sampling.max_tokens)
        summary = evaluate(config, self.policy, sampling, self.out_dir / "eval" / f"step_{step:06d}",
                           show_progress=False)
        return {"eval/pass@1": summary["pass@1"], "eval/reward_mean": summary["reward_mean"]}

    def train(self) -> list[dict[str, Any]]:
        """Run the remaining steps; checkpoint, evaluate and plot as configured; return all metrics."""
        run = self.config.run
        if self.step_done == 0 and run.eval_every:
            self.metrics.log(0, self.evaluate(0))
        try:
            for step in range(self.step_done + 1, run.steps + 1):
                metrics = self.step(step)
                if run.eval_every and step % run.eval_every == 0:
                    metrics.update(self.evaluate(step))
                self.metrics.log(step, metrics)
                self.step_done = step
                console.print(f"step {step}/{run.steps} reward {metrics['reward/mean']:.3f} "
                              f"loss {metrics['loss/policy']:.4f} len {metrics['response/length_mean']:.1f}"
                              + (f" eval {metrics['eval/pass@1']:.3f}" if "eval/pass@1" in metrics else ""))
                if step % run.save_every == 0 or step == run.steps:
                    self.save()
        finally:
            self.metrics.close()
            self.collector.close()
        records = read_metrics(self.metrics.path)
        plot_metrics(records, self.out_dir / "curves.png")
        return records

    def save(self) -> Path:
        """Checkpoint the current step."""
        return save_checkpoint(self.checkpoints, self.step_done, model=self.parts.saveable, optimizer=self.optimizer,
                               scheduler=self.scheduler, state={"config": self.config.to_dict()},
                               keep=self.config.run.keep_checkpoints, extra=self._extra_states())
