"""The trainer's rollout backends (``rollout.backend``, ``rollout.env_workers``): config validation, and a
trainer whose vLLM engine (the fake of ``tests/fake_vllm.py``) receives exactly the trained weights.

The Ray environment workers are tested with the trainer in ``test_distributed.py``, which starts Ray once.
"""

from __future__ import annotations

import copy
import math
import types

import pytest
import torch

from reasongym.agents.vllm_policy import VLLMPolicy
from reasongym.training.config import config_from_dict
from reasongym.training.trainer import Trainer

from test_trainer import params, tiny_config

LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
#: the fake engine's random letters earn every episode the same Echo reward (no advantage): an entropy bonus
#: gives the update a gradient anyway
ENTROPY = {"entropy_coef": 0.1}


def loaded_by_every_worker(policy: VLLMPolicy) -> dict[str, torch.Tensor]:
    """What the fake engine's workers loaded since their records were last cleared (all workers agree)."""
    workers = policy.llm.workers
    loaded = [dict(worker.loaded) for worker in workers]
    assert all(list(other) == list(loaded[0]) for other in loaded)
    return loaded[0]


def forget_loads(policy: VLLMPolicy) -> None:
    policy.llm.events.clear()
    for worker in policy.llm.workers:
        worker.loaded.clear()


def test_vllm_backend_samples_with_the_trainer_tokenizer_and_receives_the_trained_weights(
        tmp_path, fake_vllm: types.ModuleType) -> None:
    config = config_from_dict(tiny_config(tmp_path, algorithm=ENTROPY,
                                          run={"steps": 1, "eval_every": 1, "eval_tasks": 2},
                                          rollout={"backend": "vllm", "vllm": {"gpu_memory_utilization": 0.3,
                                                                               "enable_sleep_mode": True}}))
    trainer = Trainer(config, resume=False)
    policy = trainer.policy
    assert isinstance(policy, VLLMPolicy) and policy.tokenizer is trainer.parts.processor
    engine_args = policy.llm.kwargs
    assert engine_args["model"] == str(tmp_path / "engine_model")  # the tiny model, saved for the engine
    assert (engine_args["dtype"], engine_args["seed"], engine_args["gpu_memory_utilization"]) == ("float32", 0, 0.3)
    assert engine_args["enable_sleep_mode"] is True and engine_args["tensor_parallel_size"] == 1
    assert list(loaded_by_every_worker(policy)) == list(params(trainer.model))  # it starts from the trainer's weights
    forget_loads(policy)
    before = params(trainer.model)
    metrics = trainer.step(1)
    after = params(trainer.model)
    assert math.isfinite(metrics["loss/policy"]) and any(not torch.equal(before[n], after[n]) for n in after)
    sent = loaded_by_every_worker(policy)
    assert list(sent) == list(after) and all(torch.equal(sent[n], after[n]) for n in after)
    events = [event[0] for event in policy.llm.events]
    first_sleep = events.index("sleep")
    assert set(events[:first_sleep]) == {"generate"}  # the engine slept from the end of the collection ...
    assert policy.llm.events[first_sleep:] == [  # ... to the sync, which woke it weights first
        ("sleep", 1), ("wake_up", ["weights"]), ("rpc", "reasongym_load_weights", len(after)),
        ("wake_up", ["kv_cache"]), ("reset_prefix_cache",)]
    assert set(trainer.evaluate(1)) == {"eval/pass@1", "eval/reward_mean"}  # evaluation generates on the engine
    assert policy.llm.events[-1][0] == "generate" and policy.llm.events[-1][2][0].temperature == 0.0


