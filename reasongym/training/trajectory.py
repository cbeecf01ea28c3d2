"""Trajectories: the exact token sequence of one episode, and their collation into training batches.

A :class:`Trajectory` is built segment by segment while an episode is played: the templated first
observation, then for each turn the ids the policy sampled and the ids of the environment's reply (see
:mod:`reasongym.training.tokenize`). The concatenation is the sequence the policy was conditioned on at
every turn, so training sees exactly what sampling saw.

Alignment convention (shared by :class:`Trajectory`, :func:`collate_trajectories` and
:func:`reasongym.training.logprobs.compute_logprobs`): every per-token list or ``[B, L]`` tensor is
aligned with ``token_ids``/``input_ids``. Entry ``i`` describes token ``i``: ``loss_mask[i]`` says whether
token ``i`` was sampled by the policy, ``old_logprobs[i]`` is the log-prob with which it was sampled, and
a recomputed log-prob for token ``i`` comes from the logits at position ``i - 1`` (position 0 has none and
gets 0; it is always a prompt token). ``token_level_rewards[i]`` is non-zero only on the last policy token
of a turn, where that turn's transformed reward is placed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from reasongym.agents.base import Completion
from reasongym.agents.encoding import PER_TOKEN_KEYS, EncodedPrompt
from reasongym.agents.positions import TextPositions, position_scheme

#: keys of a collated batch that are inputs of the model's forward pass (the rest are training targets)
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "position_ids", "pixel_values", "image_grid_thw",
                    "pixel_values_videos", "video_grid_thw", "second_per_grid_ts", *sorted(PER_TOKEN_KEYS))


@dataclass
class Trajectory:
    """One episode as a token sequence, with its per-turn rewards and metadata.

    Attributes:
        token_ids: the full sequence: prompt, then each turn's sampled ids and the environment's reply.
        loss_mask: 1 on ids the policy sampled, 0 on prompt and environment ids.
        rollout_logprobs: the sampling log-prob of each policy id; 0.0 where ``loss_mask`` is 0.
        turn_index: the turn (0-based) that sampled each id; -1 for prompt and environment ids.
        per_token: per-token processor outputs of a VLM (``mm_token_type_ids``), aligned with ``token_ids``
            (0, i.e. text, on sampled ids); empty for text models.
        vision: the processor tensors (``pixel_values``, ``image_grid_thw``, video keys) of each segment
            that holds images or videos, in the order their placeholders appear in ``token_ids``.
        reward_parts: ``info["reward_parts"]`` of each step, as the environment returned them.
        rewards: the scalar reward of each turn after the reward transform (filled by the collector).
        valid_actions: ``info["valid_action"]`` of each step (True when the env does not say).
        finish_reasons: each completion's finish reason (``"stop"`` or ``"length"``).
        group_id: the GRPO group (episodes started from the same task item in one collection).
        env_id: the environment id (or class name for a factory without a registered id).
        task_index: the item index passed as ``reset(options={"index": ...})``.
        terminated: whether the episode ended by the task's rules.
        truncated: whether the turn budget or a time limit ended it.
        final_info: the ``info`` of the last step.
    """

    token_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    rollout_logprobs: list[float] = field(default_factory=list)
    turn_index: list[int] = field(default_factory=list)
    per_token: dict[str, list[int]] = field(default_factory=dict)
    vision: list[dict[str, torch.Tensor]] = field(default_factory=list)
    reward_parts: list[dict[str, float]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    valid_actions: list[bool] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    group_id: int = 0
    env_id: str = ""
    task_index: int = -1
    terminated: bool = False
    truncated: bool = False
    final_info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ building
    def append_context(self, segment: EncodedPrompt) -> None:
        """Append prompt or environment ids (loss mask 0) and any processor tensors they come with."""
        n = len(segment.input_ids)
        per_token = {key: value.tolist() for key, value in segment.vision.items() if key in PER_TOKEN_KEYS}
        self._extend_per_token(per_token, n)
        media = {key: value for key, value in segment.vision.items() if key not in PER_TOKEN_KEYS}
        if media:
            self.vision.append(media)
        self.token_ids.extend(int(i) for i in segment.input_ids)
        self.loss_mask.extend([0] * n)
        self.rollout_logprobs.extend([0.0] * n)
        self.turn_index.extend([-1] * n)

    def append_completion(self, completion: Completion) -> None:
        """Append one turn's sampled ids (loss mask 1) with their sampling log-probs."""
        ids = completion.token_ids
        if not ids or completion.logprobs is None or len(completion.logprobs) != len(ids):
            raise ValueError("a completion needs its sampled token ids and one log-prob per id")
        n = len(ids)
        self._extend_per_token({}, n)
        turn = self.num_completions
        self.token_ids.extend(int(i) for i in ids)
        self.loss_mask.extend([1] * n)
        self.rollout_logprobs.extend(float(x) for x in completion.logprobs)
        self.turn_index.extend([turn] * n)
        self.finish_reasons.append(completion.finish_reason)

    def record_step(self, info: dict[str, Any]) -> None:
        """Record what the environment said about the latest completion."""
        if "reward_parts" not in info:
            raise KeyError("the environment's step info has no 'reward_parts' (see the reasongym env contract)")
        self.reward_parts.append({name: float(value) for name, value in info["reward_parts"].items()})
        self.valid_actions.append(bool(info.get("valid_action", True)))
        self.final_info = info

    def _extend_per_token(self, values: dict[str, list[int]], n: int) -> None:
        """Extend every per-token list by ``n`` entries: ``values[key]`` where given, else 0 (text)."""
        for key in sorted(set(values) | set(self.per_token)):
            column = self.per_token.setdefault(key, [0] * len(self.token_ids))
            given = values.get(key)
            if given is not None and len(given) != n:
                raise ValueError(f"{key} has {len(given)} entries for {n} ids")
            column.extend(given if given is not None else [0] * n)

    # ------------------------------------------------------------------ reading
    @property
    def num_completions(self) -> int:
        """How many completions the sequence holds."""
        return len(self.finish_reasons)

    @property
    def num_turns(self) -> int:
        """How many steps the episode took."""
        return len(self.reward_parts)

    @property
    def response_lengths(self) -> list[int]:
        """The number of sampled ids of each turn."""
        lengths = [0] * self.num_completions
        for turn in self.turn_index:
            if turn >= 0:
                lengths[turn] += 1
        return lengths

    @property
    def total_reward(self) -> float:
        """The sum of the transformed per-turn rewards (the episode's return)."""
        return float(sum(self.rewards))

    def last_policy_positions(self) -> list[int]:
        """The position in ``token_ids`` of the last sampled id of each turn."""
        last = [-1] * self.num_completions
        for position, turn in enumerate(self.turn_index):
            if turn >= 0:
                last[turn] = position
        return last

    def vision_inputs(self) -> dict[str, torch.Tensor]:
        """The processor tensors of every image and video of the sequence, concatenated in order."""
        keys = sorted({key for segment in self.vision for key in segment})
        return {key: torch.cat([segment[key] for segment in self.vision if key in segment]) for key in keys}

    def next_prompt(self) -> EncodedPrompt:
        """The whole sequence so far as a prompt for :meth:`TransformersPolicy.generate_ids`."""
        vision = self.vision_inputs()
        vision.update({key: torch.tensor(values, dtype=torch.long) for key, values in self.per_token.items()})
        return EncodedPrompt(input_ids=list(self.token_ids), vision=vision)


