"""Adapters that let other trainers drive reasongym environments.

TRL (``trl.GRPOTrainer(environment_factory=...)``, TRL >= 1.x with transformers >= 5.2) expects a
zero-argument factory returning an object with

* ``reset(**row) -> str | None``: called with the dataset row before each rollout; the returned text is
  appended to the row's last user message;
* public methods: each one is a tool the model may call, described to the model by the JSON schema
  ``transformers.utils.get_json_schema`` reads from its type hints and Google-style docstring, and called
  with the arguments the model wrote as keyword arguments; the return value (a string) becomes the
  ``tool`` message;
* optionally ``get_reward() -> float``: called once per finished rollout; the environment then owns the
  reward.

:func:`trl_environment_factory` builds such a class for any registered reasongym id. Each tool method
turns its call back into the env's own action (a ``<tool_call>`` block for envs that list
``tool_specs``, such as ``reason/RepoFix-v0``) and steps the env, so every tool call is one env turn. Envs
without tools (math, code, single-turn answers) get one tool, ``respond(text)``, whose text is the
action. The env's system message (its own tool protocol) is left out of the prompt: TRL renders the
tools with the model's chat template instead. ``get_reward`` applies
:class:`~reasongym.training.rewards.RewardTransform` in episode mode to the episode's reward parts, so
G-RA gating (``gate_threshold``) and part weights work as in the reasongym trainer.

Rows: a dataset row may carry ``seed`` and ``index`` (passed to ``reset(seed=..., options={"index": ...})``);
:func:`trl_dataset_rows` makes such rows, with an empty prompt, so that the task text comes from ``reset``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

import gymnasium as gym

from reasongym.envs.spaces import Message, message_text
from reasongym.tasks.tools.calls import ToolCall
from reasongym.training.rewards import RewardTransform

EPISODE_OVER = "The episode is over; no further tool calls are needed."
_JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list,
                                "object": dict}
_RESPOND_SPEC = {"name": "respond", "description": "Send your message (for example your final answer) to the "
                                                   "environment and get its reply.",
                 "parameters": {"type": "object", "required": ["text"], "properties": {
                     "text": {"type": "string", "description": "the complete message, as you would write it."}}}}


def observation_text(messages: list[Message]) -> str:
    """The text of an observation's messages, system messages left out."""
    return "\n\n".join(message_text(m) for m in messages if m["role"] != "system")


class TRLEnvironment:
    """The part of a TRL environment shared by every env id (tool methods are added per id).

    Subclasses made by :func:`trl_environment_factory` set ``env_id``, ``env_kwargs``, ``transform`` and
    ``uses_tool_calls``.
    """

    env_id: str = ""
    env_kwargs: Mapping[str, Any] = {}
    transform: RewardTransform = RewardTransform()
    uses_tool_calls: bool = False

    def __init__(self) -> None:
        self.env = gym.make(self.env_id, **self.env_kwargs)
        self._parts: list[dict[str, float]] = []
        self._valid: list[bool] = []
        self._done = True

    def reset(self, **row: Any) -> str:
        """Start an episode (``row["seed"]``, ``row["index"]`` if given) and return its task text."""
        options = {"index": int(row["index"])} if row.get("index") is not None else None
        seed = int(row["seed"]) if row.get("seed") is not None else None
        observation, _ = self.env.reset(seed=seed, options=options)
        self._parts, self._valid, self._done = [], [], False
        return observation_text(observation)

    def get_reward(self) -> float:
        """The episode's return under the reward transform (0 when no tool was called)."""
        if not self._parts:
            return 0.0
        n = len(self._parts)
        return float(sum(self.transform.apply(self._parts, response_lengths=[0] * n, valid_actions=self._valid,
                                              max_length=1)))

    def _act(self, name: str, arguments: dict[str, Any]) -> str:
        """Turn one tool call into an env step and return the env's reply."""
        if self._done:
            return EPISODE_OVER
        action = ToolCall(name, arguments).render() if self.uses_tool_calls else str(arguments.get("text", ""))
        observation, _, terminated, truncated, info = self.env.step(action)
        self._parts.append(dict(info["reward_parts"]))
        self._valid.append(bool(info.get("valid_action", True)))
        self._done = bool(terminated or truncated)
        return observation_text(observation)


