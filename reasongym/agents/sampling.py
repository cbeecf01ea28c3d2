"""Next-token selection: logits processing, seeded sampling and the log-prob that is reported.

The reported log-prob of a sampled token is its log-probability under the distribution it was actually
drawn from: ``log_softmax`` of the logits divided by ``temperature``, after top-k and then top-p masking
(the order Hugging Face and vLLM use). With ``top_k=0`` and ``top_p=1`` this is exactly
``log_softmax(logits / temperature)``, which is what an RL trainer recomputes for its importance ratio.
Greedy decoding (``temperature=0``) samples from a point mass, whose log-prob (0) says nothing; there the
reported value is the model's unscaled ``log_softmax(logits)`` at the chosen token instead.

Each row draws with its own ``torch.Generator`` so that a row's tokens depend only on its seed, never on
the global RNG or on the other rows of the batch.
"""

from __future__ import annotations

from typing import Sequence

import torch

from reasongym.agents.base import SamplingParams


def processed_logprobs(logits: torch.Tensor, sampling: SamplingParams) -> torch.Tensor:
    """Log-probabilities of the sampling distribution for each row of ``logits`` (``[B, V]``, float32).

    Masked-out tokens get ``-inf``. For ``temperature == 0`` the unscaled, unmasked distribution is
    returned (see the module docstring).
    """
    if sampling.temperature == 0:
        return torch.log_softmax(logits, dim=-1)
    scores = logits / sampling.temperature
    if 0 < sampling.top_k < scores.shape[-1]:
        kth_best = torch.topk(scores, sampling.top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth_best, float("-inf"))
    if sampling.top_p < 1:
        scores = _mask_top_p(scores, sampling.top_p)
    return torch.log_softmax(scores, dim=-1)


def _mask_top_p(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of highest-probability tokens whose mass reaches ``top_p`` (at least one)."""
    sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
    sorted_probs = torch.softmax(sorted_scores, dim=-1)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    drop_sorted = mass_before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, float("-inf"))


def select_tokens(
    logprobs: torch.Tensor, generators: Sequence[torch.Generator], greedy: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row and return ``(token_ids [B], their log-probs [B])``.

    ``generators[i]`` drives row ``i``; greedy decoding takes the arg-max and uses no randomness.
    """
    if greedy:
        tokens = torch.argmax(logprobs, dim=-1)
    else:
        probs = logprobs.exp()
        tokens = torch.cat(
            [torch.multinomial(probs[i], 1, generator=generator) for i, generator in enumerate(generators)]
        )
    return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
