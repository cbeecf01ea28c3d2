"""Rollout collection: GRPO groups of token-in/token-out episodes, with DAPO dynamic sampling.

For each task index, ``group_size`` environments are reset to that item (``options={"index": i}``) with the
same reset seed, so a group starts from one state. All live episodes of a collection advance together:
one ``generate_ids`` call per turn. Each episode's sequence grows by the exact sampled ids and the exact
ids of the environment's reply (:class:`~reasongym.training.tokenize.ContinuationEncoder`), and the next
turn is generated from that sequence, never from re-tokenised text. When an episode ends its last
completion closes the sequence (the final observation is not appended: nothing is generated after it).

Seeds: every random choice derives from the ``seed`` passed to :meth:`RolloutCollector.collect` through
``numpy.random.SeedSequence`` hashing of ``(seed, round, group, member, turn)``: reset seeds per group,
sampling seeds per episode and turn (``generate_ids(seeds=...)``). The same seed gives the same
trajectories, independently of batching; no global RNG is read or written.

Environments live in an :class:`~reasongym.training.envpool.EnvPool`: in this process by default, or
on Ray actors (:class:`~reasongym.training.distributed.RayEnvPool`) when a pool is passed as ``env``; each
round resets all its episodes in one batch and steps all live episodes in one batch per turn.

Dynamic sampling (DAPO): groups whose episodes all got the same transformed return carry no GRPO signal;
they are dropped and replaced by groups on further task indices taken from ``refill``, for at most
``max_resample_rounds`` extra rounds. :attr:`RolloutCollector.last_stats` reports what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import gymnasium as gym
import numpy as np

from reasongym.agents.base import SamplingParams, TokenPolicy
from reasongym.training.envpool import EnvPool, LocalEnvPool, ResetRequest, env_factory
from reasongym.training.rewards import RewardTransform
from reasongym.training.tokenize import ContinuationEncoder
from reasongym.training.trajectory import Trajectory

_RESET, _SAMPLE = 0, 1


@dataclass(frozen=True)
class CollectStats:
    """What one :meth:`RolloutCollector.collect` call did."""

    #: groups asked for (the number of task indices passed)
    groups_requested: int
    #: groups in the returned trajectories
    groups_returned: int
    #: zero-variance groups dropped by dynamic sampling
    groups_dropped: int
    #: extra rounds run on refill indices
    resample_rounds: int
    #: episodes played, including those of dropped groups
    episodes: int


def derive_seed(*keys: int) -> int:
    """A 31-bit seed hashed from integer ``keys`` (unrelated streams for nearby keys)."""
    return int(np.random.SeedSequence([k % 2**64 for k in keys]).generate_state(1, dtype=np.uint32)[0]) >> 1


class RolloutCollector:
    """Plays GRPO groups of episodes with a token-level policy and returns their trajectories.

    Args:
        env: a registered environment id for ``gym.make``, a factory returning a new environment, or an
            :class:`~reasongym.training.envpool.EnvPool` holding the environments elsewhere (the collector
            then owns it: :meth:`close` closes it).
        env_kwargs: keyword arguments of ``gym.make`` or of the factory (a pool was built with its own).
        policy: the policy that samples (transformers or vLLM); its encoder and EOS ids define the token
            sequences.
        group_size: episodes per task index (G).
        sampling: generation settings of every turn (``sampling.seed`` is ignored: seeds derive from
            the ``seed`` given to :meth:`collect`).
        reward_transform: turns each episode's reward parts into per-turn rewards.
        dynamic_sampling: drop zero-variance groups and refill them (needs ``group_size >= 2``).
        max_resample_rounds: at most this many refill rounds per :meth:`collect` call.
    """

    def __init__(self, env: str | Callable[..., gym.Env] | EnvPool, env_kwargs: Mapping[str, Any] | None,
                 policy: TokenPolicy, *, group_size: int, sampling: SamplingParams,
                 reward_transform: RewardTransform | None = None, dynamic_sampling: bool = False,
                 max_resample_rounds: int = 3):
        if group_size < 1:
            raise ValueError(f"group_size must be at least 1, got {group_size}")
        if dynamic_sampling and group_size < 2:
            raise ValueError("dynamic sampling drops groups without reward variance; it needs group_size >= 2")
        if max_resample_rounds < 0:
            raise ValueError(f"max_resample_rounds must be >= 0, got {max_resample_rounds}")
        if isinstance(env, EnvPool) and env_kwargs:
            raise ValueError("env_kwargs are given to the EnvPool when it is built, not to the collector")
        self.envs = env if isinstance(env, EnvPool) else LocalEnvPool(env_factory(env, env_kwargs))
        self.policy = policy
        self.group_size = group_size
        self.sampling = sampling
        self.reward_transform = reward_transform or RewardTransform()
        self.dynamic_sampling = dynamic_sampling
        self.max_resample_rounds = max_resample_rounds
        self.continuations = ContinuationEncoder(policy.encoder, policy.eos_ids)
        self.last_stats: CollectStats | None = None

    def collect(self, task_indices: Sequence[int], seed: int, *,
                refill: Iterable[int] | None = None) -> list[Trajectory]:
        """Play ``group_size`` episodes per task index; return their trajectories, group by group.

        Args:
            task_indices: one GRPO group per index.
            seed: the root of every reset and sampling seed of this call.
            refill: further task indices for dynamic sampling (e.g. an iterator over the training
                range); consumed only when groups are dropped.

        Group ids are unique within the call. With dynamic sampling at most ``len(task_indices)`` groups
        are returned, fewer when ``refill`` or the resample rounds run out.
        """
        groups = self._play_groups(list(task_indices), seed, round_=0, first_group=0)
        episodes = len(groups) * self.group_size
        if not self.dynamic_sampling:
            self.last_stats = CollectStats(len(groups), len(groups), 0, 0, episodes)
            return [t for group in groups for t in group]
        wanted = len(task_indices)
        kept = [g for g in groups if _has_variance(g)]
        dropped, rounds, next_group = len(groups) - len(kept), 0, len(groups)
        more: Iterator[int] = iter(refill if refill is not None else ())
        while len(kept) < wanted and rounds < self.max_resample_rounds:
            indices = [index for _, index in zip(range(wanted - len(kept)), more)]
            if not indices:
                break
            rounds += 1
            groups = self._play_groups(indices, seed, round_=rounds, first_group=next_group)
            next_group += len(groups)
            episodes += len(groups) * self.group_size
            fresh = [g for g in groups if _has_variance(g)]
            dropped += len(groups) - len(fresh)
            kept += fresh
        self.last_stats = CollectStats(wanted, len(kept), dropped, rounds, episodes)
        return [t for group in kept for t in group]

    def close(self) -> None:
        """Close the environment pool."""
        self.envs.close()

    # ------------------------------------------------------------------ internals
    def _play_groups(self, task_indices: list[int], seed: int, *, round_: int,
                     first_group: int) -> list[list[Trajectory]]:
        """Play one round: a group of episodes per index, all advanced together turn by turn."""
        size = self.group_size
        requests = [ResetRequest(group * size + member, derive_seed(seed, round_, group, _RESET), {"index": index})
                    for group, index in enumerate(task_indices) for member in range(size)]
        trajectories: list[Trajectory] = []
        sampling_keys: list[tuple[int, ...]] = []
        for request, (observation, _) in zip(requests, self.envs.reset(requests)):
            group, member = divmod(request.slot, size)
            trajectory = Trajectory(group_id=first_group + group, env_id=self.envs.env_id,
                                    task_index=task_indices[group])
            trajectory.append_context(self.policy.encoder.encode(observation))
            trajectories.append(trajectory)
            sampling_keys.append((seed, round_, group, member, _SAMPLE))
        live = list(range(len(trajectories)))
        turn = 0
        while live:
            completions = self.policy.generate_ids(
                [trajectories[i].next_prompt() for i in live], self.sampling,
                seeds=[derive_seed(*sampling_keys[i], turn) for i in live],
            )
            results = self.envs.step([(i, completion.text) for i, completion in zip(live, completions)])
            still_live = []
            for i, completion, (observation, _, terminated, truncated, info) in zip(live, completions, results):
                trajectory = trajectories[i]
                trajectory.append_completion(completion)
                trajectory.record_step(info)
                if terminated or truncated:
                    trajectory.terminated, trajectory.truncated = bool(terminated), bool(truncated)
                else:
                    trajectory.append_context(self.continuations.encode(observation, completion.token_ids))
                    still_live.append(i)
            live = still_live
            turn += 1
        for trajectory in trajectories:
            trajectory.rewards = self.reward_transform.apply(
                trajectory.reward_parts, response_lengths=trajectory.response_lengths,
                valid_actions=trajectory.valid_actions, max_length=self.sampling.max_tokens,
            )
        return [trajectories[g * size:(g + 1) * size] for g in range(len(task_indices))]


def _has_variance(group: Sequence[Trajectory]) -> bool:
    """Whether the episodes of a group got different returns (a GRPO learning signal)."""
    returns = [t.total_reward for t in group]
    return max(returns) - min(returns) > 1e-9