def _docstring(spec: Mapping[str, Any]) -> str:
    properties = spec.get("parameters", {}).get("properties", {})
    lines = [spec.get("description") or spec["name"]]
    if properties:
        lines += ["", "Args:"]
        lines += [f"    {name}: {schema.get('description') or name}" for name, schema in properties.items()]
    return "\n".join(lines)


def _tool_method(spec: Mapping[str, Any]) -> Callable[..., str]:
    """A method named and typed after one tool spec, forwarding its keyword arguments to ``_act``."""
    name = spec["name"]
    schema = spec.get("parameters", {})
    required = set(schema.get("required", ()))
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {"return": str}
    for argument, property_schema in schema.get("properties", {}).items():
        hint = _JSON_TYPES.get(property_schema.get("type"), str)
        default = inspect.Parameter.empty if argument in required else property_schema.get("default")
        parameters.append(inspect.Parameter(argument, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))
        annotations[argument] = hint

    def method(self: TRLEnvironment, **arguments: Any) -> str:
        return self._act(name, arguments)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = _docstring(spec)
    method.__signature__ = inspect.Signature(parameters, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    return method


def trl_environment_factory(env_id: str, *, gate_threshold: float | None = None,
                            gated_parts: tuple[str, ...] | None = ("step",), weights: Mapping[str, float] | None = None,
                            **env_kwargs: Any) -> type[TRLEnvironment]:
    """What to pass as ``GRPOTrainer(environment_factory=...)``: a :class:`TRLEnvironment` subclass for
    ``env_id`` with one method per tool of the env. The class itself is the zero-argument factory (TRL
    calls it once per concurrent rollout and reads the tools from it).

    Args:
        env_id: a registered id, e.g. ``"reason/RepoFix-v0"``.
        gate_threshold: G-RA threshold for ``get_reward`` (``None``: step rewards always count).
        gated_parts: the reward parts the gate withholds (``None``: every part but the outcome); the
            default leaves penalties such as ``format`` ungated.
        weights: weights of the reward parts for ``get_reward`` (missing parts weigh 1).
        **env_kwargs: passed to ``gym.make``.
    """
    probe = gym.make(env_id, **env_kwargs)
    specs = getattr(probe.unwrapped, "tool_specs", None)
    probe.close()
    functions = [s["function"] for s in specs] if specs else [_RESPOND_SPEC]
    reserved = {"reset", "get_reward", "env"}
    clashes = reserved & {f["name"] for f in functions}
    if clashes:
        raise ValueError(f"{env_id}: tool names {sorted(clashes)} clash with the TRL environment protocol")
    namespace: dict[str, Any] = {f["name"]: _tool_method(f) for f in functions}
    namespace.update(env_id=env_id, env_kwargs=dict(env_kwargs), uses_tool_calls=bool(specs),
                     transform=RewardTransform(weights=dict(weights or {}), gate_threshold=gate_threshold,
                                               gated_parts=gated_parts))
    class_name = "".join(ch for ch in env_id.split("/")[-1].title() if ch.isalnum()) + "TRLEnvironment"
    return type(class_name, (TRLEnvironment,), namespace)


def trl_dataset_rows(num_rows: int, *, num_items: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Dataset rows for ``environment_factory`` training: an empty user prompt (the env supplies the task
    in ``reset``), a reset ``seed`` and, when ``num_items`` is given, an item ``index`` cycling over it.
    Wrap them with ``datasets.Dataset.from_list``."""
    rows = []
    for i in range(num_rows):
        row: dict[str, Any] = {"prompt": [{"role": "user", "content": ""}], "seed": seed + i}
        if num_items is not None:
            row["index"] = i % num_items
        rows.append(row)
    return rows
