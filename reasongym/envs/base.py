"""The base environment implementing the reasongym contract (see DESIGN.md, "The environment contract").

Subclasses supply a task source and two methods:

* :meth:`ReasonEnv._first_observation` — the messages that open an episode for a task item;
* :meth:`ReasonEnv._judge` — what one assistant action earns and what the environment says next;

and optionally :meth:`ReasonEnv.oracle_action` (an action that earns full reward, used by scripted
oracles to prove an env is solvable). The base class owns everything the contract fixes: input checks,
action truncation, turn budget, ``reward_parts``, ``terminated`` vs ``truncated``, per-env RNG, item
selection through ``options={"index": i}``, and a transcript that is rebuilt on every ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium.error import ResetNeeded

from reasongym.envs.spaces import ChatObservation, Message, TextAction, message_text, text_message
from reasongym.tasks.base import TaskItem, TaskSource

DEFAULT_MAX_ACTION_CHARS = 200_000
EPISODE_OVER = "The episode is over."


@dataclass
class Judgement:
    """What the environment concluded about one action."""

    reward_parts: dict[str, float]
    terminated: bool
    #: messages the agent sees next; on the last step they close the transcript (e.g. the verdict)
    feedback: list[Message] = field(default_factory=list)
    valid_action: bool = True
    info: dict[str, Any] = field(default_factory=dict)


class ReasonEnv(gym.Env[list, str]):
    """A text-action, chat-observation environment over a :class:`TaskSource`.

    Args:
        source: where task items come from.
        max_turns: the turn budget; the episode is ``truncated`` when it runs out before the task ends.
        max_action_chars: actions longer than this are cut to their first ``max_action_chars`` characters
            (like a generation cut by ``max_tokens``) and flagged with ``info["action_truncated"]``.
        system_prompt: an optional system message placed before the first user message.
        render_mode: ``"ansi"`` renders the transcript as text.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}
    #: the family shown by ``reasongym list``
    family: ClassVar[str] = ""
    #: reward modes this env accepts (``reward_mode=`` kwarg), the first is the default
    reward_modes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: TaskSource, *, max_turns: int = 1,
                 max_action_chars: int = DEFAULT_MAX_ACTION_CHARS, system_prompt: str | None = None,
                 render_mode: str | None = None):
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, got {max_turns}")
        if max_action_chars < 1:
            raise ValueError(f"max_action_chars must be at least 1, got {max_action_chars}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.source = source
        self.max_turns = max_turns
        self.max_action_chars = max_action_chars
        self.system_prompt = system_prompt
        self.render_mode = render_mode
        self.observation_space = ChatObservation()
        self.action_space = TextAction(max_length=max_action_chars)
        self._item: TaskItem | None = None
        self._index: int | None = None
        self._turn = 0
        self._done = False
        self._transcript: list[Message] = []

    # ----------------------------------------------------------------- subclass hooks
    def _first_observation(self, item: TaskItem) -> list[Message]:
        """The user message(s) that open an episode; the default shows ``item.prompt`` and its media."""
        return [{"role": "user", "content": [*item.media, {"type": "text", "text": item.prompt}]}]

    def _judge(self, action: str) -> Judgement:
        """Grade one (already truncated) action for the current item and turn."""
        raise NotImplementedError

    def oracle_action(self) -> str:
        """An action that earns full reward in the current state (for scripted oracles and tests)."""
        raise NotImplementedError(f"{type(self).__name__} has no oracle")

    # ----------------------------------------------------------------- gymnasium API
    @property
    def item(self) -> TaskItem:
        """The current task item; raises before the first ``reset``."""
        if self._item is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before using the environment")
        return self._item

    @property
    def turn(self) -> int:
        """How many actions have been taken in the current episode."""
        return self._turn

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[list[Message], dict[str, Any]]:
        """Start an episode on ``options["index"]`` or on an item drawn with the env's own RNG."""
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"index"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; supported: ['index']")
        if "index" in options:
            index = self.source._check_index(options["index"])
        else:
            index = int(self.np_random.integers(len(self.source)))
        self._index = index
        self._item = self.source[index]
        self._turn = 0
        self._done = False
        observation = self._first_observation(self._item)
        if self.system_prompt:
            observation = [text_message("system", self.system_prompt), *observation]
        self._transcript = list(observation)
        return observation, {"index": index, "task_id": self._item.id, "max_turns": self.max_turns}

    def step(self, action: str) -> tuple[list[Message], float, bool, bool, dict[str, Any]]:
        """Judge one assistant action. See the module docstring for the guarantees."""
        if self._item is None:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()")
        if self._done:
            raise ResetNeeded(f"{type(self).__name__}: the episode has ended; call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(f"{type(self).__name__}.step expects the assistant's text as a str, "
                            f"got {type(action).__name__}")
        action_truncated = len(action) > self.max_action_chars
        if action_truncated:
            action = action[: self.max_action_chars]
        self._turn += 1
        judgement = self._judge(action)
        truncated = not judgement.terminated and self._turn >= self.max_turns
        self._done = judgement.terminated or truncated
        self._transcript.append(text_message("assistant", action))
        observation = judgement.feedback or [text_message("user", EPISODE_OVER if self._done else "Continue.")]
        self._transcript.extend(observation)
        info = {
            **judgement.info,
            "reward_parts": dict(judgement.reward_parts),
            "valid_action": judgement.valid_action,
            "action_truncated": action_truncated,
            "turn": self._turn,
            "task_id": self._item.id,
        }
        reward = float(sum(judgement.reward_parts.values()))
        return observation, reward, judgement.terminated, truncated, info

    def render(self) -> str | None:
        """The transcript so far as plain text (``render_mode="ansi"``)."""
        if self.render_mode != "ansi":
            return None
        return "\n".join(f"[{m['role']}] {message_text(m)}" for m in self._transcript)
