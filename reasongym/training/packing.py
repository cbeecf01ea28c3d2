"""Pack a right-padded training batch into a few rows that share each prompt once and carry no padding.

A GRPO batch holds ``G`` completions of the same prompt, right-padded to the longest sequence. The
padded forward computes the prompt ``G`` times and every padding slot too: with 8 completions of a
53-token prompt averaging 73 tokens out of a 128-token budget, 1,448 positions are computed for 637
distinct ones. Packing lays each prompt once, followed by the continuations of every row that starts
with it, and gives the model an explicit mask and position ids so each continuation sees exactly what it
would have seen alone:

* a prompt token attends causally to its own prompt;
* a continuation token attends to its row's prompt and causally to its own continuation, never to
  another row's;
* position ids continue from the prompt (``prompt_length + j``), as in the row's own forward.

The hidden state of a row's token is then the same function of the same inputs as in the padded
forward (up to floating-point summation order). Rows are grouped by identical prompt ids, where a
row's prompt is everything before its first loss-mask token (for multi-turn rows, the first
observation). A pack is closed when the next row would push it past ``max_tokens`` positions, which
bounds the cost of the dense ``[N, N]`` attention mask: its attention costs ``N^2`` where the padded
batch costs ``B * L^2``, which pays off while ``N`` stays around a thousand positions. Packs are run one
after the other, each as long as its own content, so no padding is computed between them either.

Only text models with 1-D positions and the ``sdpa`` or ``eager`` attention implementations take custom
4-D masks; :func:`can_pack` says when packing applies. The mask is additive (0 or the dtype's lowest value)
in the model's dtype for both: ``sdpa`` would turn a bool mask into such a float mask again in every layer,
and autograd would keep every layer's copy for the backward pass (30 x ``N^2`` floats for SmolLM2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

_MASKABLE = ("sdpa", "eager")


@dataclass(frozen=True)
class Pack:
    """The model inputs of one packed row.

    Attributes:
        input_ids: ``[1, N]`` token ids.
        position_ids: ``[1, N]`` each token's position in its original row.
        attention_mask: ``[1, 1, N, N]``, additive: 0 where a token may attend, the dtype's lowest value
            where it may not.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor


@dataclass(frozen=True)
class PackedBatch:
    """Packed rows, run one after the other (no padding between them), and where each original token went.

    Attributes:
        packs: the packed rows, in order.
        source: ``[B, L]`` long: for each original token, its index in the concatenation of all packs'
            positions; -1 on padding.
    """

    packs: list[Pack]
    source: torch.Tensor


def can_pack(model: Any, batch: dict[str, torch.Tensor]) -> bool:
    """Whether :func:`pack_batch` can feed ``model``: 1-D positions, no vision inputs, a maskable attention."""
    implementation = getattr(getattr(model, "config", None), "_attn_implementation", None)
    text_only = batch["position_ids"].dim() == 2 and not any(
        key.startswith(("pixel_values", "image_grid", "video_grid")) for key in batch)
    return text_only and implementation in _MASKABLE


def pack_row_groups(model: Any, batch: dict[str, torch.Tensor], max_tokens: int) -> list[list[int]]:
    """The rows (indices into ``batch``) that each pack of :func:`pack_batch` would hold, in pack order;
    one group of every row when ``model`` does not pack this batch.

    Every row's continuation lies in exactly one pack, so a training step can run each group as a micro-batch
    of its own: the backward of a single pack then never holds a second pack's activations, nor the weight
    gradients of one pack waiting in autograd's buffers for the other's to be added to them.
    """
    if max_tokens <= 0 or not can_pack(model, batch):
        return [list(range(batch["input_ids"].shape[0]))]
    plan = _plan_batch(batch["input_ids"], batch["attention_mask"], batch["loss_mask"], max_tokens)
    return [[row for row, start, _ in spans if start > 0] for spans in plan]


def _plan_batch(input_ids: torch.Tensor, attention_mask: torch.Tensor, loss_mask: torch.Tensor,
                max_tokens: int) -> list[list[tuple[int, int, int]]]:
    """:func:`_plan` for a right-padded batch: each row's length and shareable prompt from its masks."""
    lengths = attention_mask.sum(-1).tolist()
    prompts = [_prompt_length(m, n) for m, n in zip(loss_mask.tolist(), lengths)]
    return _plan(input_ids.tolist(), lengths, prompts, max_tokens)


