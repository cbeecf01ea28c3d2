"""The scripted oracle: answers from the environment's ground truth, to prove each env is solvable."""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym

from reasongym.agents.base import Completion, SamplingParams
from reasongym.envs.spaces import Message


class OraclePolicy:
    """Answers conversation ``i`` with ``envs[i].unwrapped.oracle_action()``.

    It reads the env, not the conversation, so it is built per batch of live envs (see
    :func:`reasongym.agents.loop.play`, which accepts ``OraclePolicy`` itself as the policy factory).
    """

    def __init__(self, envs: Sequence[gym.Env]):
        self.envs = list(envs)

    def generate(self, conversations: Sequence[list[Message]], sampling: SamplingParams) -> list[Completion]:
        if len(conversations) != len(self.envs):
            raise ValueError(f"oracle bound to {len(self.envs)} envs got {len(conversations)} conversations")
        return [Completion(text=env.unwrapped.oracle_action()) for env in self.envs]
