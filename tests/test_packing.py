"""Packed log-prob passes: each shared prompt once, no padding, the same log-probs and gradients."""

from __future__ import annotations

import pytest
import torch

from reasongym.agents.tiny import tiny_qwen2
from reasongym.training.logprobs import compute_logprobs
from reasongym.training.packing import can_pack, pack_batch, pack_row_groups

PROMPTS = [5, 5, 5, 7, 7, 4]  # rows 0-2 share a 5-token prompt, rows 3-4 a 7-token one, row 5 is alone
LENGTHS = [12, 20, 9, 15, 16, 4]  # row 5 has no policy token at all


def _batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    rows, width = len(LENGTHS), max(LENGTHS)
    ids = torch.randint(3, 100, (rows, width), generator=gen)
    ids[1:3, :5] = ids[0, :5]
    ids[4, :7] = ids[3, :7]
    attention, loss = torch.zeros(rows, width, dtype=torch.long), torch.zeros(rows, width)
    for row, (prompt, length) in enumerate(zip(PROMPTS, LENGTHS)):
        attention[row, :length] = 1
        loss[row, prompt:length] = 1
        ids[row, length:] = 0
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": ids, "attention_mask": attention, "loss_mask": loss, "position_ids": positions}


def test_pack_lays_each_prompt_once_and_maps_every_token() -> None:
    batch = _batch()
    packed = pack_batch(batch["input_ids"], batch["attention_mask"], batch["loss_mask"], max_tokens=1000)
    real = batch["attention_mask"].bool()
    distinct = sum(LENGTHS) - 2 * 5 - 1 * 7  # the repeated prompts are laid out once
    assert len(packed.packs) == 1 and packed.packs[0].input_ids.shape == (1, distinct)
    flat_ids, flat_positions = _concatenated(packed)
    assert torch.equal(flat_ids[packed.source[real]], batch["input_ids"][real])
    assert torch.equal(flat_positions[packed.source[real]], batch["position_ids"][real])
    assert (packed.source[~real] == -1).all()
    assert torch.equal(packed.source[0, :5], packed.source[2, :5])  # shared prompt slots
    mask = packed.packs[0].attention_mask[0, 0]
    first_tail, other_tail = packed.source[1, 5], packed.source[2, 5]
    visible = mask == 0  # additive mask: 0 where a token may attend, the lowest float where it may not
    assert visible[first_tail, packed.source[0, 4]] and not visible[other_tail, first_tail]  # prompt, not a sibling
    assert mask.dtype == torch.float32 and mask.min() == torch.finfo(torch.float32).min


def _concatenated(packed) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.cat([pack.input_ids[0] for pack in packed.packs]),
            torch.cat([pack.position_ids[0] for pack in packed.packs]))


def test_pack_budget_opens_new_packs_and_repeats_the_prompt() -> None:
    batch = _batch()
    packed = pack_batch(batch["input_ids"], batch["attention_mask"], batch["loss_mask"], max_tokens=20)
    widths = [pack.input_ids.shape[1] for pack in packed.packs]
    assert len(widths) > 1 and max(widths) <= 20  # no row here is longer than the budget
    flat_ids, _ = _concatenated(packed)
    assert len(flat_ids) == sum(widths)  # packs carry no padding
    real = batch["attention_mask"].bool()
    assert torch.equal(flat_ids[packed.source[real]], batch["input_ids"][real])
    assert len(flat_ids) > sum(LENGTHS) - 2 * 5 - 7  # some prompt was laid out again in a later pack


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("budget", [1000, 20])
def test_packed_logprobs_and_gradients_equal_the_padded_ones(attention: str, budget: int) -> None:
    model, _ = tiny_qwen2(seed=1)
    model.set_attn_implementation(attention)
    batch = _batch()
    assert can_pack(model, batch)

    def run(pack_tokens: int):
        model.zero_grad(set_to_none=True)
        logprobs, entropy = compute_logprobs(model, batch, positions=batch["loss_mask"], pack_tokens=pack_tokens)
        ((logprobs + 0.1 * entropy) * batch["loss_mask"]).sum().backward()
        return logprobs.detach(), entropy.detach(), [p.grad.clone() for p in model.parameters()]

    lp_padded, ent_padded, grads_padded = run(0)
    lp_packed, ent_packed, grads_packed = run(budget)
    torch.testing.assert_close(lp_packed, lp_padded, atol=2e-5, rtol=0)
    torch.testing.assert_close(ent_packed, ent_padded, atol=2e-5, rtol=0)
    for packed, padded in zip(grads_packed, grads_padded):
        torch.testing.assert_close(packed, padded, atol=1e-4, rtol=1e-4)
    assert (lp_packed[batch["loss_mask"] == 0] == 0).all()  # only the wanted positions are computed
    assert (lp_packed[batch["loss_mask"] == 1] < 0).all()


def test_full_logprobs_without_positions_match_the_model_logits() -> None:
    model, _ = tiny_qwen2(seed=2)
    batch = _batch()
    with torch.no_grad():
        logprobs, _ = compute_logprobs(model, batch, compute_entropy=False, pack_tokens=64)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    real = batch["attention_mask"][:, 1:].bool()
    torch.testing.assert_close(logprobs[:, 1:][real], expected[real], atol=2e-5, rtol=0)


def test_vision_batches_and_flash_attention_are_not_packed() -> None:
    model, _ = tiny_qwen2()
    batch = _batch()
    assert not can_pack(model, {**batch, "position_ids": batch["position_ids"].expand(3, -1, -1)})
    assert not can_pack(model, {**batch, "pixel_values": torch.zeros(1, 3)})
    model.config._attn_implementation = "flash_attention_2"
    assert not can_pack(model, batch)


@pytest.mark.parametrize("budget", [1000, 20])
def test_row_groups_are_the_rows_of_each_pack(budget: int) -> None:
    model, _ = tiny_qwen2()
    batch = _batch()
    groups = pack_row_groups(model, batch, budget)
    packed = pack_batch(batch["input_ids"], batch["attention_mask"], batch["loss_mask"], max_tokens=budget)
    assert len(groups) == len(packed.packs) and sorted(r for g in groups for r in g) == list(range(len(LENGTHS)))
    starts = torch.tensor([0] + [p.input_ids.shape[1] for p in packed.packs]).cumsum(0)
    for k, group in enumerate(groups):  # each row's last token lies in its group's pack
        for row in group:
            slot = packed.source[row, LENGTHS[row] - 1]
            assert starts[k] <= slot < starts[k + 1]
    # each group, packed on its own, is exactly one pack
    for group in groups:
        sub = {key: value[group] for key, value in batch.items()}
        assert len(pack_batch(sub["input_ids"], sub["attention_mask"], sub["loss_mask"], max_tokens=budget).packs) == 1
    assert pack_row_groups(model, batch, 0) == [list(range(len(LENGTHS)))]
