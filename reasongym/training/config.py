"""Training configuration: nested dataclasses loaded from YAML, with unknown keys rejected.

A config file mirrors the dataclasses (``model``, ``env``, ``rollout``, ``reward``, ``algorithm``,
``optim``, ``run`` and, for ``algorithm.advantage: gae``, ``critic``); every field has a default, so a file
only states what it changes. See ``examples/configs/`` for complete files.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

ADVANTAGES = ("grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline", "per_turn_grpo", "gae")
LOSS_AGGREGATIONS = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
KL_ESTIMATORS = ("k1", "abs", "k2", "k3")
SCHEDULES = ("constant", "linear", "cosine")
BACKENDS = ("transformers", "vllm")
#: ``vllm.LLM`` arguments the trainer sets itself (from ``rollout.vllm``, ``model`` and ``run``)
VLLM_MANAGED_ARGS = ("model", "dtype", "seed", "gpu_memory_utilization", "tensor_parallel_size", "enable_sleep_mode",
                     "max_model_len", "logprobs_mode", "worker_extension_cls")


@dataclass
class LoraConfig:
    """LoRA adapters through peft; ``target_modules`` names the linear layers to adapt."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class ModelConfig:
    """The policy: a name for :func:`reasongym.agents.models.resolve_model`, or ``tiny-qwen2`` (tests)."""

    name: str = "smollm2"
    dtype: str = "float32"
    device: str | None = None
    gradient_checkpointing: bool = False
    #: RMSNorm and SwiGLU MLP modules that keep fewer activations for the backward pass (same values;
    #: :mod:`reasongym.training.lean_layers`); unused with gradient checkpointing, which keeps none
    lean_layers: bool = True
    lora: LoraConfig | None = None


@dataclass
class EnvConfig:
    """Which environment trains the policy, and which of its items are used."""

    id: str = "reason/Countdown-v0"
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: training items are drawn from ``[first_index, first_index + num_tasks)``; by default every item
    #: from ``first_index`` up to the held-out evaluation items
    first_index: int = 0
    num_tasks: int | None = None


@dataclass
class VLLMConfig:
    """The vLLM engine of ``rollout.backend: vllm`` (see :mod:`reasongym.training.backends`).

    The engine runs beside the trainer on the same GPUs (colocated) and receives the trained weights after
    every step; its dtype and seed are ``model.dtype`` and ``run.seed``.
    """

    #: fraction of each GPU's memory the engine takes (weights and KV cache); the trainer needs the rest
    gpu_memory_utilization: float = 0.5
    tensor_parallel_size: int = 1
    #: release the engine's GPU memory during the update (``LLM(enable_sleep_mode=True)``)
    enable_sleep_mode: bool = False
    #: 1 keeps the engine's weights in CPU memory while it sleeps, 2 discards them (the update replaces them)
    sleep_level: int = 1
    max_model_len: int | None = None
    #: further ``vllm.LLM`` keyword arguments, e.g. ``{enforce_eager: true}``
    engine_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RayConfig:
    """Where the Ray environment workers of ``rollout.env_workers > 0`` run."""

    #: ``null`` starts a local Ray; ``auto`` or ``ray://host:10001`` joins a running cluster
    address: str | None = None
    #: CPUs of a local Ray (``null``: all cores); ignored when joining a cluster
    num_cpus: int | None = None
    #: environments per worker; ``null`` spreads ``tasks_per_step * group_size`` over the workers
    envs_per_worker: int | None = None
    #: CPUs Ray reserves for each worker (fractions allowed)
    cpus_per_worker: float = 1.0


@dataclass
class RolloutConfig:
    """How rollouts are sampled: ``tasks_per_step`` groups of ``group_size`` episodes each.

    ``backend`` chooses what generates: ``transformers`` samples from the trained model itself, ``vllm``
    from a vLLM engine that receives the trained weights after each step (GPU only). ``env_workers``
    chooses where the environments live: ``0`` in the trainer's process, ``N > 0`` in ``N`` Ray actors.
    """

    tasks_per_step: int = 4
    group_size: int = 8
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    #: DAPO: drop groups whose rewards all agree and sample more tasks instead
    dynamic_sampling: bool = False
    max_resample_rounds: int = 3
    backend: str = "transformers"
    vllm: VLLMConfig = field(default_factory=VLLMConfig)
    env_workers: int = 0
    ray: RayConfig = field(default_factory=RayConfig)

    @property
    def slots(self) -> int:
        """How many environments one collection round plays at once."""
        return self.tasks_per_step * self.group_size


