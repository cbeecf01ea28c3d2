"""Play episodes: a batch of environments driven by one policy until each ends.

Each live episode's conversation is the environment's messages plus the policy's assistant turns; all
live episodes are sent to ``policy.generate`` together, so a batch of G envs reset to the same item is
a GRPO group. Used by ``reasongym eval`` and as the core of the trainer's rollout collector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import gymnasium as gym

from reasongym.agents.base import Completion, Policy, SamplingParams
from reasongym.envs.spaces import Message, text_message


@dataclass
class Step:
    """One action and what the environment answered."""

    completion: Completion
    observation: list[Message]
    reward: float
    reward_parts: dict[str, float]
    info: dict[str, Any]


@dataclass
class Episode:
    """A finished episode: the opening messages, then every step."""

    reset_info: dict[str, Any]
    first_observation: list[Message]
    steps: list[Step] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    @property
    def messages(self) -> list[Message]:
        """The conversation: opening messages, then each assistant turn and the env's reply to it."""
        messages = list(self.first_observation)
        for i, step in enumerate(self.steps):
            messages.append(text_message("assistant", step.completion.text))
            if i + 1 < len(self.steps):
                messages.extend(step.observation)
        return messages

    @property
    def total_reward(self) -> float:
        return sum(s.reward for s in self.steps)

    @property
    def reward_parts(self) -> dict[str, float]:
        """Each named part summed over the episode's steps."""
        totals: dict[str, float] = {}
        for step in self.steps:
            for name, value in step.reward_parts.items():
                totals[name] = totals.get(name, 0.0) + value
        return totals

    @property
    def final_info(self) -> dict[str, Any]:
        return self.steps[-1].info if self.steps else {}


PolicyFor = Callable[[Sequence[gym.Env]], Policy]


def play(envs: Sequence[gym.Env], policy: Policy | PolicyFor, sampling: SamplingParams,
         reset_kwargs: Sequence[dict[str, Any]]) -> list[Episode]:
    """Reset ``envs[i]`` with ``reset_kwargs[i]`` and step them all until every episode has ended.

    ``policy`` may be a callable taking the list of live envs and returning a policy, for policies that
    read the environment itself (the scripted oracle).
    """
    if len(envs) != len(reset_kwargs):
        raise ValueError(f"{len(envs)} envs but {len(reset_kwargs)} reset kwargs")
    episodes = []
    conversations: list[list[Message]] = []
    for env, kwargs in zip(envs, reset_kwargs):
        observation, info = env.reset(**kwargs)
        episodes.append(Episode(reset_info=info, first_observation=observation))
        conversations.append(list(observation))
    live = list(range(len(envs)))
    while live:
        is_factory = isinstance(policy, type) or not isinstance(policy, Policy)  # a class is a factory too
        actor = policy(tuple(envs[i] for i in live)) if is_factory else policy
        completions = actor.generate([conversations[i] for i in live], sampling)
        if len(completions) != len(live):
            raise RuntimeError(f"policy returned {len(completions)} completions for {len(live)} conversations")
        still_live = []
        for i, completion in zip(live, completions):
            observation, reward, terminated, truncated, info = envs[i].step(completion.text)
            episodes[i].steps.append(Step(completion, observation, float(reward), info["reward_parts"], info))
            conversations[i] += [text_message("assistant", completion.text), *observation]
            if terminated or truncated:
                episodes[i].terminated, episodes[i].truncated = terminated, truncated
            else:
                still_live.append(i)
        live = still_live
    return episodes
