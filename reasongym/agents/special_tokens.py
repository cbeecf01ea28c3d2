"""End-of-turn and padding ids of a model, shared by every token-level backend.

The transformers and vLLM policies must agree on which ids end a turn: the rollout collector closes a
turn after an EOS id (:mod:`reasongym.training.tokenize`), so a backend that stopped on a different id
would produce sequences the trainer cannot continue.
"""

from __future__ import annotations

from typing import Any, Collection


def eos_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    """EOS ids from a generation config's ``eos_token_id`` (an int or a list) plus the tokenizer's EOS token.

    ``generation_config`` may be ``None`` (checkpoints without ``generation_config.json``).
    """
    ids: set[int] = set()
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise ValueError("neither the model's generation config nor the tokenizer defines an EOS token")
    return ids


def pad_id(tokenizer: Any, eos: Collection[int]) -> int:
    """The tokenizer's pad id, or the smallest EOS id for tokenizers without one."""
    configured = tokenizer.pad_token_id
    return int(configured if configured is not None else min(eos))


_VISION_PLACEHOLDERS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


def vision_placeholder_ids(config: Any) -> list[int]:
    """Ids a vision-language model uses to mark where images and videos sit (Qwen2-VL / Qwen2.5-VL names).

    A policy must never *sample* them: a generated ``<|image_pad|>`` has no pixels behind it, so the next
    turn's prompt (which contains it) could not be fed back to the model. Empty for text models.
    """
    return sorted({int(value) for name in _VISION_PLACEHOLDERS
                   if isinstance(value := getattr(config, name, None), int)})
