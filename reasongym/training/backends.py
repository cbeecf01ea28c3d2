"""What samples a trainer's rollouts and where its environments live, built from ``config.rollout``.

Generation (``rollout.backend``):

* ``transformers``: a :class:`~reasongym.agents.transformers_policy.TransformersPolicy` around the trained
  model itself, so every update is seen at once and nothing needs syncing.
* ``vllm``: a :class:`~reasongym.agents.vllm_policy.VLLMPolicy` engine beside the trainer (colocated, on
  the same GPUs). It encodes prompts with the trainer's own tokenizer, so both sides render the same chat
  template, and it starts from and follows the trained weights: after every step the trainer sends them
  with :meth:`VLLMPolicy.load_weights`, LoRA adapters merged into new tensors
  (:func:`~reasongym.training.models.merged_named_weights`) since vLLM knows nothing of peft's names. With
  ``rollout.vllm.enable_sleep_mode`` the engine sleeps from the end of a collection to that sync, leaving
  the GPU to the update.

Environments (``rollout.env_workers``): ``0`` keeps them in the trainer's process (the collector's
:class:`~reasongym.training.envpool.LocalEnvPool`), ``N > 0`` puts them in ``N`` Ray actors
(:class:`~reasongym.training.distributed.RayEnvPool`), which the collector owns and closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasongym.agents.base import SamplingParams, TokenPolicy
from reasongym.training.config import TrainConfig
from reasongym.training.envpool import EnvPool
from reasongym.training.models import TINY_MODELS, PolicyModel, load_base_model, merged_named_weights
from reasongym.training.rewards import RewardTransform
from reasongym.training.rollout import RolloutCollector


class RolloutEngine:
    """The policy that samples rollouts, and how it follows the trained model.

    This base class serves the transformers backend, whose policy *is* the trained model: releasing and
    syncing are then nothing to do.
    """

    def __init__(self, policy: TokenPolicy):
        self.policy = policy

    def release(self) -> None:
        """Free what generation holds (GPU memory) for the update; called after each collection."""

    def sync(self, model: Any) -> None:
        """Make the policy sample from ``model``'s current weights; called after each step's update."""


class VLLMEngine(RolloutEngine):
    """A colocated vLLM engine: sleeps during the update (when configured) and receives the trained weights.

    Args:
        policy: the engine's policy.
        sleep_level: ``None`` to keep the engine awake, else the :meth:`VLLMPolicy.sleep` level.
    """

    def __init__(self, policy: Any, sleep_level: int | None):
        super().__init__(policy)
        self.sleep_level = sleep_level

    def release(self) -> None:
        if self.sleep_level is not None:
            self.policy.sleep(self.sleep_level)

    def sync(self, model: Any) -> None:
        self.policy.load_weights(merged_named_weights(model))  # also wakes a sleeping engine


def build_engine(config: TrainConfig, parts: PolicyModel, out_dir: Path) -> RolloutEngine:
    """The rollout engine of ``config.rollout.backend`` for the trainer's model ``parts``."""
    if config.rollout.backend == "vllm":
        return _vllm_engine(config, parts, out_dir)
    from reasongym.agents.transformers_policy import TransformersPolicy

    return RolloutEngine(TransformersPolicy(parts.model, parts.processor, batch_size=config.rollout.slots))


def _vllm_engine(config: TrainConfig, parts: PolicyModel, out_dir: Path) -> VLLMEngine:
    """Start the engine on the model's checkpoint, then load the trainer's weights (resumed or LoRA-merged)."""
    from reasongym.agents.vllm_policy import VLLMPolicy

    engine = config.rollout.vllm
    optional = {"max_model_len": engine.max_model_len} if engine.max_model_len is not None else {}
    policy = VLLMPolicy.from_pretrained(
        _engine_checkpoint(config, out_dir), tokenizer=parts.processor, dtype=config.model.dtype,
        seed=config.run.seed, gpu_memory_utilization=engine.gpu_memory_utilization,
        tensor_parallel_size=engine.tensor_parallel_size, enable_sleep_mode=engine.enable_sleep_mode,
        **optional, **engine.engine_kwargs,
    )
    rollout_engine = VLLMEngine(policy, engine.sleep_level if engine.enable_sleep_mode else None)
    rollout_engine.sync(parts.model)
    return rollout_engine


def _engine_checkpoint(config: TrainConfig, out_dir: Path) -> str:
    """What the engine loads at start: ``model.name``, or for a tiny model built in code a copy saved under
    ``out_dir/engine_model`` (vLLM loads folders, not Python objects)."""
    if config.model.name not in TINY_MODELS:
        return config.model.name
    folder = out_dir / "engine_model"
    model, tokenizer = load_base_model(config.model, config.run.seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def build_collector(config: TrainConfig, policy: TokenPolicy, sampling: SamplingParams) -> RolloutCollector:
    """The rollout collector of ``config``: its reward transform, and its environments in or out of process."""
    reward, rollout = config.reward, config.rollout
    transform = RewardTransform(weights=dict(reward.weights), gate_threshold=reward.gate_threshold,
                                gate_mode=reward.gate_mode, overlong_buffer=reward.overlong_buffer,
                                overlong_penalty=reward.overlong_penalty)
    if rollout.env_workers > 0:
        env, env_kwargs = _ray_env_pool(config), None
    else:
        env, env_kwargs = config.env.id, config.env.kwargs
    return RolloutCollector(env, env_kwargs, policy, group_size=rollout.group_size, sampling=sampling,
                            reward_transform=transform, dynamic_sampling=rollout.dynamic_sampling,
                            max_resample_rounds=rollout.max_resample_rounds)


def _ray_env_pool(config: TrainConfig) -> EnvPool:
    """``rollout.env_workers`` Ray actors holding a step's ``tasks_per_step * group_size`` environments.

    Ray starts locally (or joins ``rollout.ray.address``) unless this process already initialised it.
    """
    from reasongym.training.distributed import RayEnvPool, init_ray

    rollout, ray = config.rollout, config.rollout.ray
    init_ray(num_cpus=ray.num_cpus, address=ray.address)
    per_worker = ray.envs_per_worker or -(-rollout.slots // rollout.env_workers)  # ceil
    return RayEnvPool(config.env.id, config.env.kwargs, num_workers=rollout.env_workers, envs_per_worker=per_worker,
                      num_cpus_per_worker=ray.cpus_per_worker)
