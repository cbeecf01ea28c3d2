"""Tiny random-initialised Qwen2 and Qwen2.5-VL models with an in-code tokenizer, for fast offline tests.

Nothing is downloaded. The tokenizer is byte-level with no merges: token ``b`` (0-255) is the byte ``b``,
so any unicode text round-trips, followed by the ChatML and Qwen-VL special tokens. Its chat template is
ChatML and understands both string content and Qwen-VL part lists (image and video parts become
``<|vision_start|><|image_pad|><|vision_end|>`` / ``...<|video_pad|>...`` placeholders that the processor
expands). Weights are initialised with the model's own initialiser under a forked RNG seeded with
``seed``, so builds are reproducible and the global RNG state is left as it was.
"""

from __future__ import annotations

from typing import Any

import torch

PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, "<|im_start|>", EOS_TOKEN, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                  "<|video_pad|>")

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode table, the alphabet of byte-level BPE: ``symbols[b]`` stands for byte ``b``.

    Printable Latin-1 bytes stand for themselves; the others are mapped to code points from 256 upwards.
    """
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    symbols, shifted = [], 0
    for byte in range(256):
        if byte in printable:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + shifted))
            shifted += 1
    return symbols


def tiny_tokenizer() -> Any:
    """A byte-level ``PreTrainedTokenizerFast`` (263 ids) with ChatML/Qwen-VL special tokens and template.

    EOS is ``<|im_end|>``, padding is ``<|endoftext|>`` on the left, there is no BOS.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {symbol: byte for byte, symbol in enumerate(_byte_symbols())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN,
                                   padding_side="left", chat_template=CHAT_TEMPLATE)


def _seeded_build(factory: Any, config: Any, seed: int) -> Any:
    """Instantiate ``factory(config)`` with a forked, seeded RNG, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory(config)
    return model.eval()


def _special_ids(tokenizer: Any) -> dict[str, int]:
    return {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}


def tiny_qwen2(seed: int = 0) -> tuple[Any, Any]:
    """A random 2-layer, 64-wide ``Qwen2ForCausalLM`` (about 0.1 M parameters) and its tokenizer."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = tiny_tokenizer()
    ids = _special_ids(tokenizer)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False,
        bos_token_id=None, eos_token_id=ids[EOS_TOKEN], pad_token_id=ids[PAD_TOKEN],
    )
    model = _seeded_build(Qwen2ForCausalLM, config, seed)
    model.generation_config.eos_token_id = ids[EOS_TOKEN]
    model.generation_config.pad_token_id = ids[PAD_TOKEN]
    return model, tokenizer


def tiny_qwen2_vl(seed: int = 0) -> tuple[Any, Any]:
    """A random ``Qwen2_5_VLForConditionalGeneration`` (2 text layers of width 64, a 2-block vision tower
    of width 32 with patch 14 and 2x2 merging) and its ``Qwen2_5_VLProcessor``.

    The processor keeps images between 56x56 and 224x224 pixels (4 to 64 vision tokens) and video frames
    at most 112x112 (16 tokens per pair of frames), so tests stay fast whatever image they pass.
    """
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer = tiny_tokenizer()
    ids = _special_ids(tokenizer)
    text_config = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        # head_dim 16: 8 rotary frequencies split over (time, height, width)
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=None, eos_token_id=ids[EOS_TOKEN], pad_token_id=ids[PAD_TOKEN],
    )
    vision_config = dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
        spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1],
        tokens_per_second=2,
    )
    config = Qwen2_5_VLConfig(
        text_config=text_config, vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    model = _seeded_build(Qwen2_5_VLForConditionalGeneration, config, seed)
    model.generation_config.eos_token_id = ids[EOS_TOKEN]
    model.generation_config.pad_token_id = ids[PAD_TOKEN]
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=224 * 224),
        video_processor=Qwen2VLVideoProcessor(min_pixels=56 * 56, max_pixels=112 * 112, cap_pixels_per_frame=True),
        tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
    )
    return model, processor
