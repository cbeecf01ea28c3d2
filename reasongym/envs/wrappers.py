"""Reward wrappers for users of other trainers: G-RA gating and re-weighting of named reward parts.

Both work on ``info["reward_parts"]`` (the reasongym env contract) and keep it truthful: after wrapping,
the parts in ``info["reward_parts"]`` are what was paid and sum to the returned reward; the environment's
own parts stay available in ``info["raw_reward_parts"]``. The reasongym trainer applies the same
transforms itself (:mod:`reasongym.training.rewards`) and does not need these wrappers.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, SupportsFloat

import gymnasium as gym

OUTCOME = "outcome"


def _reward_parts(info: Mapping[str, Any], env: gym.Env) -> dict[str, float]:
    if "reward_parts" not in info:
        raise KeyError(f"{env} returned no info['reward_parts']; these wrappers need the reasongym reward contract")
    return {name: float(value) for name, value in info["reward_parts"].items()}


class GatedRewardWrapper(gym.Wrapper):
    """Gated reward accumulation (G-RA): step rewards are paid only if the outcome reaches a threshold.

    The gated parts of each step's reward (by default every part except ``"outcome"``) are withheld and
    buffered; when the episode ends (``terminated`` or ``truncated``) the final step pays its own ungated
    parts, the outcome, and — only if the episode's total outcome is ``>= threshold`` — the buffered sum::

        R = R_outcome + 1[R_outcome >= threshold] * sum_t r_step_t

    **Per-step rewards are therefore delayed to the final step**: intermediate steps return only their
    ungated parts (and any outcome they carry). Each step's ``info["gated_reward"]`` reports the
    breakdown: ``withheld`` (buffered so far), and on the final step also ``outcome``, ``gate_open`` and
    ``paid`` (the step reward actually paid). The buffer is cleared by ``reset``.

    Args:
        env: an environment following the reasongym reward contract.
        threshold: the gate threshold ``tau`` on the episode's summed outcome part.
        gated_parts: the parts to gate; ``None`` gates every part except the outcome.
    """

    def __init__(self, env: gym.Env, threshold: float, gated_parts: Sequence[str] | None = None):
        super().__init__(env)
        if gated_parts is not None and OUTCOME in gated_parts:
            raise ValueError("the outcome opens the gate; it cannot be gated itself")
        self.threshold = float(threshold)
        self.gated_parts = None if gated_parts is None else frozenset(gated_parts)
        self._withheld: dict[str, float] = {}
        self._outcome = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset the environment and forget any withheld rewards."""
        self._withheld, self._outcome = {}, 0.0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step, withhold the gated parts, and pay them at the end if the gate opens."""
        observation, _, terminated, truncated, info = self.env.step(action)
        raw = _reward_parts(info, self.env)
        paid = {}
        for name, value in raw.items():
            if self._is_gated(name):
                self._withheld[name] = self._withheld.get(name, 0.0) + value
                paid[name] = 0.0
            else:
                paid[name] = value
        self._outcome += raw.get(OUTCOME, 0.0)
        breakdown: dict[str, Any] = {"withheld": sum(self._withheld.values())}
        if terminated or truncated:
            gate_open = self._outcome >= self.threshold
            for name, value in self._withheld.items():
                paid[name] = value if gate_open else 0.0
            breakdown.update(outcome=self._outcome, gate_open=gate_open,
                             paid=breakdown["withheld"] if gate_open else 0.0)
            self._withheld, self._outcome = {}, 0.0
        info = {**info, "raw_reward_parts": raw, "reward_parts": paid, "gated_reward": breakdown}
        return observation, float(sum(paid.values())), terminated, truncated, info

    def _is_gated(self, name: str) -> bool:
        return name != OUTCOME and (self.gated_parts is None or name in self.gated_parts)


class RewardPartsWeights(gym.Wrapper):
    """Re-weight named reward parts: ``reward = sum_k weights[k] * parts[k]`` (missing weights are 1)."""

    def __init__(self, env: gym.Env, weights: Mapping[str, float]):
        super().__init__(env)
        self.weights = dict(weights)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step and replace the reward with the weighted sum of its parts."""
        observation, _, terminated, truncated, info = self.env.step(action)
        raw = _reward_parts(info, self.env)
        weighted = {name: self.weights.get(name, 1.0) * value for name, value in raw.items()}
        info = {**info, "raw_reward_parts": raw, "reward_parts": weighted}
        return observation, float(sum(weighted.values())), terminated, truncated, info
