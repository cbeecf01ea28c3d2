"""Ray placement of environment workers: an :class:`~reasongym.training.envpool.EnvPool` of Ray actors.

Environments with heavy steps (Docker sandboxes, graders in process pools, headless browsers) should not
run in the learner's process. :class:`RayEnvPool` starts ``num_workers`` Ray actors, each owning up to
``envs_per_worker`` environments (a :class:`~reasongym.training.envpool.LocalEnvPool` inside the actor),
and serves the collector's batched ``reset``/``step`` calls by sending each actor its share at once and
gathering the answers: actors step their environments concurrently, in other processes or, on a Ray
cluster, on other machines. Observations, rewards, reward parts and infos come back exactly as the
environments returned them (pickled by Ray), so trajectories equal those of in-process environments.

Slot ``s`` lives on actor ``s % num_workers`` (round robin), so that a small batch still spreads over
all actors. A failing environment raises :class:`EnvWorkerError` naming the actor, the call and the
original error; :meth:`RayEnvPool.close` closes the environments and kills the actors.

Ray is optional: it is imported when a pool is built, with an error saying how to install it.
"""

from __future__ import annotations

from collections import defaultdict
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym

from reasongym.envs.spaces import Message
from reasongym.training.envpool import EnvPool, LocalEnvPool, ResetRequest, StepResult, env_factory

RAY_MISSING = "RayEnvPool needs Ray, which is not installed: pip install 'reasongym[ray]' (or pip install ray)"


