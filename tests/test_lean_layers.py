"""Lean RMSNorm / SwiGLU layers: the same values and gradients as the modules they replace, fewer saved
activations, and applied by the trainer only where they help."""

from __future__ import annotations

import copy
import gc
import importlib
import weakref
from types import SimpleNamespace

import pytest
import torch

from reasongym.agents.tiny import tiny_qwen2, tiny_qwen2_vl
from reasongym.training import lean_layers
from reasongym.training.config import ModelConfig
from reasongym.training.lean_layers import (RMSNORM_CLASSES, SWIGLU_MLP_CLASSES, RMSNormFunction, SwiGLUFunction,
                                            apply_lean_layers)
from reasongym.training.models import build_policy_model

#: where transformers defines each supported class
HOMES = {"Llama": "llama", "Mistral": "mistral", "Qwen2": "qwen2", "Qwen2VL": "qwen2_vl", "Qwen2_5_VL": "qwen2_5_vl",
         "Qwen3": "qwen3"}


def _transformers_class(name: str) -> type:
    prefix = max((p for p in HOMES if name.startswith(p)), key=len)
    module = importlib.import_module(f"transformers.models.{HOMES[prefix]}.modeling_{HOMES[prefix]}")
    return getattr(module, name)


def _same_forward_and_backward(original: torch.nn.Module, x: torch.Tensor, *, atol: float) -> None:
    lean = copy.deepcopy(original)
    assert apply_lean_layers(lean) == 1
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out1, out2 = original(x1), lean(x2)
    assert torch.equal(out1, out2)  # the same operations in the same order
    upstream = torch.randn(out1.shape, generator=torch.Generator().manual_seed(1), dtype=out1.dtype)
    (out1 * upstream).sum().backward()
    (out2 * upstream).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=atol, rtol=atol)
    for (name, p1), p2 in zip(original.named_parameters(), lean.parameters()):
        torch.testing.assert_close(p2.grad, p1.grad, atol=atol, rtol=atol, msg=name)


@pytest.mark.parametrize("name", sorted(RMSNORM_CLASSES))
def test_every_listed_rmsnorm_matches_its_module(name):
    torch.manual_seed(0)
    norm = _transformers_class(name)(16, eps=1e-6)  # float32: the modules normalise in float32 anyway
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    _same_forward_and_backward(norm, torch.randn(3, 5, 16), atol=1e-6)


@pytest.mark.parametrize("name", sorted(SWIGLU_MLP_CLASSES))
def test_every_listed_mlp_matches_its_module(name):
    torch.manual_seed(0)
    config = SimpleNamespace(hidden_size=16, intermediate_size=40, hidden_act="silu", mlp_bias=False)
    mlp = _transformers_class(name)(config).double()
    _same_forward_and_backward(mlp, torch.randn(2, 7, 16, dtype=torch.float64), atol=1e-12)


def test_lean_mlp_keeps_only_its_input_gate_and_up(monkeypatch):
    config = SimpleNamespace(hidden_size=16, intermediate_size=40, hidden_act="silu", mlp_bias=False)
    mlp = _transformers_class("LlamaMLP")(config)
    lean = copy.deepcopy(mlp)
    apply_lean_layers(lean)
    x = torch.randn(2, 7, 16)
    tokens, floats = 2 * 7, 4
    assert _saved_bytes_of(mlp, x) == tokens * floats * (16 + 4 * 40)  # x; gate, up, silu(gate), the product
    # down_proj's saved input goes through the lean MLP's own hook (an outer hook cannot see it): it must
    # be stored as a recipe, and the recipe used by the backward
    recomputed = []
    tensor = lean_layers._Recompute.tensor
    monkeypatch.setattr(lean_layers._Recompute, "tensor", lambda self: recomputed.append(1) or tensor(self))
    assert _saved_bytes_of(lean, x) == tokens * floats * (16 + 2 * 40)  # x; gate, up
    assert recomputed
    # and nothing else keeps the product alive until the backward
    products = []
    apply = lean_layers.SwiGLUFunction.apply
    monkeypatch.setattr(lean_layers.SwiGLUFunction, "apply",
                        lambda g, u: products.append(weakref.ref(result := apply(g, u))) or result)
    out = lean(x.clone().requires_grad_(True))
    gc.collect()
    assert products and products[0]() is None
    out.sum().backward()


