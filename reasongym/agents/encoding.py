"""Turn chat conversations into model inputs: chat templating, vision processing and left-padded batches.

Two encoders share one interface. :class:`TextPromptEncoder` serves text-only models: their chat
templates expect ``content`` to be a string, so the text parts of each message are joined (the same way
:func:`reasongym.envs.spaces.message_text` does) and an image or video part is an error rather than being
dropped silently. :class:`VisionPromptEncoder` serves Qwen2-VL / Qwen2.5-VL processors: the messages go
unchanged to the processor's chat template, and the image and video parts go through
``qwen_vl_utils.process_vision_info`` (resizing to the patch grid, frame handling) and the processor.

Each conversation is encoded on its own, so its vision tensors (``pixel_values``, ``image_grid_thw``,
``mm_token_type_ids``, ...) stay attached to it; :func:`collate` then builds the left-padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from reasongym.envs.spaces import Message, message_text

# Processor outputs that have one entry per prompt token and must be padded like ``input_ids``.
PER_TOKEN_KEYS = frozenset({"mm_token_type_ids"})


@dataclass
class EncodedPrompt:
    """One templated, tokenised conversation.

    Attributes:
        input_ids: the prompt ids (vision placeholders already expanded to one id per vision token).
        vision: the processor's other outputs for this conversation (empty for text models); tensors
            keep their processor layout except per-token ones, which are flattened to ``[len(input_ids)]``.
    """

    input_ids: list[int]
    vision: dict[str, torch.Tensor] = field(default_factory=dict)


class TextPromptEncoder:
    """Chat-template and tokenise conversations for a text-only tokenizer."""

    def __init__(self, tokenizer: Any):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer {type(tokenizer).__name__} has no chat template; set tokenizer.chat_template")
        self.tokenizer = tokenizer

    def encode(self, conversation: Sequence[Message]) -> EncodedPrompt:
        """Render the conversation with ``add_generation_prompt=True`` and tokenise it."""
        return self.encode_text(self.render(conversation, add_generation_prompt=True), conversation)

    def render(self, conversation: Sequence[Message], *, add_generation_prompt: bool) -> str:
        """The chat template's text for ``conversation`` (text parts of each message joined)."""
        flat = [_flatten_message(m) for m in conversation]
        return self.tokenizer.apply_chat_template(flat, add_generation_prompt=add_generation_prompt, tokenize=False)

    def encode_text(self, text: str, conversation: Sequence[Message]) -> EncodedPrompt:
        """Tokenise rendered ``text``.

        ``conversation`` (the messages ``text`` shows) is part of the shared encoder interface, where it
        supplies media; a text model has none (:meth:`render` rejects image and video parts).
        """
        # The template already writes any BOS token; adding special tokens again would double it.
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return EncodedPrompt(input_ids=list(ids))


class VisionPromptEncoder:
    """Chat-template, vision-process and tokenise conversations for a Qwen2-VL / Qwen2.5-VL processor."""

    def __init__(self, processor: Any):
        if not getattr(processor, "chat_template", None):
            raise ValueError(f"processor {type(processor).__name__} has no chat template")
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self._patch_size = int(getattr(processor.image_processor, "patch_size", 14))

    def encode(self, conversation: Sequence[Message]) -> EncodedPrompt:
        """Render the conversation, load and resize its images and videos, and run the processor."""
        return self.encode_text(self.render(conversation, add_generation_prompt=True), conversation)

    def render(self, conversation: Sequence[Message], *, add_generation_prompt: bool) -> str:
        """The chat template's text for ``conversation``, with one placeholder per image or video."""
        messages = [_resolve_vision_parts(m) for m in conversation]
        return self.processor.apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                                  tokenize=False)

    def encode_text(self, text: str, conversation: Sequence[Message]) -> EncodedPrompt:
        """Process rendered ``text`` with the images and videos of ``conversation``, in order.

        ``text`` must hold one placeholder per media part of ``conversation``; the processor expands each
        to the number of vision tokens of its (resized) image or video.
        """
        from qwen_vl_utils import process_vision_info

        messages = [_resolve_vision_parts(m) for m in conversation]
        images, videos, video_kwargs = process_vision_info(
            [messages], return_video_kwargs=True, return_video_metadata=True, image_patch_size=self._patch_size
        )
        kwargs: dict[str, Any] = {}
        if videos:
            frames, metadata = zip(*videos)
            videos = list(frames)
            kwargs = {**video_kwargs, "video_metadata": list(metadata)}
        outputs = self.processor(text=[text], images=images, videos=videos, return_tensors="pt",
                                 add_special_tokens=False, **kwargs)
        ids = outputs["input_ids"][0].tolist()
        vision = {
            key: (value[0] if key in PER_TOKEN_KEYS else value)
            for key, value in outputs.items()
            if key not in ("input_ids", "attention_mask") and isinstance(value, torch.Tensor)
        }
        return EncodedPrompt(input_ids=ids, vision=vision)


