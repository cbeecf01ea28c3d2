"""Decoder layers that keep fewer activations for the backward pass, with the same outputs and gradients.

A Llama-style decoder layer (Llama, SmolLM, Qwen2, Qwen2-VL / Qwen2.5-VL) keeps, per token, about twelve
thousand floats of activations for its backward pass. Four of them are cheap to recompute and need not be
kept at all:

- RMSNorm's normalised input ``x * rstd`` (once per norm, two norms per layer): the backward needs only
  ``x`` (kept anyway) and the per-row ``rstd``;
- the SwiGLU MLP's ``silu(gate)`` and its product ``silu(gate) * up``, which ``down_proj`` keeps as its
  input: both follow from ``gate`` and ``up`` in two element-wise operations.

:func:`apply_lean_layers` swaps the ``forward`` of those modules, in place, for versions built on the two
autograd functions below. For SmolLM2-135M that is a third of the activation memory of a training
forward, for the price of recomputing two element-wise products in the backward. The matmuls stay in the
modules' own projections, so LoRA (peft) layers keep working. Forward values are computed by the same
operations in the same order as the modules' own code; gradients agree to rounding.

Gradient checkpointing recomputes whole layers anyway: with it on, the trainer leaves the layers as they are.
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: RMSNorm classes computing ``weight * (x / sqrt(mean(x^2) + eps))`` with the normalisation in float32
#: (not Gemma's ``1 + weight``)
RMSNORM_CLASSES = frozenset({"LlamaRMSNorm", "MistralRMSNorm", "Qwen2RMSNorm", "Qwen2VLRMSNorm",
                             "Qwen2_5_VLRMSNorm", "Qwen3RMSNorm"})
#: MLP classes computing ``down_proj(act_fn(gate_proj(x)) * up_proj(x))`` (changed only when ``act_fn`` is
#: SiLU); Qwen2-VL and Qwen2.5-VL decoders use ``Qwen2MLP``, ``Qwen2_5_VLMLP`` is Qwen2.5-VL's vision MLP
SWIGLU_MLP_CLASSES = frozenset({"LlamaMLP", "MistralMLP", "Qwen2MLP", "Qwen2_5_VLMLP", "Qwen3MLP"})


class RMSNormFunction(torch.autograd.Function):
    """``weight * (x * rsqrt(mean(x^2) + eps))``, keeping ``x`` and the per-row ``rstd`` only.

    As in the Hugging Face modules, the normalisation runs in float32 and is cast back to ``x``'s dtype
    before the weight multiplies it (float64 inputs stay in float64, where the modules would round).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        rstd = torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + eps)
        ctx.save_for_backward(x, weight, rstd)
        return weight * (wide * rstd).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, weight, rstd = ctx.saved_tensors
        normed = x.to(rstd.dtype) * rstd
        grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = (grad * normed.to(x.dtype)).reshape(-1, grad.shape[-1]).sum(0).to(weight.dtype)
        grad_x = None
        if ctx.needs_input_grad[0]:
            # d/dx of n = x * rstd for a row: rstd * (g - n * mean(g * n)), with g the gradient w.r.t. n
            grad_normed = (grad * weight).to(rstd.dtype)
            grad_x = (rstd * (grad_normed - normed * (grad_normed * normed).mean(-1, keepdim=True))).to(x.dtype)
        return grad_x, grad_weight, None


class SwiGLUFunction(torch.autograd.Function):
    """``silu(gate) * up``, keeping ``gate`` and ``up`` only (``silu(gate)`` is recomputed in the backward)."""

    @staticmethod
    def forward(ctx: Any, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(gate, up)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gate, up = ctx.saved_tensors
        sigmoid = torch.sigmoid(gate)
        silu = gate * sigmoid
        # d silu(g) / dg = sigmoid(g) * (1 + g * (1 - sigmoid(g)))
        return grad * up * (sigmoid * (1 + gate * (1 - sigmoid))), grad * silu


class _Recompute:
    """What autograd keeps in place of ``silu(gate) * up`` (or of a view of it, such as the 2-D view a linear
    layer saves): the two tensors it is computed from, and the view's geometry."""

    __slots__ = ("gate", "up", "size", "stride", "offset")

    def __init__(self, gate: torch.Tensor, up: torch.Tensor, view: torch.Tensor):
        self.gate, self.up = gate, up
        self.size, self.stride, self.offset = view.size(), view.stride(), view.storage_offset()

    def tensor(self) -> torch.Tensor:
        return (F.silu(self.gate) * self.up).as_strided(self.size, self.stride, self.offset)


def lean_rmsnorm_forward(self: nn.Module, hidden_states: torch.Tensor) -> torch.Tensor:
    """Replacement ``forward`` of an RMSNorm module (see :data:`RMSNORM_CLASSES`)."""
    return RMSNormFunction.apply(hidden_states, self.weight, self.variance_epsilon)


def lean_mlp_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Replacement ``forward`` of a SwiGLU MLP module (see :data:`SWIGLU_MLP_CLASSES`).

    ``down_proj`` (and a LoRA adapter on it) saves its input, or a view of it, for the weight gradient; a
    saved-tensor hook stores the ``gate``/``up`` pair in its place, which :class:`SwiGLUFunction` keeps
    anyway, and the product is recomputed when the backward needs it.
    """
    gate, up = self.gate_proj(x), self.up_proj(x)
    product = SwiGLUFunction.apply(gate, up)
    if not torch.is_grad_enabled():
        return self.down_proj(product)

    # the hooks must not refer to ``product`` itself: autograd keeps them, and with them the product
    storage, dtype = product.untyped_storage().data_ptr(), product.dtype

    def pack(tensor: torch.Tensor) -> torch.Tensor | _Recompute:
        if tensor.dtype == dtype and tensor.untyped_storage().data_ptr() == storage:
            return _Recompute(gate, up, tensor)
        return tensor

    def unpack(saved: torch.Tensor | _Recompute) -> torch.Tensor:
        return saved.tensor() if isinstance(saved, _Recompute) else saved

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        return self.down_proj(product)


def _is_silu(module: Any) -> bool:
    return isinstance(module, nn.SiLU) or type(module).__name__ == "SiLUActivation"


def apply_lean_layers(model: nn.Module) -> int:
    """Give every supported RMSNorm and SwiGLU MLP module of ``model`` its lean ``forward``; returns how
    many modules were changed (0 for architectures this module does not know, which stay as they are)."""
    changed = 0
    for module in model.modules():
        name = type(module).__name__
        if name in RMSNORM_CLASSES and hasattr(module, "variance_epsilon"):
            module.forward = types.MethodType(lean_rmsnorm_forward, module)
            changed += 1
        elif name in SWIGLU_MLP_CLASSES and _is_silu(getattr(module, "act_fn", None)):
            module.forward = types.MethodType(lean_mlp_forward, module)
            changed += 1
    return changed
