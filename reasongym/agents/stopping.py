"""When a completion ends, and what text it yields.

A completion ends at the first end-of-turn token (any of the model's EOS ids) or at the first token whose
decoded text completes one of ``SamplingParams.stop``. Following vLLM's defaults, the kept ``token_ids``
include that last token, and the returned ``text`` excludes both the EOS token and the stop string (and
anything a final token decoded past it). Stop strings are searched in the decoded text after every token,
so a string spanning several tokens is found as soon as its last token is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Sequence


@dataclass(frozen=True)
class StopRule:
    """End-of-completion detection for one tokenizer, one set of EOS ids and one set of stop strings."""

    tokenizer: Any
    eos_ids: frozenset[int]
    stop: tuple[str, ...] = ()

    @classmethod
    def create(cls, tokenizer: Any, eos_ids: Collection[int], stop: Sequence[str]) -> "StopRule":
        """Build a rule; empty stop strings are ignored (they would match before any token)."""
        return cls(tokenizer, frozenset(eos_ids), tuple(s for s in stop if s))

    def decode(self, token_ids: Sequence[int]) -> str:
        """Decode without special tokens (what the environment sees)."""
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def is_finished(self, token_ids: Sequence[int]) -> bool:
        """Whether the newest token of ``token_ids`` ends the completion."""
        if token_ids and token_ids[-1] in self.eos_ids:
            return True
        if not self.stop:
            return False
        text = self.decode(token_ids)
        return any(s in text for s in self.stop)

    def final_text(self, token_ids: Sequence[int]) -> str:
        """The completion's text: decoded ids without a trailing EOS, cut before the first stop string."""
        if token_ids and token_ids[-1] in self.eos_ids:
            token_ids = token_ids[:-1]
        text = self.decode(token_ids)
        cuts = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        return text[: min(cuts)] if cuts else text