def import_ray() -> ModuleType:
    """Import Ray, or raise ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(RAY_MISSING) from error
    return ray


def init_ray(num_cpus: int | None = None, address: str | None = None, **kwargs: Any) -> ModuleType:
    """Start (or join) Ray once per process, without the dashboard; return the ``ray`` module.

    With ``address=None`` a local Ray instance starts with ``num_cpus`` CPUs (all cores when ``None``); with an
    address (``"auto"``, ``"ray://host:10001"``) the process joins that cluster, whose size is its own.
    A process where Ray is already initialised is left as it is.
    """
    ray = import_ray()
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    return ray


class EnvWorkerError(RuntimeError):
    """An environment actor failed (its environment raised, or the actor died)."""


class EnvWorker:
    """The body of one Ray actor: a :class:`LocalEnvPool` addressed by local slots.

    Args:
        env: a registered environment id or a picklable factory.
        env_kwargs: keyword arguments of ``gym.make`` or of the factory.
    """

    def __init__(self, env: str | Callable[..., gym.Env], env_kwargs: Mapping[str, Any] | None):
        import reasongym  # noqa: F401  (registers the reason/* ids in the actor's process)

        self.pool = LocalEnvPool(env_factory(env, env_kwargs))

    def reset(self, requests: Sequence[ResetRequest]) -> list[tuple[list[Message], dict[str, Any]]]:
        return self.pool.reset(requests)

    def step(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        return self.pool.step(actions)

    def env_id(self) -> str:
        return self.pool.env_id

    def close(self) -> None:
        self.pool.close()


class RayEnvPool(EnvPool):
    """Environments spread over Ray actors; see the module docstring.

    Args:
        env: a registered environment id (``"reason/RepoFix-v0"``) or a factory that Ray can pickle.
        env_kwargs: keyword arguments of ``gym.make`` or of the factory, applied in every actor.
        num_workers: how many actors.
        envs_per_worker: at most this many environments per actor; the pool holds
            ``num_workers * envs_per_worker`` slots (a collection needs ``len(task_indices) * group_size``).
        num_cpus_per_worker: the CPUs Ray reserves for each actor (fractions allowed).
        actor_options: further ``ray.remote`` options of each actor, e.g. ``{"resources": {"sandbox": 1}}``
            or a ``scheduling_strategy`` to spread actors over nodes.

    Ray is initialised with :func:`init_ray` defaults when it is not yet; call :func:`init_ray` first to size
    a local instance or to join a cluster.
    """

    def __init__(self, env: str | Callable[..., gym.Env], env_kwargs: Mapping[str, Any] | None = None, *,
                 num_workers: int, envs_per_worker: int, num_cpus_per_worker: float = 1.0,
                 actor_options: Mapping[str, Any] | None = None):
        if num_workers < 1 or envs_per_worker < 1:
            raise ValueError(f"need at least one worker and one env per worker, got {num_workers} x {envs_per_worker}")
        self._ray = init_ray()
        self.num_workers = num_workers
        self.envs_per_worker = envs_per_worker
        self.capacity = num_workers * envs_per_worker
        self._name = env if isinstance(env, str) else getattr(env, "__name__", repr(env))
        actor = self._ray.remote(EnvWorker).options(num_cpus=num_cpus_per_worker, **dict(actor_options or {}))
        self._workers: list[Any] = [actor.remote(env, dict(env_kwargs or {})) for _ in range(num_workers)]
        self._env_id: str | None = None

    def reset(self, requests: Sequence[ResetRequest]) -> list[tuple[list[Message], dict[str, Any]]]:
        local = [ResetRequest(self._local_slot(r.slot), r.seed, r.options) for r in requests]
        return self._scatter("reset", [r.slot for r in requests], local)

    def step(self, actions: Sequence[tuple[int, str]]) -> list[StepResult]:
        local = [(self._local_slot(slot), action) for slot, action in actions]
        return self._scatter("step", [slot for slot, _ in actions], local)

    @property
    def env_id(self) -> str:
        if self._env_id is None:
            self._env_id = self._gather("env_id", {0: self._live_workers()[0].env_id.remote()})[0]
        return self._env_id

    def close(self) -> None:
        """Close every actor's environments, then kill the actors (their CPUs return to Ray).

        Actors that already died are skipped; an environment whose ``close`` raises is reported after
        every actor was killed.
        """
        if not self._workers:
            return
        workers, self._workers = self._workers, []
        try:
            self._gather("close", {w: worker.close.remote() for w, worker in enumerate(workers)}, dead_ok=True)
        finally:
            for worker in workers:
                self._ray.kill(worker)

    # ------------------------------------------------------------------ internals
    def _local_slot(self, slot: int) -> int:
        """The slot's index inside its actor (slot ``s`` lives on actor ``s % num_workers``)."""
        if not 0 <= slot < self.capacity:
            raise IndexError(f"slot {slot} is outside this pool's {self.capacity} slots ({self.num_workers} "
                             f"workers x {self.envs_per_worker} envs); build a RayEnvPool with more of either")
        return slot // self.num_workers

    def _live_workers(self) -> list[Any]:
        if not self._workers:
            raise RuntimeError("the RayEnvPool is closed")
        return self._workers

    def _scatter(self, method: str, slots: Sequence[int], items: Sequence[Any]) -> list[Any]:
        """Send each actor its items in one call; return the results in the order of ``slots``."""
        workers = self._live_workers()
        positions: dict[int, list[int]] = defaultdict(list)
        for position, slot in enumerate(slots):
            positions[slot % self.num_workers].append(position)
        refs = {w: getattr(workers[w], method).remote([items[p] for p in ps]) for w, ps in positions.items()}
        answers = self._gather(method, refs)
        results: list[Any] = [None] * len(slots)
        for w, ps in positions.items():
            for position, result in zip(ps, answers[w]):
                results[position] = result
        return results

    def _gather(self, method: str, refs: Mapping[int, Any], *, dead_ok: bool = False) -> dict[int, Any]:
        """``ray.get`` every actor's answer; a failure becomes an :class:`EnvWorkerError` naming where it happened.

        With ``dead_ok``, actors that died are left out of the answers instead.
        """
        exceptions = self._ray.exceptions
        answers = {}
        for w, ref in refs.items():
            try:
                answers[w] = self._ray.get(ref)
            except exceptions.RayTaskError as error:
                cause = error.cause if getattr(error, "cause", None) is not None else error
                raise EnvWorkerError(f"env worker {w} of {self._name!r} failed in {method}: "
                                     f"{type(cause).__name__}: {cause}") from cause
            except exceptions.RayActorError as error:
                if dead_ok:
                    continue
                raise EnvWorkerError(f"env worker {w} of {self._name!r} died during {method}: {error}") from error
        return answers
