"""Tests of Ray placement of environment workers (``reasongym.training.distributed``), with a real local Ray.

Ray starts once for the module (``num_cpus=2``, 5-8 s) and is shut down at its end; the module takes about
25 s on two (busy) cores, most of it Ray's start and the tiny model's generation. Tests that need Ray skip
with the reason when it is not installed. Ray leaves its session logs under ``/tmp/ray`` (a few hundred KB per run).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any, Iterator

import gymnasium as gym
import pytest
import torch

import reasongym  # noqa: F401  (registers the reason/* ids)
from reasongym.agents import SamplingParams, TransformersPolicy
from reasongym.training.distributed import RAY_MISSING, EnvWorkerError, RayEnvPool, import_ray, init_ray
from reasongym.training.envpool import LocalEnvPool, ResetRequest, env_factory
from reasongym.training.config import config_from_dict
from reasongym.training.rollout import RolloutCollector
from reasongym.training.trainer import Trainer

from conftest import eos_biased_tiny_policy
from test_trainer import params, tiny_config, without_timings

NO_RAY = importlib.util.find_spec("ray") is None
requires_ray = pytest.mark.skipif(NO_RAY, reason="Ray is not installed: pip install 'reasongym[ray]'")

ARITHMETIC = "reason/Arithmetic-v0"
SAMPLING = SamplingParams(max_tokens=12)


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    """A local Ray with two CPUs for the whole module."""
    ray = init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def text_policy() -> TransformersPolicy:
    """The tiny Qwen2 with EOS made likely (see ``conftest.eos_biased_tiny_policy``)."""
    return eos_biased_tiny_policy()


class ExitingEnv(gym.Env):
    """Kills its process on the first step: what a crashed native grader or browser does to an actor."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        return 0, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict]:
        os._exit(3)


@pytest.mark.usefixtures("ray_session")
@pytest.mark.ray
@requires_ray
def test_ray_pool_plays_the_same_trajectories_as_in_process_envs(text_policy: TransformersPolicy) -> None:
    kwargs = {"max_attempts": 2}
    local = RolloutCollector(ARITHMETIC, kwargs, text_policy, group_size=3, sampling=SAMPLING)
    pool = RayEnvPool(ARITHMETIC, kwargs, num_workers=2, envs_per_worker=3, num_cpus_per_worker=0.5)
    remote = RolloutCollector(pool, None, text_policy, group_size=3, sampling=SAMPLING)
    for seed in (7, 8):
        expected, played = local.collect([0, 1], seed=seed), remote.collect([0, 1], seed=seed)
        assert [vars(t) for t in played] == [vars(t) for t in expected]
    assert max(t.num_turns for t in expected) > 1  # multi-turn: env replies came back through Ray
    assert {reason for t in expected for reason in t.finish_reasons} == {"stop", "length"}
    assert played[0].env_id == ARITHMETIC
    remote.close()  # the collector owns its pool
    with pytest.raises(RuntimeError, match="closed"):
        pool.reset([ResetRequest(0, 0, None)])
    local.close()


@pytest.mark.usefixtures("ray_session")
@pytest.mark.ray
@requires_ray
def test_trainer_with_env_workers_trains_as_with_in_process_envs(tmp_path: Any) -> None:
    local = Trainer(config_from_dict(tiny_config(tmp_path / "local", run={"steps": 1})), resume=False)
    remote = Trainer(config_from_dict(tiny_config(tmp_path / "ray", run={"steps": 1},
                                                  rollout={"env_workers": 2, "ray": {"cpus_per_worker": 0.5}})),
                     resume=False)
    pool = remote.collector.envs
    assert isinstance(pool, RayEnvPool) and (pool.num_workers, pool.envs_per_worker) == (2, 4)  # 2 tasks x 4
    played, expected = remote.collector.collect([0, 1], seed=4), local.collector.collect([0, 1], seed=4)
    assert [vars(t) for t in played] == [vars(t) for t in expected]
    records, reference = remote.train(), local.train()
    assert without_timings(records) == without_timings(reference)  # rewards, lengths, losses of the step
    assert records[0]["reward/mean"] > 0 and records[0]["response/length_mean"] > 0
    trained, trained_locally = params(remote.model), params(local.model)
    assert all(torch.equal(trained[n], trained_locally[n]) for n in trained)
    with pytest.raises(RuntimeError, match="closed"):  # train() closed the collector, and so the pool
        pool.reset([ResetRequest(0, 0, None)])


