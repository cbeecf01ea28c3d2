"""Policy specs for the command line: a short string names a policy and its backend.

=========================== ===========================================================
spec                        policy
=========================== ===========================================================
``oracle``                  :class:`~reasongym.agents.oracle.OraclePolicy` (ground truth)
``random`` / ``random:SEED`` :class:`~reasongym.agents.scripted.RandomPolicy`
``smollm2``                 the embedded default model (SmolLM2-135M-Instruct) on CPU/GPU
``hf:NAME_OR_PATH``         a transformers model from the hub or a local folder
``vllm:NAME_OR_PATH``       the same model served by a vLLM engine (CUDA GPU, ``pip install vllm``)
``openai:MODEL@BASE_URL``   any OpenAI-compatible server (vLLM, SGLang, llama.cpp)
=========================== ===========================================================
"""

from __future__ import annotations

from reasongym.agents.base import Policy
from reasongym.agents.loop import PolicyFor


def build_policy(spec: str, *, device: str | None = None) -> Policy | PolicyFor:
    """Build the policy a spec names; raise ``ValueError`` with the accepted forms otherwise."""
    kind, _, rest = spec.partition(":")
    if spec == "oracle":
        from reasongym.agents.oracle import OraclePolicy

        return OraclePolicy
    if kind == "random":
        from reasongym.agents.scripted import RandomPolicy

        return RandomPolicy(seed=int(rest) if rest else 0)
    if spec == "smollm2" or kind == "hf":
        from reasongym.agents.models import resolve_model
        from reasongym.agents.transformers_policy import TransformersPolicy

        return TransformersPolicy.from_pretrained(resolve_model(rest or spec), device=device)
    if kind == "vllm" and rest:
        from reasongym.agents.vllm_policy import VLLMPolicy

        return VLLMPolicy.from_pretrained(rest)
    if kind == "openai" and "@" in rest:
        from reasongym.agents.openai_policy import OpenAIPolicy

        model, _, base_url = rest.partition("@")
        return OpenAIPolicy(base_url=base_url, model=model)
    raise ValueError(f"unknown policy spec {spec!r}; use oracle, random[:SEED], smollm2, hf:NAME_OR_PATH, "
                     "vllm:NAME_OR_PATH or openai:MODEL@BASE_URL")
