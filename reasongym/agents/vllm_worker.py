"""Code that runs inside vLLM's worker processes: loading a trainer's weights into the engine's model.

vLLM (V1 engine) runs the model in worker processes, apart from the ``vllm.LLM`` object the policy holds.
vLLM mixes the class named by ``LLM(worker_extension_cls="reasongym.agents.vllm_worker.WeightSyncExtension")``
into every worker, and ``LLM.collective_rpc(name, args=...)`` calls one of its methods on each of them
(every tensor-parallel rank). This module is imported by those workers, never by reasongym itself, so it
must stay importable without side effects.
"""

from __future__ import annotations

from typing import Any, Sequence


class WeightSyncExtension:
    """Methods vLLM adds to its GPU worker class; ``self`` is the worker (``self.model_runner.model`` is the model)."""

    def reasongym_load_weights(self, weights: Sequence[tuple[str, Any]]) -> int:
        """Load ``(name, tensor)`` pairs with Hugging Face parameter names into the worker's model.

        vLLM's ``model.load_weights`` maps checkpoint names onto its fused layers (qkv, gate-up) and keeps
        this rank's shard under tensor parallelism, so every rank receives the full tensors. Returns how
        many tensors were given, so the caller can check that every rank saw the whole chunk.
        """
        self.model_runner.model.load_weights(weights=list(weights))  # type: ignore[attr-defined]
        return len(weights)