@dataclass
class RewardConfig:
    """Transforms applied to each episode's reward parts before advantages."""

    #: weight of each named part (missing parts weigh 1)
    weights: dict[str, float] = field(default_factory=dict)
    #: G-RA threshold: step rewards count only when the outcome reaches it (``None`` disables gating)
    gate_threshold: float | None = None
    #: ``episode``: gated sum added to the outcome; ``turn``: each gated step reward stays at its turn
    gate_mode: str = "episode"
    #: DAPO soft overlong penalty: responses past ``max_tokens - overlong_buffer`` lose up to ``overlong_penalty``
    overlong_buffer: int = 0
    overlong_penalty: float = 1.0


@dataclass
class AlgorithmConfig:
    """Advantage estimator and loss (see :mod:`reasongym.training.advantages` and ``losses``)."""

    advantage: str = "grpo"
    ppo_epochs: int = 1
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.28
    dual_clip_c: float | None = None
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    kl_in_reward: bool = False
    entropy_coef: float = 0.0
    loss_agg: str = "token-mean"
    lambda_pos: float = 1.0
    lambda_neg: float = 1.0
    #: discount of ``reinforce_pp`` returns, of ``per_turn_grpo`` returns-to-go over turns and of ``gae``
    gamma: float = 1.0
    #: GAE's lambda (``gae`` only): 1 gives Monte-Carlo returns minus the value, 0 one-step TD errors
    lam: float = 1.0


@dataclass
class OptimConfig:
    """AdamW, an LR schedule, gradient clipping and micro-batching (gradient accumulation)."""

    lr: float = 1e-5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    schedule: str = "constant"
    max_grad_norm: float = 1.0
    micro_batch_size: int = 8
    logprob_chunk_size: int = 1024
    #: positions per packed row in the log-prob passes of text models: each group's prompt once, no
    #: padding (:mod:`reasongym.training.packing`); 0 runs the right-padded batch
    pack_tokens: int = 1024
    #: before each training micro-batch, return the C heap's free pages to the system, so freed
    #: activations do not stay resident (:mod:`reasongym.training.memory`)
    release_memory: bool = True


@dataclass
class CriticConfig:
    """The value model that ``algorithm.advantage: gae`` trains (see :mod:`reasongym.training.critic`).

    It is a full copy of the policy's backbone with a scalar head, trained by its own AdamW at constant
    ``lr`` on the clipped value loss, with the policy's micro-batches and loss aggregation.
    """

    lr: float = 1e-5
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    #: PPO value clipping: new values stay within this distance of the rollout-time values (null: off)
    value_clip: float | None = 0.5


@dataclass
class RunConfig:
    """Length, seed, output folder, checkpointing and periodic evaluation."""

    steps: int = 50
    seed: int = 0
    out_dir: str = "runs/train"
    save_every: int = 10
    keep_checkpoints: int = 2
    #: evaluate greedy pass@1 every this many steps (0: never) on the environment's last ``eval_tasks``
    #: items, which are then held out of the training range
    eval_every: int = 0
    eval_tasks: int = 32
    eval_max_tokens: int | None = None