def test_vllm_backend_receives_merged_lora_weights_and_the_adapters_stay(tmp_path,
                                                                         fake_vllm: types.ModuleType) -> None:
    config = config_from_dict(tiny_config(tmp_path, model={"lora": LORA}, run={"steps": 1}, algorithm=ENTROPY,
                                          rollout={"backend": "vllm"}))
    trainer = Trainer(config, resume=False)
    forget_loads(trainer.policy)
    trainer.step(1)
    trained = params(trainer.model)
    assert any("lora_B" in n and trained[n].abs().sum() > 0 for n in trained)  # the adapters learnt something
    merged = dict(copy.deepcopy(trainer.parts.saveable).merge_and_unload().named_parameters())
    sent = loaded_by_every_worker(trainer.policy)
    assert list(sent) == list(merged) and all(torch.equal(sent[n], merged[n]) for n in merged)
    assert not any(torch.equal(sent[n], trained[n.replace("q_proj.", "q_proj.base_layer.")])
                   for n in sent if "q_proj.weight" in n)  # the deltas are in
    trainer.engine.sync(trainer.model)
    assert all(torch.equal(p, trained[n]) for n, p in params(trainer.model).items())  # merging left them alone


@pytest.mark.parametrize("rollout, model, message", [
    ({"backend": "sglang"}, {}, r"rollout.backend must be one of \('transformers', 'vllm'\), got 'sglang'"),
    ({"backend": "vllm"}, {"name": "tiny-qwen2-vl"}, "serves text models only.*rollout.backend 'transformers'"),
    ({"backend": "vllm"}, {"name": "Qwen/Qwen2.5-VL-3B-Instruct"}, "looks like a vision-language model"),
    ({"backend": "vllm", "vllm": {"gpu_memory_utilization": 1.5}}, {}, r"gpu_memory_utilization must be in \(0, 1\]"),
    ({"backend": "vllm", "vllm": {"sleep_level": 3}}, {}, "sleep_level must be 1 or 2"),
    ({"backend": "vllm", "vllm": {"tensor_parallel_size": 0}}, {}, "tensor_parallel_size must be positive"),
    ({"backend": "vllm", "vllm": {"engine_kwargs": {"dtype": "half", "enforce_eager": True}}}, {},
     r"engine_kwargs must not set \['dtype'\]"),
    ({"backend": "vllm", "vllm": {"max_model_len": 6}}, {},
     r"max_model_len \(6\) must exceed rollout.max_tokens \(6\)"),
    ({"vllm": {"gpu_memory": 0.4}}, {}, r"config.rollout.vllm: unknown keys \['gpu_memory'\]"),
    ({"env_workers": -1}, {}, "rollout.env_workers must be 0 .* or positive, got -1"),
    ({"env_workers": 2, "ray": {"envs_per_worker": 3}}, {},
     r"env_workers x rollout.ray.envs_per_worker = 6 environments, but a step plays tasks_per_step x "
     r"group_size = 8 episodes at once"),
    ({"env_workers": 2, "ray": {"envs_per_worker": 0}}, {}, "envs_per_worker must be positive or null"),
    ({"env_workers": 2, "ray": {"cpus_per_worker": -1}}, {}, "cpus_per_worker must be non-negative"),
    ({"ray": {"adress": "auto"}}, {}, r"config.rollout.ray: unknown keys \['adress'\]"),
])
def test_backend_config_errors_are_clear(tmp_path, rollout: dict, model: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_dict(tiny_config(tmp_path, rollout=rollout, model=model))


def test_backend_configs_that_are_accepted(tmp_path) -> None:
    config = config_from_dict(tiny_config(tmp_path, rollout={"env_workers": 3}))  # 3 x ceil(8 / 3) slots
    assert config.rollout.ray.envs_per_worker is None and config.rollout.slots == 8
    engine_kwargs = {"enforce_eager": True}
    config = config_from_dict(tiny_config(tmp_path, model={"lora": LORA},
                                          rollout={"backend": "vllm", "vllm": {"engine_kwargs": engine_kwargs}}))
    assert config.to_dict()["rollout"]["vllm"]["engine_kwargs"] == engine_kwargs
