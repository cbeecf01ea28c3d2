"""Token ids of environment messages appended after an assistant completion (token-in/token-out rollouts).

In a multi-turn rollout, turn ``t + 1`` must be conditioned on exactly the ids the policy saw and produced
so far. Re-rendering the whole conversation from decoded text would not do: a completion's ids need not
survive a decode/encode round trip, and the closing of a turn cut by ``max_tokens`` would be lost. So only
the *new* part is rendered: the end of the assistant turn, the environment's messages and the next
generation prompt, and their ids are appended to the existing sequence.

How the new part is rendered (the robust choice among the usual two):

* The chat template renders a fixed dummy history — a system message, a user message and an assistant
  message whose content is a marker string — and then the same history followed by the new messages
  with ``add_generation_prompt=True``. The second rendering must start with the first (this is checked);
  the difference is the new messages' text. The dummy system message keeps templates that inject a
  default system prompt (SmolLM2's, Qwen's) from inserting it, and the dummy assistant turn makes the new
  messages render as they do after an assistant turn (Qwen2.5's tool messages look at the previous role).
* What the template writes after the marker is the turn's *closing* (``<|im_end|>\\n`` in ChatML). A
  completion that stopped on that end-of-turn token already holds it, so only the rest (``\\n``) is
  added; a completion cut by ``max_tokens`` or a stop string gets the whole closing. Either way the
  closing ids are environment tokens (loss mask 0): the policy did not sample them.

Templating the new messages alone and stripping a default system prompt (the other common approach)
breaks on templates whose rendering of a message depends on the previous one. The dummy-prefix delta
fails loudly instead of silently when a template re-renders earlier turns differently once messages
follow them (Qwen3-style templates that drop past reasoning): :class:`ContinuationEncoder` raises.
Templates that number media across the conversation (``add_vision_id``) would restart the numbering.
"""

from __future__ import annotations

from typing import Collection, Sequence

from reasongym.agents.encoding import EncodedPrompt, TextPromptEncoder, VisionPromptEncoder
from reasongym.envs.spaces import Message, text_message

#: stands for the assistant's content in the dummy history; plain ASCII that no template rewrites
_MARKER = "ASSISTANTTURNMARKER"
_DUMMY_HISTORY = (text_message("system", "S"), text_message("user", "U"), text_message("assistant", _MARKER))


class ContinuationEncoder:
    """Encodes environment messages that follow an assistant completion, as ids to append.

    Args:
        encoder: the policy's prompt encoder (``TransformersPolicy.encoder``).
        eos_ids: the policy's end-of-turn ids (``TransformersPolicy.eos_ids``).

    Raises:
        ValueError: when the chat template does not render the dummy history in the expected way.
    """

    def __init__(self, encoder: TextPromptEncoder | VisionPromptEncoder, eos_ids: Collection[int]):
        self.encoder = encoder
        self.eos_ids = frozenset(int(i) for i in eos_ids)
        history = encoder.render(list(_DUMMY_HISTORY), add_generation_prompt=False)
        if history.count(_MARKER) != 1:
            raise ValueError("the chat template does not render assistant content verbatim; cannot find the "
                             "closing of an assistant turn")
        self._history = history
        #: what the template writes after an assistant message's content, e.g. "<|im_end|>\n"
        self.closing = history[history.index(_MARKER) + len(_MARKER):]

    def closing_text(self, completion_ids: Sequence[int]) -> str:
        """The part of the turn's closing that ``completion_ids`` does not already contain.

        A completion ending with an end-of-turn token whose text starts the closing keeps that token;
        the rest of the closing is returned. Otherwise (cut by length or a stop string, or ended by an EOS
        id the template does not write) the whole closing is returned.
        """
        if completion_ids and int(completion_ids[-1]) in self.eos_ids:
            eos_text = self.encoder.tokenizer.decode([int(completion_ids[-1])], skip_special_tokens=False)
            if eos_text and self.closing.startswith(eos_text):
                return self.closing[len(eos_text):]
        return self.closing

    def render(self, messages: Sequence[Message], completion_ids: Sequence[int]) -> str:
        """The text to append after ``completion_ids``: the turn's closing, ``messages``, the generation prompt."""
        if not messages:
            raise ValueError("no environment messages to encode")
        full = self.encoder.render([*_DUMMY_HISTORY, *messages], add_generation_prompt=True)
        if not full.startswith(self._history):
            raise ValueError("the chat template renders an assistant turn differently once messages follow it; "
                             "its continuations cannot be rendered as a text delta")
        return self.closing_text(completion_ids) + full[len(self._history):]

    def encode(self, messages: Sequence[Message], completion_ids: Sequence[int]) -> EncodedPrompt:
        """Ids (and, for a VLM, processor tensors of any images or videos) of :meth:`render`'s text.

        The ids never start with a BOS token; vision placeholders are expanded to one id per vision token
        exactly as in a prompt, and ``vision`` holds the new media's ``pixel_values``/``image_grid_thw``
        (or video keys) and the per-token ``mm_token_type_ids`` of the returned ids.
        """
        return self.encoder.encode_text(self.render(messages, completion_ids), list(messages))