@dataclass
class TrainConfig:
    """Everything a training run needs."""

    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    #: required by ``algorithm.advantage: gae`` and refused otherwise (it would be a second model trained for nothing)
    critic: CriticConfig | None = None

    def __post_init__(self) -> None:
        algo = self.algorithm
        checks = [
            (self.algorithm.advantage in ADVANTAGES, f"algorithm.advantage must be one of {ADVANTAGES}"),
            (self.algorithm.loss_agg in LOSS_AGGREGATIONS, f"algorithm.loss_agg must be one of {LOSS_AGGREGATIONS}"),
            (self.algorithm.kl_estimator in KL_ESTIMATORS, f"algorithm.kl_estimator must be one of {KL_ESTIMATORS}"),
            (self.optim.schedule in SCHEDULES, f"optim.schedule must be one of {SCHEDULES}"),
            (self.reward.gate_mode in ("episode", "turn"), "reward.gate_mode must be 'episode' or 'turn'"),
            (self.model.dtype in ("float32", "bfloat16", "float16"), "model.dtype must be float32, bfloat16 or float16"),
            (self.rollout.group_size >= 1 and self.rollout.tasks_per_step >= 1, "rollout sizes must be positive"),
            (self.optim.micro_batch_size >= 1, "optim.micro_batch_size must be positive"),
            (self.optim.pack_tokens >= 0, "optim.pack_tokens must be 0 (no packing) or positive"),
            (self.run.steps >= 1, "run.steps must be positive"),
            (0.0 <= algo.gamma <= 1.0, f"algorithm.gamma must be in [0, 1], got {algo.gamma}"),
            (0.0 <= algo.lam <= 1.0, f"algorithm.lam must be in [0, 1], got {algo.lam}"),
            (algo.advantage != "gae" or self.critic is not None,
             "algorithm.advantage 'gae' needs a value model: add a 'critic:' section (e.g. 'critic: {lr: 1.0e-5}')"),
            (algo.advantage == "gae" or self.critic is None,
             f"the 'critic:' section is only used by algorithm.advantage 'gae', not {algo.advantage!r}; remove it"),
            *(_critic_checks(self.critic) if self.critic is not None else []),
            *_backend_checks(self.rollout, self.model),
            *_env_worker_checks(self.rollout),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _critic_checks(critic: CriticConfig) -> list[tuple[bool, str]]:
    """Validity conditions of a critic section, as ``(ok, message)`` pairs."""
    clip = critic.value_clip
    return [
        (critic.lr > 0, f"critic.lr must be positive, got {critic.lr}"),
        (critic.weight_decay >= 0, f"critic.weight_decay must be non-negative, got {critic.weight_decay}"),
        (critic.max_grad_norm > 0, f"critic.max_grad_norm must be positive, got {critic.max_grad_norm}"),
        (clip is None or clip > 0, f"critic.value_clip must be positive or null (no clipping), got {clip}"),
    ]


def _backend_checks(rollout: RolloutConfig, model: ModelConfig) -> list[tuple[bool, str]]:
    """Validity conditions of ``rollout.backend`` and its ``rollout.vllm`` section."""
    if rollout.backend != "vllm":
        return [(rollout.backend in BACKENDS, f"rollout.backend must be one of {BACKENDS}, got {rollout.backend!r}")]
    engine = rollout.vllm
    return [
        ("-vl" not in model.name.lower(),
         f"rollout.backend 'vllm' serves text models only, and {model.name!r} looks like a vision-language model; "
         "use rollout.backend 'transformers' for Qwen-VL"),
        (0.0 < engine.gpu_memory_utilization <= 1.0,
         f"rollout.vllm.gpu_memory_utilization must be in (0, 1], got {engine.gpu_memory_utilization}"),
        (engine.tensor_parallel_size >= 1,
         f"rollout.vllm.tensor_parallel_size must be positive, got {engine.tensor_parallel_size}"),
        (engine.sleep_level in (1, 2), f"rollout.vllm.sleep_level must be 1 or 2, got {engine.sleep_level}"),
        (not set(engine.engine_kwargs) & set(VLLM_MANAGED_ARGS),
         f"rollout.vllm.engine_kwargs must not set {sorted(set(engine.engine_kwargs) & set(VLLM_MANAGED_ARGS))}: "
         "the trainer sets them (use the rollout.vllm fields, model.dtype and run.seed)"),
        (engine.max_model_len is None or engine.max_model_len > rollout.max_tokens,
         f"rollout.vllm.max_model_len ({engine.max_model_len}) must exceed rollout.max_tokens ({rollout.max_tokens})"),
    ]


def _env_worker_checks(rollout: RolloutConfig) -> list[tuple[bool, str]]:
    """Validity conditions of ``rollout.env_workers`` and its ``rollout.ray`` section."""
    workers, ray = rollout.env_workers, rollout.ray
    slots = workers * ray.envs_per_worker if workers > 0 and ray.envs_per_worker is not None else rollout.slots
    return [
        (workers >= 0, f"rollout.env_workers must be 0 (in-process environments) or positive, got {workers}"),
        (ray.envs_per_worker is None or ray.envs_per_worker >= 1,
         f"rollout.ray.envs_per_worker must be positive or null, got {ray.envs_per_worker}"),
        (ray.cpus_per_worker >= 0, f"rollout.ray.cpus_per_worker must be non-negative, got {ray.cpus_per_worker}"),
        (slots >= rollout.slots,
         f"rollout.env_workers x rollout.ray.envs_per_worker = {slots} environments, but a step plays "
         f"tasks_per_step x group_size = {rollout.slots} episodes at once; raise either"),
    ]


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, recursing into dataclass-typed fields."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        nested = _NESTED.get((cls, name))
        kwargs[name] = _build(nested, value, f"{where}.{name}") if nested and value is not None else value
    if cls is OptimConfig and "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return cls(**kwargs)


_NESTED: dict[tuple[type, str], type] = {
    (TrainConfig, "model"): ModelConfig,
    (TrainConfig, "env"): EnvConfig,
    (TrainConfig, "rollout"): RolloutConfig,
    (TrainConfig, "reward"): RewardConfig,
    (TrainConfig, "algorithm"): AlgorithmConfig,
    (TrainConfig, "optim"): OptimConfig,
    (TrainConfig, "run"): RunConfig,
    (TrainConfig, "critic"): CriticConfig,
    (RolloutConfig, "vllm"): VLLMConfig,
    (RolloutConfig, "ray"): RayConfig,
    (ModelConfig, "lora"): LoraConfig,
}


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig`; unknown keys raise ``ValueError`` naming the path."""
    return _build(TrainConfig, data, "config")


def parse_assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` strings as a dict; values are read as JSON when they parse (numbers, lists, true)."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config; ``overrides`` maps dotted keys (``run.steps``) to values."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config_from_dict(data)