def _saved_bytes_of(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter storages autograd keeps for the backward of ``module(x)``."""
    return _saved_bytes(module, lambda: module(x.clone().requires_grad_(True)))


def test_autograd_functions_pass_gradcheck():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.rand(6, dtype=torch.float64, generator=g).add(0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: RMSNormFunction.apply(a, b, 1e-6), (x, w))
    gate = torch.randn(4, 6, dtype=torch.float64, generator=g, requires_grad=True)
    up = torch.randn(4, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(SwiGLUFunction.apply, (gate, up))


def test_bf16_norm_keeps_the_module_numerics():
    norm = _transformers_class("LlamaRMSNorm")(32, eps=1e-6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    norm = norm.bfloat16()
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(0)).bfloat16()
    _same_forward_and_backward(norm, x, atol=2e-2)


def _saved_bytes(model: torch.nn.Module, forward) -> int:
    """Bytes of the distinct non-parameter storages autograd keeps for the backward of ``forward()``, as far
    as a hook around the call sees them (not what saved-tensor hooks inside the model store)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor):
        ptr = tensor.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    out.float().sum().backward()
    return sum(seen.values())


def test_whole_model_same_gradients_and_fewer_saved_activations():
    model, _ = tiny_qwen2(seed=0)
    lean = copy.deepcopy(model)
    assert apply_lean_layers(lean) == 2 * 2 + 1 + 2  # two norms per layer, the final norm, one MLP per layer
    ids = torch.randint(5, 200, (2, 24), generator=torch.Generator().manual_seed(0))
    assert torch.equal(lean(input_ids=ids).logits, model(input_ids=ids).logits)
    plain_bytes = _saved_bytes(model, lambda: model(input_ids=ids).logits)
    lean_bytes = _saved_bytes(lean, lambda: lean(input_ids=ids).logits)
    for (name, p1), p2 in zip(model.named_parameters(), lean.parameters()):  # float32 rounding apart
        assert (p2.grad - p1.grad).abs().max() <= 1e-6 * p1.grad.abs().max(), name
    # per token and layer the plain layer keeps 2 norm outputs of width 64 and 4 MLP tensors of width 128
    # that the lean one does not: 2 * 64 + 2 * 128 of (roughly) 2 * 64 * 4 + 4 * 64 + 4 * 128 floats
    assert lean_bytes < 0.75 * plain_bytes, (lean_bytes, plain_bytes)


def test_lora_adapters_still_train_through_the_lean_mlp():
    peft = pytest.importorskip("peft")
    model, _ = tiny_qwen2(seed=0)
    lean = copy.deepcopy(model)
    apply_lean_layers(lean)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["gate_proj", "up_proj", "down_proj"],
                             init_lora_weights=False)
    plain_peft, lean_peft = peft.get_peft_model(model, config), peft.get_peft_model(lean, copy.deepcopy(config))
    lean_peft.load_state_dict(plain_peft.state_dict())
    ids = torch.randint(5, 200, (2, 16), generator=torch.Generator().manual_seed(0))
    for m in (plain_peft, lean_peft):
        m(input_ids=ids).logits.float().pow(2).mean().backward()
    pairs = [(n, p, q) for (n, p), q in zip(plain_peft.named_parameters(), lean_peft.parameters()) if p.requires_grad]
    assert pairs and all("lora_" in n for n, _, _ in pairs)
    for name, p, q in pairs:
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-4, msg=name)


def test_vision_language_model_norms_and_mlps_are_covered():
    model, _ = tiny_qwen2_vl(seed=0)
    changed = apply_lean_layers(model)
    kinds = {type(m).__name__ for m in model.modules() if "forward" in vars(m)}
    assert changed > 0 and {"Qwen2MLP", "Qwen2_5_VLMLP"} <= kinds and kinds & RMSNORM_CLASSES


def test_unknown_modules_are_left_alone():
    class GemmaLikeNorm(torch.nn.Module):  # computes x * (1 + weight): not in the list
        def __init__(self):
            super().__init__()
            self.weight, self.variance_epsilon = torch.nn.Parameter(torch.zeros(4)), 1e-6

    model = torch.nn.Sequential(GemmaLikeNorm(), torch.nn.Linear(4, 4))
    assert apply_lean_layers(model) == 0 and not any("forward" in vars(m) for m in model.modules())


@pytest.mark.parametrize("checkpointing, lean, expected", [(False, True, True), (True, True, False),
                                                           (False, False, False)])
def test_trainer_applies_lean_layers_unless_checkpointing_or_switched_off(checkpointing, lean, expected):
    parts = build_policy_model(ModelConfig(name="tiny-qwen2", gradient_checkpointing=checkpointing,
                                           lean_layers=lean), seed=0, need_reference=False)
    assert any("forward" in vars(m) for m in parts.model.modules()) is expected
