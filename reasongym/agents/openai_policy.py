"""A :class:`~reasongym.agents.base.Policy` that calls an OpenAI-compatible ``/v1/chat/completions`` server.

Works with vLLM (``vllm serve``), SGLang, llama.cpp's ``llama-server`` and the OpenAI API. One request
is sent per conversation, at most ``max_concurrency`` at a time, each with its own timeout; connection
errors, time-outs, HTTP 429 and 5xx answers are retried with exponential backoff (``backoff * 2**k``
seconds, or the server's ``Retry-After`` if longer, capped at 30 s). Other HTTP errors fail at once with
the status and the start of the body.

Every request asks for ``logprobs: true``; the completion's ``logprobs`` are the per-token values the
server returns (``None`` if it returns none). Token ids are only known if the server sends them: vLLM does
with ``extra_body={"return_token_ids": True}`` (ids in ``choices[i].token_ids`` and the prompt's in
``prompt_token_ids``) or ``extra_body={"return_tokens_as_token_ids": True}`` (logprob tokens spelled
``"token_id:123"``); both forms are read. Otherwise ``token_ids`` is empty.

Sampling maps to request fields: ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``top_k`` (an
extension that vLLM, SGLang and llama.cpp accept; only sent when set) and ``seed`` (derived per
conversation from ``SamplingParams.seed``, see :mod:`reasongym.agents.seeding`; not sent without one).
Images are sent as base64 PNG ``data:`` URLs in ``image_url`` parts (``http(s)``/``data:`` strings are
passed through). Video parts are refused unless ``video_as_frames=True``, which sends the frames as
consecutive images; messages made only of text are sent with string content, which every server accepts.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import httpx
import numpy as np
from PIL import Image

from reasongym.agents.base import Completion, SamplingParams
from reasongym.agents.seeding import base_seed, row_seed
from reasongym.envs.spaces import Message, message_text

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_DELAY = 30.0


class OpenAIPolicyError(RuntimeError):
    """A chat-completion request failed for good (unreachable, timed out, bad status or bad body)."""


class OpenAIPolicy:
    """Chat completions from an OpenAI-compatible HTTP server.

    Args:
        base_url: the server root (``http://host:8000``) or its API root (``http://host:8000/v1``).
        model: the model name the server expects.
        api_key: sent as a bearer token; defaults to ``$OPENAI_API_KEY`` and is omitted if neither is set.
        max_concurrency: requests in flight at once (per event loop).
        timeout: seconds allowed for each request (connect, write and read).
        max_retries: extra attempts after a retryable failure.
        backoff: first retry delay in seconds; it doubles with every attempt.
        extra_body: more JSON fields merged into every request (server-specific options).
        video_as_frames: send video parts as a sequence of images instead of refusing them.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_concurrency: int = 8,
                 timeout: float = 60.0, max_retries: int = 3, backoff: float = 0.5,
                 extra_body: Mapping[str, Any] | None = None, video_as_frames: bool = False):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        root = base_url.rstrip("/")
        self.url = f"{root}/chat/completions" if root.endswith("/v1") else f"{root}/v1/chat/completions"
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.extra_body = dict(extra_body or {})
        self.video_as_frames = video_as_frames
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def generate(self, conversations: Sequence[list[Message]], sampling: SamplingParams) -> list[Completion]:
        """Blocking wrapper around :meth:`agenerate`; safe to call from inside a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(conversations, sampling))
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.agenerate(conversations, sampling)).result()

    async def agenerate(self, conversations: Sequence[list[Message]],
                        sampling: SamplingParams) -> list[Completion]:
        """Send one request per conversation concurrently and return the completions in input order."""
        payloads = [self._payload(conversation, sampling, i) for i, conversation in enumerate(conversations)]
        semaphore = self._semaphore()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=self.max_concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers, limits=limits) as client:

            async def run(payload: dict[str, Any]) -> Completion:
                async with semaphore:
                    return _parse_completion(await self._post(client, payload), self.url)

            return list(await asyncio.gather(*(run(payload) for payload in payloads)))

    def _semaphore(self) -> asyncio.Semaphore:
        """The concurrency bound of the running event loop (asyncio primitives belong to one loop)."""
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return self._semaphores[loop]

    def _payload(self, conversation: Sequence[Message], sampling: SamplingParams, index: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [self._message(m) for m in conversation],
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "logprobs": True,
        }
        if sampling.stop:
            payload["stop"] = list(sampling.stop)
        if sampling.top_k > 0:
            payload["top_k"] = sampling.top_k
        if sampling.seed is not None:
            payload["seed"] = row_seed(base_seed(sampling.seed), index)
        return {**payload, **self.extra_body}

    def _message(self, message: Message) -> dict[str, Any]:
        """A reasongym message in OpenAI's format (string content when it holds only text)."""
        content = message["content"]
        if not isinstance(content, list) or all(p.get("type") == "text" for p in content):
            text = content if isinstance(content, str) else message_text(message)
            return {**message, "content": text}
        parts: list[dict[str, Any]] = []
        for part in content:
            kind = part.get("type")
            if kind == "text":
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image":
                parts.append(_image_part(part["image"]))
            elif kind == "video" and self.video_as_frames:
                parts.extend(_image_part(frame) for frame in part["video"])
            else:
                raise ValueError(
                    f"OpenAIPolicy cannot send a {kind!r} part; video needs video_as_frames=True "
                    "(frames are then sent as separate images)"
                )
        return {**message, "content": parts}

    async def _post(self, client: httpx.AsyncClient, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with retries; return the decoded JSON body of a 200 answer."""
        failure = ""
        for attempt in range(self.max_retries + 1):
            retry_after = 0.0
            try:
                response = await client.post(self.url, json=payload)
            except httpx.TimeoutException as error:
                failure = f"timed out after {self.timeout} s ({type(error).__name__})"
            except httpx.TransportError as error:
                failure = f"server unreachable ({type(error).__name__}: {error})"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise OpenAIPolicyError(
                            f"{self.url} answered 200 with a body that is not JSON: {response.text[:500]!r}"
                        ) from error
                failure = f"HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code not in RETRYABLE_STATUS:
                    raise OpenAIPolicyError(f"{self.url} rejected the request with {failure}")
                retry_after = _retry_after_seconds(response)
            if attempt < self.max_retries:
                await asyncio.sleep(min(_MAX_DELAY, max(self.backoff * 2**attempt, retry_after)))
        raise OpenAIPolicyError(f"request to {self.url} failed after {self.max_retries + 1} attempt(s): {failure}")


def _parse_completion(data: Any, url: str) -> Completion:
    """Build a completion from a chat-completion response body (first choice)."""
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError) as error:
        raise OpenAIPolicyError(f"{url} returned no choices: {str(data)[:500]}") from error
    entries = (choice.get("logprobs") or {}).get("content")
    logprobs = [float(entry["logprob"]) for entry in entries] if entries is not None else None
    token_ids = choice.get("token_ids") or _ids_from_token_strings(entries or [])
    prompt_ids = data.get("prompt_token_ids") or choice.get("prompt_token_ids") or []
    return Completion(
        text=(choice.get("message") or {}).get("content") or "",
        token_ids=[int(i) for i in token_ids],
        logprobs=logprobs,
        prompt_token_ids=[int(i) for i in prompt_ids],
        finish_reason=choice.get("finish_reason") or "stop",
        extra={"usage": data["usage"]} if data.get("usage") else {},
    )


def _ids_from_token_strings(entries: Sequence[Mapping[str, Any]]) -> list[int]:
    """Ids from vLLM's ``return_tokens_as_token_ids`` spelling (``"token_id:42"``); empty otherwise."""
    prefix = "token_id:"
    tokens = [str(entry.get("token", "")) for entry in entries]
    if not tokens or not all(t.startswith(prefix) and t[len(prefix):].isdigit() for t in tokens):
        return []
    return [int(t[len(prefix):]) for t in tokens]


def _retry_after_seconds(response: httpx.Response) -> float:
    """The ``Retry-After`` header in seconds when it is a number, else 0."""
    try:
        return max(0.0, float(response.headers.get("retry-after", 0)))
    except ValueError:
        return 0.0


def _image_part(image: Any) -> dict[str, Any]:
    """An ``image_url`` part: URLs pass through, anything else becomes a base64 PNG data URL."""
    if isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
        return {"type": "image_url", "image_url": {"url": image}}
    if isinstance(image, (str, Path)):
        with Image.open(str(image).removeprefix("file://")) as opened:
            image = opened.convert("RGB")
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}
