"""Scripted baselines: a random-text policy.

:class:`RandomPolicy` is the floor every environment's learning curve is compared against, so it must be
a fair guesser rather than one built to fail: its words come from the vocabulary reasoning tasks are
answered in (numbers, arithmetic expressions over small integers, mathematical words), and about half of
its answers end in a ``\\boxed{}`` holding a random integer, so answer extraction has something to check.
It reads nothing from the conversation.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reasongym.agents.base import Completion, SamplingParams
from reasongym.envs.spaces import Message

WORDS = ("the", "answer", "is", "so", "we", "get", "therefore", "then", "let", "x", "y", "n", "equals", "sum",
         "product", "total", "step", "first", "next", "finally", "because", "check", "solve", "compute")
OPERATORS = ("+", "-", "*", "/")


class RandomPolicy:
    """Random reasoning-flavoured text from a seeded ``numpy`` generator.

    Args:
        seed: seeds the policy's own stream, which advances with every completion.
        max_len: the most words (numbers, expressions) in one completion; ``SamplingParams.max_tokens``
            caps it further.
        box_probability: chance that a completion ends with ``\\boxed{n}``.
        max_number: random numbers are drawn uniformly from ``0..max_number`` (999 covers AIME answers).

    When ``SamplingParams.seed`` is set, conversation ``i`` instead uses a generator seeded with
    ``(seed, SamplingParams.seed, i)``, so a call is reproducible on its own, like the model backends.
    """

    def __init__(self, seed: int = 0, max_len: int = 48, *, box_probability: float = 0.5, max_number: int = 999):
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        self.seed = seed
        self.max_len = max_len
        self.box_probability = box_probability
        self.max_number = max_number
        self._rng = np.random.default_rng(seed)

    def generate(self, conversations: Sequence[list[Message]], sampling: SamplingParams) -> list[Completion]:
        """One random completion per conversation; no token ids or log-probs (there is no tokenizer)."""
        completions = []
        for index in range(len(conversations)):
            rng = self._rng if sampling.seed is None else np.random.default_rng([self.seed, sampling.seed, index])
            completions.append(Completion(text=self._text(rng, min(self.max_len, sampling.max_tokens))))
        return completions

    def _text(self, rng: np.random.Generator, max_len: int) -> str:
        words = [self._word(rng) for _ in range(int(rng.integers(1, max_len + 1)))]
        if rng.random() < self.box_probability:
            words.append(f"\\boxed{{{int(rng.integers(0, self.max_number + 1))}}}")
        return " ".join(words)

    def _word(self, rng: np.random.Generator) -> str:
        kind = rng.random()
        if kind < 0.4:
            return str(rng.choice(WORDS))
        if kind < 0.7:
            return str(int(rng.integers(0, self.max_number + 1)))
        terms = [str(int(rng.integers(1, 14))) for _ in range(int(rng.integers(2, 5)))]
        operators = rng.choice(OPERATORS, size=len(terms) - 1)
        expression = terms[0] + "".join(f"{op}{term}" for op, term in zip(operators, terms[1:]))
        return f"({expression})" if rng.random() < 0.3 else expression
