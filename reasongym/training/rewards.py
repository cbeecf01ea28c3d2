"""Reward transforms: from each turn's named reward parts to the scalar per-turn rewards advantages use.

Everything here is a pure function of the parts an environment reported in ``info["reward_parts"]``
(DESIGN.md: trainers work on the parts, never on the summed float) plus what the rollout knows about each
turn (response length, whether the action was valid). :class:`RewardTransform` bundles them in the order
the collector applies them:

1. shaping parts are added per turn: DAPO's soft overlong penalty on the response length
   (``"overlong"``) and a penalty for invalid actions (``"invalid_action"``, format shaping);
2. parts are weighted (:func:`weighted_sum`, weight 1 for unnamed parts) and split into the outcome
   (part ``"outcome"``), gated parts (by default every other part the environment reported) and ungated
   parts (the shaping parts, and environment parts left out of ``gated_parts``);
3. gated reward accumulation (G-RA): gated parts count only if the episode's weighted outcome reaches the
   threshold, ``R = R_outcome + 1[R_outcome >= tau] * sum_t r_step_t``, either as one episode reward on
   the last turn (``gate_mode="episode"``) or per turn, each step reward kept at its turn and zeroed when
   the gate is closed, the outcome at the last turn (``gate_mode="turn"``).

Penalties are never gated: a closed gate withholds rewards that could be farmed without solving the task,
and a penalty is not such a reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

OUTCOME = "outcome"
OVERLONG = "overlong"
INVALID_ACTION = "invalid_action"
GATE_MODES = ("episode", "turn")


def weighted_sum(parts: Mapping[str, float], weights: Mapping[str, float] | None = None) -> float:
    """``sum_k weights[k] * parts[k]``; parts without a weight count with weight 1."""
    weights = weights or {}
    return float(sum(weights.get(name, 1.0) * value for name, value in parts.items()))


def overlong_penalty(length: int, *, max_length: int, buffer: int, penalty: float = 1.0) -> float:
    """DAPO's soft overlong punishment of a response of ``length`` tokens.

    0 up to ``max_length - buffer`` tokens, then falling linearly to ``-penalty`` at ``max_length`` (and
    ``-penalty`` beyond). With ``buffer <= 0`` only responses longer than ``max_length`` are punished.
    """
    if length > max_length:
        return -penalty
    if buffer <= 0:
        return 0.0
    over = length - (max_length - buffer)
    return -penalty * over / buffer if over > 0 else 0.0


def invalid_action_penalty(valid_action: bool, penalty: float) -> float:
    """Format shaping: ``-penalty`` for an action the environment could not parse, else 0."""
    return 0.0 if valid_action else -penalty


def gated_episode_reward(outcome: float, step_rewards: Sequence[float], threshold: float) -> float:
    """G-RA episode form: ``outcome + 1[outcome >= threshold] * sum(step_rewards)``."""
    return float(outcome + (sum(step_rewards) if outcome >= threshold else 0.0))


def gated_turn_rewards(outcome: float, step_rewards: Sequence[float], threshold: float) -> list[float]:
    """G-RA per-turn form: each step reward at its turn, all zeroed unless ``outcome >= threshold``.

    The outcome is added to the last turn, so the rewards sum to :func:`gated_episode_reward`.
    """
    if not step_rewards:
        raise ValueError("an episode has at least one turn")
    gate = outcome >= threshold
    rewards = [float(r) if gate else 0.0 for r in step_rewards]
    rewards[-1] += float(outcome)
    return rewards


@dataclass(frozen=True)
class RewardTransform:
    """How a trajectory's per-turn reward parts become its per-turn scalar rewards (see the module docs).

    Attributes:
        weights: weight of each named part, including the shaping parts; missing parts weigh 1.
        gate_threshold: the G-RA threshold ``tau`` on the weighted outcome; ``None`` keeps the gate open.
        gate_mode: ``"episode"`` puts the episode's whole reward on its last turn; ``"turn"`` keeps each
            turn's reward at that turn (the outcome stays at the last turn).
        gated_parts: the environment parts the gate applies to; ``None`` means every part but the outcome.
        overlong_buffer: DAPO's soft overlong buffer in tokens (0 disables the soft penalty).
        overlong_penalty: the overlong penalty at ``max_length`` (the sampling ``max_tokens``).
        invalid_action_penalty: subtracted on turns whose action the environment could not parse.
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    gate_threshold: float | None = None
    gate_mode: str = "episode"
    gated_parts: tuple[str, ...] | None = None
    overlong_buffer: int = 0
    overlong_penalty: float = 1.0
    invalid_action_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.gate_mode not in GATE_MODES:
            raise ValueError(f"gate_mode must be one of {GATE_MODES}, got {self.gate_mode!r}")
        if self.overlong_buffer < 0:
            raise ValueError(f"overlong_buffer must be >= 0, got {self.overlong_buffer}")
        if self.gated_parts is not None and OUTCOME in self.gated_parts:
            raise ValueError("the outcome opens the gate; it cannot be gated itself")

    def shaping_parts(self, response_lengths: Sequence[int], valid_actions: Sequence[bool], *,
                      max_length: int) -> list[dict[str, float]]:
        """The shaping parts of each turn (only those that are switched on)."""
        shaped: list[dict[str, float]] = []
        for length, valid in zip(response_lengths, valid_actions, strict=True):
            parts: dict[str, float] = {}
            if self.overlong_buffer > 0:
                parts[OVERLONG] = overlong_penalty(length, max_length=max_length, buffer=self.overlong_buffer,
                                                   penalty=self.overlong_penalty)
            if self.invalid_action_penalty:
                parts[INVALID_ACTION] = invalid_action_penalty(valid, self.invalid_action_penalty)
            shaped.append(parts)
        return shaped

    def apply(self, reward_parts: Sequence[Mapping[str, float]], *, response_lengths: Sequence[int],
              valid_actions: Sequence[bool], max_length: int) -> list[float]:
        """The scalar reward of each turn.

        Args:
            reward_parts: ``info["reward_parts"]`` of each turn.
            response_lengths: the number of sampled tokens of each turn.
            valid_actions: ``info["valid_action"]`` of each turn.
            max_length: the sampling ``max_tokens`` (the overlong penalty's end point).
        """
        if not reward_parts:
            raise ValueError("an episode has at least one turn")
        if not len(reward_parts) == len(response_lengths) == len(valid_actions):
            raise ValueError(f"{len(reward_parts)} turns of reward parts, {len(response_lengths)} response "
                             f"lengths and {len(valid_actions)} validity flags")
        shaping = self.shaping_parts(response_lengths, valid_actions, max_length=max_length)
        outcome = 0.0
        gated: list[float] = []
        ungated: list[float] = []
        for parts, shaped in zip(reward_parts, shaping):
            outcome += weighted_sum({k: v for k, v in parts.items() if k == OUTCOME}, self.weights)
            gated.append(weighted_sum({k: v for k, v in parts.items() if self._is_gated(k)}, self.weights))
            other = {k: v for k, v in parts.items() if k != OUTCOME and not self._is_gated(k)}
            ungated.append(weighted_sum(other, self.weights) + weighted_sum(shaped, self.weights))
        threshold = float("-inf") if self.gate_threshold is None else self.gate_threshold
        if self.gate_mode == "episode":
            total = gated_episode_reward(outcome, gated, threshold) + sum(ungated)
            return [0.0] * (len(reward_parts) - 1) + [total]
        return [g + u for g, u in zip(gated_turn_rewards(outcome, gated, threshold), ungated)]

    def _is_gated(self, name: str) -> bool:
        return name != OUTCOME and (self.gated_parts is None or name in self.gated_parts)
