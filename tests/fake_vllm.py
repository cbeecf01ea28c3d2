"""A fake ``vllm`` module for tests on machines without vLLM (its official wheels need CUDA).

:func:`install` puts it into ``sys.modules``; ``conftest.py`` offers that as the ``fake_vllm`` fixture. The fake
records what a :class:`~reasongym.agents.vllm_policy.VLLMPolicy` asks of vLLM and answers with
``RequestOutput``-shaped objects: it checks *our side* of the API only, not that a real engine behaves alike.
"""

from __future__ import annotations

import random
import sys
import types
from typing import Any

import pytest
import torch

from reasongym.agents.tiny import tiny_tokenizer
from reasongym.agents.vllm_worker import WeightSyncExtension

DECOY = 7  # a token id every position's log-prob mapping also holds, to check the sampled one is read


class FakeLogprob:
    def __init__(self, logprob: float):
        self.logprob = logprob


class FakeSamplingParams:
    """Records its keyword arguments, as ``vllm.SamplingParams`` would hold them."""

    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self.__dict__.update(kwargs)


class FakeWorker(WeightSyncExtension):
    """A vLLM worker with the extension mixed in; its model records what it loads."""

    def __init__(self) -> None:
        self.loaded: list[tuple[str, torch.Tensor]] = []
        self.model_runner = types.SimpleNamespace(model=types.SimpleNamespace(load_weights=self._load))

    def _load(self, weights: list[tuple[str, torch.Tensor]]) -> None:
        self.loaded.extend(weights)


class FakeLLM:
    """Answers ``generate`` with seeded pseudo-random ASCII ids, ending on a stop id unless ``max_tokens`` is hit.

    Two tensor-parallel workers receive ``collective_rpc`` calls; every call is appended to ``events``.
    """

    instances: list["FakeLLM"] = []

    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs
        self.tokenizer = tiny_tokenizer()
        self.workers = [FakeWorker(), FakeWorker()]
        self.events: list[tuple[Any, ...]] = []
        FakeLLM.instances.append(self)

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def generate(self, prompts: list[dict], sampling_params: list[FakeSamplingParams], *,
                 use_tqdm: bool = True) -> list[Any]:
        self.events.append(("generate", [p["prompt_token_ids"] for p in prompts], sampling_params))
        return [self._answer(p["prompt_token_ids"], params) for p, params in zip(prompts, sampling_params)]

    def _answer(self, prompt_ids: list[int], params: FakeSamplingParams) -> Any:
        rng = random.Random(hash((params.seed, tuple(prompt_ids))))
        length = rng.randint(1, params.max_tokens)
        ids = [rng.randint(ord("a"), ord("z")) for _ in range(length)]
        finish = "length"
        if length < params.max_tokens:
            ids.append(params.stop_token_ids[0])
            finish = "stop"
        logprobs = [{token: FakeLogprob(-rng.random() - 0.01), DECOY: FakeLogprob(-9.0)} for token in ids]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        sample = types.SimpleNamespace(text=text, token_ids=tuple(ids), logprobs=logprobs, finish_reason=finish)
        return types.SimpleNamespace(prompt_token_ids=prompt_ids, outputs=[sample])

    def collective_rpc(self, method: str, args: tuple = (), kwargs: dict | None = None) -> list[Any]:
        self.events.append(("rpc", method, len(args[0])))
        return [getattr(worker, method)(*args, **(kwargs or {})) for worker in self.workers]

    def sleep(self, level: int = 1) -> None:
        self.events.append(("sleep", level))

    def wake_up(self, tags: list[str] | None = None) -> None:
        self.events.append(("wake_up", tags))

    def reset_prefix_cache(self) -> None:
        self.events.append(("reset_prefix_cache",))


def install(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Put a fake ``vllm`` module (``LLM``, ``SamplingParams``) into ``sys.modules`` until ``monkeypatch`` undoes
    it (a real vLLM comes back then), and forget earlier engines."""
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.instances.clear()
    return module
