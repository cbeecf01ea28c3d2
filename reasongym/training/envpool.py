"""Environment pools: where the rollout collector's environments live and how a batch of them is stepped.

The collector addresses environments by *slot* (0, 1, ...) and talks to them in batches: one
:meth:`EnvPool.reset` for all the episodes of a round, one :meth:`EnvPool.step` per turn for all live
episodes. Batching is what lets a pool put its environments elsewhere: :class:`LocalEnvPool` keeps
them in this process (the default), :class:`reasongym.training.distributed.RayEnvPool` spreads them over
Ray actors in other processes or machines, where sandboxes, graders and browsers then run.
Whatever the pool, observations, rewards and infos are exactly what the environments returned.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import gymnasium as gym

from reasongym.envs.spaces import Message


class ResetRequest(NamedTuple):
    """Reset slot ``slot`` with ``env.reset(seed=seed, options=options)``."""

    slot: int
    seed: int | None
    options: dict[str, Any] | None


class StepResult(NamedTuple):
    """What ``env.step`` returned, unchanged."""

    observation: list[Message]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class EnvPool(abc.ABC):
    """A set of environments of one kind, addressed by slot and driven in batches."""

    @abc.abstractmethod
    def reset(self, requests: Sequence[ResetRequest]) -> list[tuple[list[Message], dict[str, Any]]]:
        """Reset each requested slot; return ``(observation, info)`` per request, in request order."""

    @abc.abstractmethod
    def step(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        """Step each ``(slot, action)``; return the results in the same order."""

    @property
    @abc.abstractmethod
    def env_id(self) -> str:
        """The registered id of the environments (or their class name); valid after a reset."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the environments and release what the pool holds."""


def env_factory(env: str | Callable[..., gym.Env], env_kwargs: Mapping[str, Any] | None) -> Callable[[], gym.Env]:
    """A no-argument constructor: ``gym.make(env, **env_kwargs)`` for an id, else ``env(**env_kwargs)``."""
    kwargs = dict(env_kwargs or {})
    if isinstance(env, str):
        return lambda: gym.make(env, **kwargs)
    return lambda: env(**kwargs)


class LocalEnvPool(EnvPool):
    """Environments in this process, created on first use of their slot and reused by later resets.

    Args:
        make_env: builds one environment (see :func:`env_factory`).
    """

    def __init__(self, make_env: Callable[[], gym.Env]):
        self._make_env = make_env
        self._envs: list[gym.Env] = []

    def reset(self, requests: Sequence[ResetRequest]) -> list[tuple[list[Message], dict[str, Any]]]:
        return [self._env(r.slot).reset(seed=r.seed, options=r.options) for r in requests]

    def step(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        return [StepResult(*self._env(slot).step(action)) for slot, action in actions]

    @property
    def env_id(self) -> str:
        if not self._envs:
            raise RuntimeError("the pool has no environment yet; reset one first")
        spec = getattr(self._envs[0], "spec", None)
        return spec.id if spec is not None else type(self._envs[0].unwrapped).__name__

    def close(self) -> None:
        """Close every environment; later resets create new ones."""
        for env in self._envs:
            env.close()
        self._envs = []

    def _env(self, slot: int) -> gym.Env:
        """The environment of ``slot``, creating the missing ones up to it."""
        if slot < 0:
            raise IndexError(f"slot must be >= 0, got {slot}")
        while len(self._envs) <= slot:
            self._envs.append(self._make_env())
        return self._envs[slot]
