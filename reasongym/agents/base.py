"""The policy contract: batched generation over chat conversations.

Every backend (transformers, vLLM, OpenAI-compatible HTTP, scripted oracles, random) implements
:class:`Policy`. A completion carries the exact token ids the policy produced and their log-probs, so
the trainer never re-tokenises decoded text (DESIGN.md, "Training").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Collection, Protocol, Sequence, runtime_checkable

from reasongym.envs.spaces import Message

if TYPE_CHECKING:
    from reasongym.agents.encoding import EncodedPrompt, TextPromptEncoder, VisionPromptEncoder


@dataclass(frozen=True)
class SamplingParams:
    """Generation settings shared by every backend.

    ``seed`` makes sampling reproducible where the backend supports it; ``n`` is not a field: callers
    repeat a conversation to get several samples, which keeps completions aligned with conversations.
    """

    max_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")


@dataclass
class Completion:
    """One generated assistant turn.

    Attributes:
        text: the decoded assistant text (what the environment receives as the action).
        token_ids: the ids the policy sampled, exactly; empty for policies without a tokenizer.
        logprobs: the sampling log-probability of each id in ``token_ids`` (same length), or ``None``.
        prompt_token_ids: the ids of the templated prompt the policy conditioned on, when known.
        finish_reason: ``"stop"`` (end of turn), ``"length"`` (hit ``max_tokens``) or backend-specific.
        extra: backend-specific data (e.g. multimodal processor inputs for a VLM).
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    prompt_token_ids: list[int] = field(default_factory=list)
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Policy(Protocol):
    """Anything that turns a batch of conversations into one completion each."""

    def generate(self, conversations: Sequence[list[Message]], sampling: SamplingParams) -> list[Completion]:
        """Return ``len(conversations)`` completions, the ``i``-th continuing ``conversations[i]``."""
        ...


class TokenPolicy(Policy, Protocol):
    """A policy that continues exact token ids: what rollout collection and training need.

    Implemented by :class:`~reasongym.agents.transformers_policy.TransformersPolicy` and
    :class:`~reasongym.agents.vllm_policy.VLLMPolicy`.
    """

    @property
    def encoder(self) -> "TextPromptEncoder | VisionPromptEncoder":
        """Templates and tokenises conversations (and renders environment replies)."""
        ...

    @property
    def eos_ids(self) -> Collection[int]:
        """The ids that end an assistant turn."""
        ...

    @property
    def pad_id(self) -> int:
        """The id that pads batches."""
        ...

    def generate_ids(self, prompts: Sequence["EncodedPrompt"], sampling: SamplingParams, *,
                     seeds: Sequence[int] | None = None) -> list[Completion]:
        """Continue each prompt's ids; row ``i`` samples with ``seeds[i]`` (default: derived from ``sampling.seed``)."""
        ...