def _prompt_length(row_mask: list[float], length: int) -> int:
    """Index of a row's first loss-mask token (its shared prompt ends there), or its length if none."""
    return next((i for i, m in enumerate(row_mask[:length]) if m > 0), length)


def _plan(ids: list[list[int]], lengths: list[int], prompts: list[int],
          max_tokens: int) -> list[list[tuple[int, int, int]]]:
    """Lay rows out in packs: each pack is a list of ``(row, start, stop)`` spans of original positions.

    A span ``(row, 0, prompt)`` opens a prompt block; ``(row, prompt, length)`` spans that follow it, up to
    the next opening, are continuations of rows sharing that prompt.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for row, (row_ids, prompt) in enumerate(zip(ids, prompts)):
        groups.setdefault(tuple(row_ids[:prompt]), []).append(row)
    packs: list[list[tuple[int, int, int]]] = [[]]
    used = 0
    for rows in groups.values():
        opened = False  # whether the current pack already holds this group's prompt
        for row in rows:
            tail = lengths[row] - prompts[row]
            need = tail if opened else prompts[row] + tail
            if used and used + need > max_tokens:
                packs.append([])
                used, opened, need = 0, False, prompts[row] + tail
            if not opened:
                packs[-1].append((row, 0, prompts[row]))
                opened = True
            packs[-1].append((row, prompts[row], lengths[row]))
            used += need
    return [pack for pack in packs if pack]


def pack_batch(input_ids: torch.Tensor, attention_mask: torch.Tensor, loss_mask: torch.Tensor, *,
               max_tokens: int = 1024, dtype: torch.dtype = torch.float32) -> PackedBatch:
    """Pack a right-padded batch (see the module docstring).

    Args:
        input_ids: ``[B, L]`` right-padded ids.
        attention_mask: ``[B, L]`` 1 on real tokens.
        loss_mask: ``[B, L]`` 1 on policy tokens; decides where each row's shareable prompt ends.
        max_tokens: positions per pack before a new one is opened (a single row longer than this gets a
            pack of its own).
        dtype: the model's dtype, which its attention mask must have.
    """
    plan = _plan_batch(input_ids, attention_mask, loss_mask, max_tokens)
    source = torch.full(tuple(input_ids.shape), -1, dtype=torch.long)
    packs, offset = [], 0
    for spans in plan:
        pack = _lay_out(spans, input_ids, source, offset, dtype)
        packs.append(pack)
        offset += pack.input_ids.shape[1]
    return PackedBatch(packs, source)


def _lay_out(spans: list[tuple[int, int, int]], input_ids: torch.Tensor, source: torch.Tensor, offset: int,
             dtype: torch.dtype) -> Pack:
    """Build one pack from its spans (see :func:`_plan`), recording in ``source`` where each token went."""
    width = sum(stop - start for _, start, stop in spans)
    packed_ids = torch.empty(width, dtype=torch.long)
    positions = torch.empty(width, dtype=torch.long)
    block = torch.empty(width, dtype=torch.long)  # which prompt block a slot belongs to
    owner = torch.full((width,), -1, dtype=torch.long)  # which row a continuation slot belongs to
    cursor, blocks, opening = 0, 0, 0
    for row, start, stop in spans:
        span = slice(cursor, cursor + stop - start)
        if start == 0:  # a prompt block opens; the rows that follow share it
            blocks, opening = blocks + 1, row
        else:
            owner[span] = row
            source[row, :start] = source[opening, :start]
        source[row, start:stop] = torch.arange(span.start, span.stop) + offset
        packed_ids[span] = input_ids[row, start:stop]
        positions[span] = torch.arange(start, stop)
        block[span] = blocks
        cursor = span.stop
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    visible = (owner[None, :] == -1) | (owner[:, None] == owner[None, :])
    allowed = (causal & (block[:, None] == block[None, :]) & visible)[None, None]
    additive = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
    return Pack(packed_ids[None], positions[None], additive)
