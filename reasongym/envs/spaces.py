"""Gymnasium spaces for chat observations and free-text actions.

Observations are lists of chat messages (OpenAI / Qwen-VL layout) and actions are assistant strings.
Gymnasium's built-in ``Text`` space restricts characters to a charset, which would reject the unicode a
language model writes, so both spaces here are small custom ``gymnasium.Space`` subclasses with a
``contains`` that validates structure and a seeded ``sample``.
"""

from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

ROLES = ("system", "user", "assistant", "tool")
PART_TYPES = ("text", "image", "video")

Message = dict[str, Any]


def text_message(role: str, text: str) -> Message:
    """A message with a single text part."""
    return {"role": role, "content": [{"type": "text", "text": text}]}


def message_text(message: Message) -> str:
    """Concatenate the text parts of a message (images and videos are skipped)."""
    return "".join(p["text"] for p in message["content"] if p.get("type") == "text")


def _valid_part(part: Any) -> bool:
    if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
        return False
    kind = part["type"]
    if kind == "text":
        return isinstance(part.get("text"), str)
    if kind == "image":
        return part.get("image") is not None
    return part.get("video") is not None


def _valid_message(message: Any) -> bool:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        return False
    content = message.get("content")
    return isinstance(content, list) and all(_valid_part(p) for p in content)


class ChatObservation(spaces.Space[list]):
    """The space of chat-message lists an environment emits between two actions.

    ``contains`` checks roles and part layout; it does not decode images (which may be lazy paths).
    ``sample`` draws short random text-only user messages, enough for Gymnasium's checker and fuzzing.
    """

    def __init__(self, max_messages: int = 64, seed: int | np.random.Generator | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_messages = max_messages

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> list[Message]:
        n = int(self.np_random.integers(1, 3))
        letters = np.array(list(string.ascii_letters + " "))
        return [
            text_message("user", "".join(self.np_random.choice(letters, size=int(self.np_random.integers(1, 32)))))
            for _ in range(n)
        ]

    def contains(self, x: Any) -> bool:
        return isinstance(x, list) and 0 < len(x) <= self.max_messages and all(_valid_message(m) for m in x)

    def __repr__(self) -> str:
        return f"ChatObservation(max_messages={self.max_messages})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ChatObservation) and other.max_messages == self.max_messages


class TextAction(spaces.Space[str]):
    """Any ``str`` (any unicode) is a member; ``max_length`` is advisory and only bounds ``sample``.

    Over-long actions are not rejected by the space: environments truncate them and flag it in
    ``info["action_truncated"]``, because a policy's output is never an exception.
    """

    def __init__(self, max_length: int = 200_000, charset: Sequence[str] | None = None,
                 seed: int | np.random.Generator | None = None):
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_length = max_length
        self._charset = np.array(list(charset or (string.ascii_letters + string.digits + " +-*/()=\\{}.")))

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        length = int(self.np_random.integers(0, min(64, self.max_length) + 1))
        return "".join(self.np_random.choice(self._charset, size=length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str)

    def __repr__(self) -> str:
        return f"TextAction(max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TextAction) and other.max_length == self.max_length