def collate_trajectories(trajectories: Sequence[Trajectory], pad_id: int, *,
                         model: Any = None) -> dict[str, torch.Tensor]:
    """Right-pad trajectories into a training batch (see the module docstring for the alignment).

    Returns CPU tensors:

    * ``input_ids`` ``[B, L]`` (``pad_id`` after the end), ``attention_mask`` ``[B, L]`` (long);
    * ``loss_mask``, ``old_logprobs``, ``token_level_rewards`` ``[B, L]`` float32 (0 on padding);
    * ``turn_index`` ``[B, L]`` long (-1 on non-policy ids and padding), ``group_ids`` ``[B]`` long;
    * ``position_ids``: ``[B, L]`` for text models; ``[3, B, L]`` from the model's own ``get_rope_index``
      for Qwen2-VL / Qwen2.5-VL (pass ``model``), which places image and video tokens on the M-RoPE grid;
    * for VLMs, the per-token ``mm_token_type_ids`` ``[B, L]`` and the vision tensors of all trajectories
      concatenated in batch order (``pixel_values``, ``image_grid_thw``, video keys).

    Each turn's reward in ``Trajectory.rewards`` goes on the last policy token of that turn.

    Raises:
        ValueError: on an empty batch, on trajectories whose rewards were not filled in, or on
            trajectories with images or videos but no ``model`` to compute their positions.
    """
    if not trajectories:
        raise ValueError("cannot collate an empty list of trajectories")
    width = max(len(t.token_ids) for t in trajectories)
    shape = (len(trajectories), width)
    batch = {
        "input_ids": torch.full(shape, pad_id, dtype=torch.long),
        "attention_mask": torch.zeros(shape, dtype=torch.long),
        "loss_mask": torch.zeros(shape, dtype=torch.float32),
        "old_logprobs": torch.zeros(shape, dtype=torch.float32),
        "token_level_rewards": torch.zeros(shape, dtype=torch.float32),
        "turn_index": torch.full(shape, -1, dtype=torch.long),
        "group_ids": torch.tensor([t.group_id for t in trajectories], dtype=torch.long),
    }
    per_token_keys = sorted({key for t in trajectories for key in t.per_token})
    for key in per_token_keys:
        batch[key] = torch.zeros(shape, dtype=torch.long)
    for row, trajectory in enumerate(trajectories):
        if len(trajectory.rewards) != trajectory.num_completions:
            raise ValueError(f"trajectory {row} has {len(trajectory.rewards)} rewards for "
                             f"{trajectory.num_completions} turns; apply the reward transform first")
        n = len(trajectory.token_ids)
        batch["input_ids"][row, :n] = torch.tensor(trajectory.token_ids, dtype=torch.long)
        batch["attention_mask"][row, :n] = 1
        batch["loss_mask"][row, :n] = torch.tensor(trajectory.loss_mask, dtype=torch.float32)
        batch["old_logprobs"][row, :n] = torch.tensor(trajectory.rollout_logprobs, dtype=torch.float32)
        batch["turn_index"][row, :n] = torch.tensor(trajectory.turn_index, dtype=torch.long)
        for position, reward in zip(trajectory.last_policy_positions(), trajectory.rewards):
            batch["token_level_rewards"][row, position] = reward
        for key in per_token_keys:
            if key in trajectory.per_token:
                batch[key][row, :n] = torch.tensor(trajectory.per_token[key], dtype=torch.long)
    media = [t.vision_inputs() for t in trajectories]
    for key in sorted({key for inputs in media for key in inputs}):
        batch[key] = torch.cat([inputs[key] for inputs in media if key in inputs])
    if model is None and any(media):
        raise ValueError("trajectories with images or videos need model= to compute their M-RoPE position ids")
    positions = TextPositions() if model is None else position_scheme(model)
    batch["position_ids"] = positions.prompt(batch["input_ids"], batch["attention_mask"], batch)
    return batch