def make_prompt_encoder(tokenizer_or_processor: Any) -> TextPromptEncoder | VisionPromptEncoder:
    """Pick the encoder: objects with an ``image_processor`` are multimodal processors."""
    if getattr(tokenizer_or_processor, "image_processor", None) is not None:
        return VisionPromptEncoder(tokenizer_or_processor)
    return TextPromptEncoder(tokenizer_or_processor)


def collate(prompts: Sequence[EncodedPrompt], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompts into ``input_ids``/``attention_mask`` (plus per-token vision keys) on CPU.

    Other vision tensors (pixel values, grids, frame timings) are concatenated in prompt order, which is
    the order in which the model meets their placeholders in the flattened batch.
    """
    width = max(len(p.input_ids) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        n = len(prompt.input_ids)
        input_ids[row, width - n :] = torch.tensor(prompt.input_ids, dtype=torch.long)
        attention_mask[row, width - n :] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    keys = sorted({key for p in prompts for key in p.vision})
    for key in keys:
        if key in PER_TOKEN_KEYS:
            padded = torch.zeros((len(prompts), width), dtype=torch.long)
            for row, prompt in enumerate(prompts):
                if key in prompt.vision:
                    values = prompt.vision[key]
                    padded[row, width - values.shape[0] :] = values
            batch[key] = padded
        else:
            batch[key] = torch.cat([p.vision[key] for p in prompts if key in p.vision])
    return batch


def _flatten_message(message: Message) -> dict[str, Any]:
    """A copy of ``message`` whose content is the concatenation of its text parts."""
    content = message["content"]
    if isinstance(content, list):
        kinds = {part.get("type") for part in content} - {"text"}
        if kinds:
            raise ValueError(
                f"a text-only model cannot read {sorted(kinds)} parts; use a vision-language model "
                "(a Qwen2-VL / Qwen2.5-VL processor) for multimodal conversations"
            )
        content = message_text(message)
    return {**message, "content": content}


def _resolve_vision_parts(message: Message) -> Message:
    """Convert array images/frames to PIL and map a frame list's ``fps`` to qwen-vl-utils' ``sample_fps``.

    In the reasongym message format a video given as frames carries the rate of those frames in ``fps``;
    qwen-vl-utils reads that rate from ``sample_fps`` (its ``fps`` means a rate to sample a file at).
    """
    content = message["content"]
    if not isinstance(content, list):
        return message
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "image":
            part = {**part, "image": _to_pil(part["image"])}
        elif kind == "video" and not isinstance(part["video"], str):
            rate = float(part.get("fps", part.get("sample_fps", 2.0)))
            frames = [_to_pil(frame) for frame in part["video"]]
            part = {key: value for key, value in part.items() if key != "fps"}
            part.update(video=frames, sample_fps=rate)
        parts.append(part)
    return {**message, "content": parts}


def _to_pil(image: Any) -> Any:
    """PIL images and path/URL strings pass through; arrays (``H x W x C`` uint8) become PIL images."""
    if isinstance(image, np.ndarray):
        return Image.fromarray(image)
    return image


def to_device(key: str, value: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Move one model-input tensor to ``device``; pixel tensors also take the model's ``dtype``."""
    if key.startswith("pixel_values"):
        return value.to(device=device, dtype=dtype)
    return value.to(device)
