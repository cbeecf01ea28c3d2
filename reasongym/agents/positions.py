"""Position ids for left-padded, KV-cached decoding, for 1-D RoPE models and Qwen-VL's M-RoPE.

Passing position ids explicitly keeps the decoding loop independent of per-model generation hooks and of
state that Qwen-VL models otherwise keep between calls (``rope_deltas``). With left padding, a token's
position is the number of real tokens before it, so padding never shifts positions.

Qwen2-VL / Qwen2.5-VL use three position rows (time, height, width). For the prompt they come from the
model's own ``get_rope_index``; every later text token sits at its 1-D position plus that row's
``rope_delta`` (how far the vision tokens moved the positions), on all three rows.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch


class PositionScheme(Protocol):
    """Computes position ids for the prompt pass and for each single-token decoding step."""

    def prompt(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, vision: dict[str, Any]) -> torch.Tensor:
        """Position ids for the whole left-padded prompt."""
        ...

    def step(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Position ids of the newest token, given the mask including it."""
        ...

    def select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat) the per-row state of ``rows``, as the decoding batch is reshaped."""
        ...


def _text_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """0-based positions counting only real tokens; padding slots get 0."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class TextPositions:
    """1-D positions for ordinary decoder-only language models."""

    def prompt(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, vision: dict[str, Any]) -> torch.Tensor:
        return _text_positions(attention_mask)

    def step(self, attention_mask: torch.Tensor) -> torch.Tensor:
        return _text_positions(attention_mask)[:, -1:]

    def select(self, rows: torch.Tensor) -> None:
        """Nothing to do: text positions follow from the attention mask alone."""


class MRopePositions:
    """Qwen-VL multimodal RoPE positions (``[3, B, L]``), built with the model's ``get_rope_index``."""

    def __init__(self, model: Any):
        self._rope_index = model.model.get_rope_index
        self._deltas: torch.Tensor | None = None

    def prompt(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, vision: dict[str, Any]) -> torch.Tensor:
        token_types = vision.get("mm_token_type_ids")
        if token_types is None:
            token_types = torch.zeros_like(input_ids)
        keys = ("image_grid_thw", "video_grid_thw", "second_per_grid_ts")
        positions, self._deltas = self._rope_index(
            input_ids,
            mm_token_type_ids=token_types,
            attention_mask=attention_mask,
            **{key: vision[key] for key in keys if key in vision},
        )
        return positions

    def step(self, attention_mask: torch.Tensor) -> torch.Tensor:
        if self._deltas is None:
            raise RuntimeError("MRopePositions.step called before prompt")
        text = _text_positions(attention_mask)[:, -1:] + self._deltas.to(attention_mask.device)
        return text.unsqueeze(0).expand(3, -1, -1)

    def select(self, rows: torch.Tensor) -> None:
        if self._deltas is not None:
            self._deltas = self._deltas[rows.to(self._deltas.device)]


def position_scheme(model: Any) -> PositionScheme:
    """A fresh scheme for one batch: M-RoPE when the model has Qwen-VL's ``get_rope_index``."""
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "get_rope_index"):
        return MRopePositions(model)
    return TextPositions()