@pytest.mark.usefixtures("ray_session")
@pytest.mark.ray
@requires_ray
def test_batched_calls_return_in_request_order_and_slots_are_bounded() -> None:
    pool = RayEnvPool(ARITHMETIC, None, num_workers=2, envs_per_worker=2, num_cpus_per_worker=0.5)
    local = LocalEnvPool(env_factory(ARITHMETIC, None))
    try:
        requests = [ResetRequest(slot, 100 + slot, {"index": 10 - slot}) for slot in (3, 0, 2, 1)]
        assert pool.reset(requests) == local.reset(requests)
        actions = [(2, "\\boxed{8}"), (3, "no answer"), (0, "\\boxed{10}")]
        assert pool.step(actions) == local.step(actions)
        with pytest.raises(IndexError, match="outside this pool's 4 slots"):
            pool.step([(4, "x")])
    finally:
        pool.close()
        local.close()


@pytest.mark.usefixtures("ray_session")
@pytest.mark.ray
@requires_ray
def test_worker_exceptions_surface_as_clear_errors() -> None:
    pool = RayEnvPool(ARITHMETIC, None, num_workers=2, envs_per_worker=1, num_cpus_per_worker=0.5)
    try:  # gymnasium's order enforcing raises in the actor: slot 1 was never reset
        with pytest.raises(EnvWorkerError, match=r"env worker 1 of 'reason/Arithmetic-v0' failed in step: "
                                                 r"ResetNeeded: Cannot call env.step\(\) before calling env.reset\(\)"):
            pool.step([(1, "hello")])
    finally:
        pool.close()
    bad = RayEnvPool(ARITHMETIC, {"no_such_option": 1}, num_workers=1, envs_per_worker=1, num_cpus_per_worker=0.5)
    try:
        with pytest.raises(EnvWorkerError, match="failed in reset: TypeError: .*no_such_option") as error:
            bad.reset([ResetRequest(0, 0, None)])
        assert isinstance(error.value.__cause__, TypeError)
    finally:
        bad.close()


@pytest.mark.usefixtures("ray_session")
@pytest.mark.ray
@requires_ray
def test_a_dead_worker_is_reported() -> None:
    ray = import_ray()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test file
    pool = RayEnvPool(ExitingEnv, None, num_workers=1, envs_per_worker=1, num_cpus_per_worker=0.5)
    try:
        pool.reset([ResetRequest(0, 0, None)])
        with pytest.raises(EnvWorkerError, match="env worker 0 of 'ExitingEnv' died during step"):
            pool.step([(0, 0)])
    finally:
        pool.close()


@pytest.mark.ray
@requires_ray
def test_close_kills_the_actors_and_returns_their_cpus(ray_session: Any) -> None:
    pool = RayEnvPool(ARITHMETIC, None, num_workers=2, envs_per_worker=1, num_cpus_per_worker=1)
    pool.reset([ResetRequest(0, 0, None), ResetRequest(1, 0, None)])
    assert _available_cpus(ray_session, lambda cpus: cpus == 0.0) == 0.0
    pool.close()
    pool.close()  # closing twice is harmless
    assert _available_cpus(ray_session, lambda cpus: cpus == 2.0) == 2.0


def _available_cpus(ray: Any, done: Any, timeout: float = 10.0) -> float:
    """Ray's free CPUs once ``done(cpus)`` holds (resource accounting lags a little), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        cpus = ray.available_resources().get("CPU", 0.0)
        if done(cpus) or time.monotonic() > deadline:
            return cpus
        time.sleep(0.1)


def test_collector_refuses_env_kwargs_beside_a_pool(text_policy: TransformersPolicy) -> None:
    pool = LocalEnvPool(env_factory(ARITHMETIC, None))
    with pytest.raises(ValueError, match="given to the EnvPool"):
        RolloutCollector(pool, {"max_attempts": 2}, text_policy, group_size=2, sampling=SAMPLING)


def test_clear_import_error_without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what Python does for a package that is not installed
    with pytest.raises(ImportError, match=r"pip install 'reasongym\[ray\]'") as error:
        RayEnvPool(ARITHMETIC, None, num_workers=1, envs_per_worker=1)
    assert str(error.value) == RAY_MISSING
