"""A :class:`~reasongym.agents.base.Policy` backed by a Hugging Face transformers model (text or Qwen-VL).

Why a hand-written decoding loop instead of ``model.generate``: ``generate`` samples with
``torch.multinomial`` on the global RNG, so reproducible sampling would mean seeding global state, and
one shared stream would make a row's sample depend on the rest of its batch. Here each conversation
draws from its own ``torch.Generator`` seeded from ``(SamplingParams.seed, index)`` (see
:mod:`reasongym.agents.seeding`): the same seed gives the same completions whatever the batch size, and
the reported log-probs are computed from exactly the distribution each token was drawn from
(:mod:`reasongym.agents.sampling`). The loop is a plain KV-cached forward: one prompt pass with
left-padded inputs and explicit position ids (:mod:`reasongym.agents.positions`), then one token per
step. Identical prompts share one prompt pass; finished rows leave the batch and stop drawing random
numbers; the loop ends when every row has finished. Vision-language models never sample their image and
video placeholder ids (they would stand for pixels that do not exist).

Completions carry the exact sampled ids (ending with the EOS id when one was produced), their log-probs,
the unpadded prompt ids and, for vision-language models, the processor tensors of the prompt in
``extra`` so that a trainer can recompute log-probs with the same forward inputs.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from reasongym.agents import special_tokens
from reasongym.agents.base import Completion, SamplingParams
from reasongym.agents.encoding import EncodedPrompt, collate, make_prompt_encoder, to_device
from reasongym.agents.positions import position_scheme
from reasongym.agents.sampling import processed_logprobs, select_tokens
from reasongym.agents.seeding import resolve_seeds
from reasongym.agents.stopping import StopRule
from reasongym.envs.spaces import Message


class TransformersPolicy:
    """Batched chat generation with a local transformers model.

    Args:
        model: a causal LM (``AutoModelForCausalLM``) or a Qwen2-VL / Qwen2.5-VL conditional-generation model.
        tokenizer_or_processor: the tokenizer of a text model, or the ``AutoProcessor`` of a Qwen-VL model;
            it must have a chat template.
        device: where to run; the model is moved there. ``None`` keeps the model where it is.
        batch_size: how many conversations share one forward pass. Prompts are sorted by length before
            batching to limit padding; results come back in input order and do not depend on batching.
    """

    def __init__(self, model: Any, tokenizer_or_processor: Any, *, device: str | torch.device | None = None,
                 batch_size: int = 8):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if device is not None:
            model = model.to(device)
        self.model = model
        self.encoder = make_prompt_encoder(tokenizer_or_processor)
        self.tokenizer = self.encoder.tokenizer
        self.batch_size = batch_size
        self.pad_id = special_tokens.pad_id(self.tokenizer, self.eos_ids)
        self.banned_ids = special_tokens.vision_placeholder_ids(getattr(model, "config", None))

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, dtype: torch.dtype | str | None = None,
                        device: str | torch.device | None = None, batch_size: int = 8) -> "TransformersPolicy":
        """Load a model by local path, Hugging Face id or embedded alias (see :func:`resolve_model`).

        ``device`` defaults to CUDA when available, else CPU; ``dtype`` defaults to bfloat16 on CUDA and
        float32 on CPU. Checkpoints whose config has a ``vision_config`` load with ``AutoProcessor`` and
        ``AutoModelForImageTextToText``; others with ``AutoTokenizer`` and ``AutoModelForCausalLM``.
        """
        from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor,
                                  AutoTokenizer)

        from reasongym.agents.models import resolve_model

        path = resolve_model(name_or_path)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if dtype is None:
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        if getattr(AutoConfig.from_pretrained(path), "vision_config", None) is not None:
            processor = AutoProcessor.from_pretrained(path)
            model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
            return cls(model, processor, device=device, batch_size=batch_size)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        return cls(model, tokenizer, device=device, batch_size=batch_size)

    @property
    def eos_ids(self) -> set[int]:
        """End-of-turn ids: the model's generation-config EOS id(s) plus the tokenizer's EOS token."""
        return special_tokens.eos_ids(getattr(self.model, "generation_config", None), self.tokenizer)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters."""
        return next(self.model.parameters()).device

    def generate(self, conversations: Sequence[list[Message]], sampling: SamplingParams) -> list[Completion]:
        """Return one completion per conversation (see the module docstring for what each carries)."""
        return self.generate_ids([self.encoder.encode(conversation) for conversation in conversations], sampling)

    def generate_ids(self, prompts: Sequence[EncodedPrompt], sampling: SamplingParams, *,
                     seeds: Sequence[int] | None = None) -> list[Completion]:
        """Continue exact prompt token ids (token-in/token-out), one completion per prompt.

        This is the entry point of multi-turn RL rollouts: turn ``t + 1`` is conditioned on exactly the
        ids of turn ``t``'s prompt, its sampled ids and the environment's reply ids, never on re-tokenised
        text. A VLM prompt's ``vision`` holds the processor tensors of every image and video placeholder
        in ``input_ids``, in order (per-token keys such as ``mm_token_type_ids`` span all of ``input_ids``).

        Args:
            prompts: the prompts, e.g. from ``self.encoder.encode`` or grown turn by turn.
            sampling: generation settings; ``sampling.seed`` seeds row ``i`` with ``row_seed(seed, i)``.
            seeds: explicit per-prompt sampling seeds instead, so that a row's sample depends only on its
                own seed and not on its position in the call (``sampling.seed`` is then ignored).
        """
        seeds = resolve_seeds(seeds, sampling.seed, len(prompts))
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].input_ids))
        results: list[Completion | None] = [None] * len(prompts)
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                completions = self._generate_batch([prompts[i] for i in chunk], [seeds[i] for i in chunk], sampling)
                for i, completion in zip(chunk, completions):
                    results[i] = completion
        finally:
            self.model.train(was_training)
        return [c for c in results if c is not None]

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[EncodedPrompt], seeds: list[int],
                        sampling: SamplingParams) -> list[Completion]:
        """Decode one left-padded batch until every row has hit EOS, a stop string or ``max_tokens``.

        Identical text prompts (a GRPO group) go through the prompt pass once and their KV cache is
        repeated; rows that finish leave the batch, so later steps compute only the rows still decoding.
        Neither changes what a row samples: each row keeps its own generator and its own cache entries.
        """
        device = self.device
        rule = StopRule.create(self.tokenizer, self.eos_ids, sampling.stop)
        distinct, expand = _distinct_prompts(prompts)
        batch = {key: to_device(key, value, device, self.model.dtype) for key, value in
                 collate(distinct, self.pad_id).items()}
        input_ids = batch.pop("input_ids")
        attention_mask = batch.pop("attention_mask")
        positions = position_scheme(self.model)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=positions.prompt(input_ids, attention_mask, batch), use_cache=True,
                         logits_to_keep=1, **batch)
        rows = torch.tensor(expand, device=device)
        past, logits = out.past_key_values, out.logits[rows, -1, :]
        past.batch_select_indices(rows)
        attention_mask = attention_mask[rows]
        positions.select(rows)
        generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]
        greedy = sampling.temperature == 0
        tokens: list[list[int]] = [[] for _ in prompts]
        logprobs: list[list[float]] = [[] for _ in prompts]
        active = list(range(len(prompts)))  # the prompt index of each row of the decoding batch
        for _ in range(sampling.max_tokens):
            logits = logits.float()
            if self.banned_ids:
                logits[:, self.banned_ids] = float("-inf")
            row_logprobs = processed_logprobs(logits, sampling)
            chosen, chosen_logprobs = select_tokens(row_logprobs, [generators[i] for i in active], greedy)
            for i, token, logprob in zip(active, chosen.tolist(), chosen_logprobs.tolist()):
                tokens[i].append(token)
                logprobs[i].append(logprob)
            keep = [k for k, i in enumerate(active) if not rule.is_finished(tokens[i])]
            if not keep:
                active = []
                break
            if len(keep) < len(active):
                rows = torch.tensor(keep, device=device)
                past.batch_select_indices(rows)
                attention_mask, chosen = attention_mask[rows], chosen[rows]
                positions.select(rows)
                active = [active[k] for k in keep]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(active), 1))], dim=-1)
            out = self.model(input_ids=chosen[:, None], attention_mask=attention_mask,
                             position_ids=positions.step(attention_mask), past_key_values=past, use_cache=True,
                             logits_to_keep=1)
            past, logits = out.past_key_values, out.logits[:, -1, :]
        unfinished = set(active)
        return [
            Completion(
                text=rule.final_text(tokens[i]),
                token_ids=tokens[i],
                logprobs=logprobs[i],
                prompt_token_ids=list(prompt.input_ids),
                finish_reason="length" if i in unfinished else "stop",
                extra=dict(prompt.vision),
            )
            for i, prompt in enumerate(prompts)
        ]


def _distinct_prompts(prompts: Sequence[EncodedPrompt]) -> tuple[list[EncodedPrompt], list[int]]:
    """The distinct prompts (text prompts compared by ids; prompts with images or videos are never merged)
    and, for each input prompt, the index of its distinct prompt."""
    distinct: list[EncodedPrompt] = []
    seen: dict[tuple[int, ...], int] = {}
    expand: list[int] = []
    for prompt in prompts:
        key = tuple(prompt.input_ids)
        if prompt.vision or key not in seen:
            if not prompt.vision:
                seen[key] = len(distinct)
            expand.append(len(distinct))
            distinct.append(prompt)
        else:
            expand.append(seen[key])
    return distinct, expand
