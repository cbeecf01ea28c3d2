"""Tests of the rollout side of the trainer: token-in/token-out sequences, log-prob alignment, rewards.

Everything runs offline on CPU with the tiny random Qwen2 / Qwen2.5-VL models of ``reasongym.agents.tiny``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

import reasongym  # noqa: F401  (registers the reason/* ids)
from reasongym.agents import SamplingParams, TransformersPolicy, tiny_qwen2_vl
from reasongym.agents.base import Completion
from reasongym.agents.encoding import EncodedPrompt, TextPromptEncoder, VisionPromptEncoder
from reasongym.agents.tiny import tiny_tokenizer
from reasongym.envs.base import Judgement, ReasonEnv
from reasongym.envs.spaces import Message, text_message
from reasongym.envs.wrappers import GatedRewardWrapper, RewardPartsWeights
from reasongym.tasks.base import ListSource, TaskItem
from reasongym.training.logprobs import compute_logprobs
from reasongym.training.rewards import (RewardTransform, gated_episode_reward, gated_turn_rewards,
                                        invalid_action_penalty, overlong_penalty, weighted_sum)
from reasongym.training.rollout import RolloutCollector
from reasongym.training.tokenize import ContinuationEncoder
from reasongym.training.trajectory import Trajectory, collate_trajectories

from conftest import eos_biased_tiny_policy

SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Drops the content of every assistant turn but the last: earlier turns render differently later.
HIDING_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' and not loop.last %}...{% else %}{{ message['content'] }}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

EOS = "<|im_end|>"
HISTORY = [text_message("user", "What is 2+3?")]
FEEDBACK = [text_message("user", "Incorrect. Try again.")]


def _image(seed: int, size: tuple[int, int] = (90, 70)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _image_message(seed: int, text: str, size: tuple[int, int] = (60, 60)) -> Message:
    return {"role": "user", "content": [{"type": "image", "image": _image(seed, size)}, {"type": "text", "text": text}]}


# --------------------------------------------------------------------------------------------------------------
# environment-message ids (ContinuationEncoder)
# --------------------------------------------------------------------------------------------------------------


def _text_encoder(template: str | None) -> TextPromptEncoder:
    tokenizer = tiny_tokenizer()
    if template is not None:
        tokenizer.chat_template = template
    return TextPromptEncoder(tokenizer)


@pytest.mark.parametrize("template", [None, SMOLLM2_TEMPLATE, QWEN2_VL_TEMPLATE], ids=["chatml", "smollm2", "qwen2"])
@pytest.mark.parametrize("stopped_by_eos", [True, False], ids=["eos", "length"])
def test_continuation_equals_full_render(template: str | None, stopped_by_eos: bool) -> None:
    encoder = _text_encoder(template)
    tokenizer = encoder.tokenizer
    eos = tokenizer.convert_tokens_to_ids(EOS)
    continuations = ContinuationEncoder(encoder, {eos})
    prompt = encoder.encode(HISTORY).input_ids
    completion = tokenizer("The answer is 5.", add_special_tokens=False)["input_ids"] + [eos] * stopped_by_eos
    env_ids = continuations.encode(FEEDBACK, completion).input_ids
    # The byte-level tiny tokenizer round-trips text, so the full re-render is a valid reference here.
    full = encoder.encode([*HISTORY, text_message("assistant", "The answer is 5."), *FEEDBACK]).input_ids
    assert prompt + completion + env_ids == full
    # the closing <|im_end|> is an environment token exactly when the completion did not sample it
    assert (env_ids[0] == eos) is (not stopped_by_eos)
    reply = "<|im_start|>user\nIncorrect. Try again.<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode(env_ids).endswith(reply)


def test_continuation_never_repeats_a_default_system_prompt() -> None:
    continuations = ContinuationEncoder(_text_encoder(SMOLLM2_TEMPLATE), {0})
    assert "SmolLM" not in continuations.render(FEEDBACK, [65])
    assert continuations.closing == "<|im_end|>\n"


def test_continuation_refuses_templates_that_rewrite_history() -> None:
    continuations = ContinuationEncoder(_text_encoder(HIDING_TEMPLATE), {0})
    with pytest.raises(ValueError, match="differently"):
        continuations.render(FEEDBACK, [65])


@pytest.mark.parametrize("template", [None, QWEN2_VL_TEMPLATE], ids=["chatml", "qwen2-vl"])
def test_vl_continuation_expands_images_like_the_processor(template: str | None) -> None:
    model, processor = tiny_qwen2_vl(seed=0)
    if template is not None:
        processor.chat_template = template
    encoder = VisionPromptEncoder(processor)
    eos = processor.tokenizer.convert_tokens_to_ids(EOS)
    history = [_image_message(0, "What is it?", (90, 70))]
    new = [_image_message(1, "Look at this one.")]
    prompt = encoder.encode(history)
    completion = processor.tokenizer("A cat.", add_special_tokens=False)["input_ids"] + [eos]
    segment = ContinuationEncoder(encoder, {eos}).encode(new, completion)
    grid = segment.vision["image_grid_thw"]
    merge = model.config.vision_config.spatial_merge_size ** 2
    assert segment.input_ids.count(model.config.image_token_id) == int(grid.prod()) // merge > 0
    assert segment.vision["pixel_values"].shape[0] == int(grid.prod())
    assert segment.vision["mm_token_type_ids"].tolist() == [int(i == model.config.image_token_id)
                                                           for i in segment.input_ids]
    full = encoder.encode([*history, text_message("assistant", "A cat."), *new])
    assert prompt.input_ids + completion + segment.input_ids == full.input_ids
    assert torch.equal(torch.cat([prompt.vision["pixel_values"], segment.vision["pixel_values"]]),
                       full.vision["pixel_values"])


# --------------------------------------------------------------------------------------------------------------
# multi-turn text rollouts: sequence layout and log-prob alignment
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_policy() -> TransformersPolicy:
    """The tiny Qwen2 with EOS made likely (see ``conftest.eos_biased_tiny_policy``)."""
    return eos_biased_tiny_policy()


ARITHMETIC = "reason/Arithmetic-v0"
SAMPLING = SamplingParams(max_tokens=12)


@pytest.fixture(scope="module")
def multi_turn(text_policy: TransformersPolicy) -> list[Trajectory]:
    collector = RolloutCollector(ARITHMETIC, {"max_attempts": 3}, text_policy, group_size=3, sampling=SAMPLING)
    return collector.collect([0, 1], seed=7)


def _runs(trajectory: Trajectory) -> list[tuple[int, int, int]]:
    """Maximal runs ``(mask value, start, end)`` of the loss mask."""
    runs, start = [], 0
    for i in range(1, len(trajectory.loss_mask) + 1):
        if i == len(trajectory.loss_mask) or trajectory.loss_mask[i] != trajectory.loss_mask[start]:
            runs.append((trajectory.loss_mask[start], start, i))
            start = i
    return runs


def test_multi_turn_sequence_is_prompt_completions_and_env_replies(
        text_policy: TransformersPolicy, multi_turn: list[Trajectory]) -> None:
    tokenizer, eos_ids = text_policy.tokenizer, text_policy.eos_ids
    continuations = ContinuationEncoder(text_policy.encoder, eos_ids)
    reasons = set()
    for trajectory in multi_turn:
        assert trajectory.num_turns == 3 and trajectory.terminated and not trajectory.truncated  # wrong 3 times
        runs = _runs(trajectory)
        assert [value for value, _, _ in runs] == [0, 1, 0, 1, 0, 1]
        completions = [trajectory.token_ids[start:end] for value, start, end in runs if value == 1]
        # Replay the episode on a fresh env with the texts the policy produced.
        env = gym.make(ARITHMETIC, max_attempts=3)
        observation, _ = env.reset(options={"index": trajectory.task_index})
        expected = list(text_policy.encoder.encode(observation).input_ids)
        for turn, ids in enumerate(completions):
            expected += ids
            text = tokenizer.decode(ids[:-1] if ids[-1] in eos_ids else ids, skip_special_tokens=True)
            observation, _, terminated, _, info = env.step(text)
            assert info["reward_parts"] == trajectory.reward_parts[turn]
            if not terminated:
                segment = continuations.encode(observation, ids).input_ids
                assert segment == trajectory.token_ids[runs[2 * turn + 2][1]:runs[2 * turn + 2][2]]
                feedback = observation[0]["content"][0]["text"]
                closing = "\n" if ids[-1] in eos_ids else "<|im_end|>\n"
                assert tokenizer.decode(segment) == (f"{closing}<|im_start|>user\n{feedback}<|im_end|>\n"
                                                     "<|im_start|>assistant\n")
                assert feedback.startswith("Incorrect")
                expected += segment
        assert trajectory.token_ids == expected
        assert trajectory.turn_index == [
            turn if mask else -1 for mask, turn in zip(trajectory.loss_mask, _turn_of_runs(runs))
        ]
        assert all(lp == 0.0 for lp, mask in zip(trajectory.rollout_logprobs, trajectory.loss_mask) if not mask)
        assert all(lp < 0.0 for lp, mask in zip(trajectory.rollout_logprobs, trajectory.loss_mask) if mask)
        reasons.update(trajectory.finish_reasons)
    assert reasons == {"stop", "length"}  # both ways of ending a turn were exercised


def _turn_of_runs(runs: list[tuple[int, int, int]]) -> list[int]:
    """For each position, the index of the policy run it is in or follows."""
    turns, turn = [], -1
    for value, start, end in runs:
        turn += value
        turns += [turn] * (end - start)
    return turns


def test_multi_turn_recomputed_logprobs_equal_rollout_logprobs(
        text_policy: TransformersPolicy, multi_turn: list[Trajectory]) -> None:
    batch = collate_trajectories(multi_turn, text_policy.pad_id, model=text_policy.model)
    with torch.no_grad():
        logprobs, entropy = compute_logprobs(text_policy.model, batch, chunk_size=37)
    mask = batch["loss_mask"].bool()
    assert mask.sum() == sum(sum(t.loss_mask) for t in multi_turn)
    assert torch.allclose(logprobs[mask], batch["old_logprobs"][mask], atol=1e-4)
    assert torch.all(logprobs[:, 0] == 0) and torch.all(entropy[:, 0] == 0)
    assert torch.all(entropy[mask] > 0) and torch.all(entropy[mask] <= np.log(text_policy.model.config.vocab_size))


def test_logprobs_match_naive_full_logits_and_carry_gradients(
        text_policy: TransformersPolicy, multi_turn: list[Trajectory]) -> None:
    model = text_policy.model
    batch = collate_trajectories(multi_turn[:2], text_policy.pad_id)
    logprobs, _ = compute_logprobs(model, batch, temperature=0.7, chunk_size=16, compute_entropy=False)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    naive = torch.log_softmax(logits[:, :-1] / 0.7, dim=-1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    valid = batch["attention_mask"][:, 1:].bool()
    assert torch.allclose(logprobs[:, 1:][valid], naive[valid], atol=1e-5)
    (logprobs * batch["loss_mask"]).sum().backward()
    assert model.lm_head.weight.grad is not None and model.model.embed_tokens.weight.grad is not None
    model.zero_grad(set_to_none=True)


def test_single_turn_episode_is_prompt_plus_completion(text_policy: TransformersPolicy) -> None:
    collector = RolloutCollector("reason/Countdown-v0", None, text_policy, group_size=2, sampling=SAMPLING)
    trajectories = collector.collect([3], seed=0)
    for trajectory in trajectories:
        env = gym.make("reason/Countdown-v0")
        observation, _ = env.reset(options={"index": 3})
        prompt = text_policy.encoder.encode(observation).input_ids
        assert trajectory.num_turns == 1 and trajectory.terminated
        assert trajectory.token_ids[: len(prompt)] == prompt
        assert trajectory.loss_mask == [0] * len(prompt) + [1] * (len(trajectory.token_ids) - len(prompt))
    batch = collate_trajectories(trajectories, text_policy.pad_id)
    with torch.no_grad():
        logprobs, _ = compute_logprobs(text_policy.model, batch)
    mask = batch["loss_mask"].bool()
    assert torch.allclose(logprobs[mask], batch["old_logprobs"][mask], atol=1e-4)


def test_same_seed_same_trajectories_and_no_global_rng(text_policy: TransformersPolicy) -> None:
    collector = RolloutCollector(ARITHMETIC, {"max_attempts": 2}, text_policy, group_size=2, sampling=SAMPLING)
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    first, again = collector.collect([4, 5], seed=11), collector.collect([4, 5], seed=11)
    other = collector.collect([4, 5], seed=12)
    assert torch.equal(torch_state, torch.random.get_rng_state())
    assert np.array_equal(numpy_state[1], np.random.get_state()[1])
    assert [t.token_ids for t in first] == [t.token_ids for t in again]
    assert [t.rollout_logprobs for t in first] == [t.rollout_logprobs for t in again]
    assert [t.token_ids for t in first] != [t.token_ids for t in other]
    # the members of a group start from the same item but sample differently
    assert first[0].task_index == first[1].task_index and first[0].token_ids != first[1].token_ids


# --------------------------------------------------------------------------------------------------------------
# vision-language rollouts
# --------------------------------------------------------------------------------------------------------------


class PictureEnv(ReasonEnv):
    """Two turns: an image opens the episode and the feedback shows another one."""

    def __init__(self, **kwargs: Any):
        items = [TaskItem(id=f"picture-{i}", prompt="Describe the picture.", answer="",
                          media=({"type": "image", "image": _image(i)},)) for i in range(4)]
        super().__init__(ListSource(items, origin="test pictures"), max_turns=2, **kwargs)

    def _judge(self, action: str) -> Judgement:
        last = self.turn >= self.max_turns
        feedback = [_image_message(100 + self.turn, "Now describe this one.")]
        return Judgement(reward_parts={"outcome": float(last), "step": 0.1}, terminated=last, feedback=feedback)


@pytest.fixture(scope="module")
def vl_policy() -> TransformersPolicy:
    model, processor = tiny_qwen2_vl(seed=0)
    return TransformersPolicy(model, processor, batch_size=8)


def test_vl_image_tokens_line_up_with_the_pixels(vl_policy: TransformersPolicy) -> None:
    collector = RolloutCollector(PictureEnv, None, vl_policy, group_size=2, sampling=SamplingParams(max_tokens=6))
    trajectories = collector.collect([0, 1], seed=0)
    model = vl_policy.model
    for trajectory in trajectories:
        assert trajectory.num_turns == 2 and len(trajectory.vision) == 2  # the opening image and the feedback's
        image_positions = [i for i, t in enumerate(trajectory.token_ids) if t == model.config.image_token_id]
        assert all(trajectory.loss_mask[i] == 0 for i in image_positions)  # the policy never sampled a placeholder
        assert trajectory.per_token["mm_token_type_ids"] == [int(t == model.config.image_token_id)
                                                            for t in trajectory.token_ids]
    batch = collate_trajectories(trajectories, vl_policy.pad_id, model=model)
    assert batch["position_ids"].shape == (3, *batch["input_ids"].shape)
    assert batch["image_grid_thw"].shape[0] == 8 and batch["pixel_values"].shape[0] == int(
        batch["image_grid_thw"].prod(-1).sum())
    mask = batch["loss_mask"].bool()
    with torch.no_grad():
        logprobs, _ = compute_logprobs(model, batch)
        assert torch.allclose(logprobs[mask], batch["old_logprobs"][mask], atol=1e-4)
        # Giving trajectory 0 the opening image of trajectory 2 (same size, other pixels) breaks the match.
        swapped = dict(batch)
        first, third = _image_rows(batch, 0), _image_rows(batch, 4)
        swapped["pixel_values"] = batch["pixel_values"].clone()
        swapped["pixel_values"][first] = batch["pixel_values"][third]
        changed, _ = compute_logprobs(model, swapped, compute_entropy=False)
    assert (changed[0][mask[0]] - batch["old_logprobs"][0][mask[0]]).abs().max() > 1e-3


def _image_rows(batch: dict[str, torch.Tensor], image: int) -> slice:
    """The rows of ``pixel_values`` holding image number ``image`` of the batch."""
    sizes = batch["image_grid_thw"].prod(-1).tolist()
    return slice(sum(sizes[:image]), sum(sizes[: image + 1]))


# --------------------------------------------------------------------------------------------------------------
# reward placement and transforms
# --------------------------------------------------------------------------------------------------------------


def _handmade_trajectory(rewards: list[float]) -> Trajectory:
    trajectory = Trajectory()
    trajectory.append_context(EncodedPrompt([1, 2, 3]))
    for turn, reward in enumerate(rewards):
        trajectory.append_completion(Completion(text="", token_ids=[10 + turn] * (turn + 2),
                                                logprobs=[-0.5] * (turn + 2), finish_reason="length"))
        trajectory.record_step({"reward_parts": {"outcome": reward}})
        if turn + 1 < len(rewards):
            trajectory.append_context(EncodedPrompt([4, 5]))
    trajectory.rewards = rewards
    return trajectory


def test_rewards_sit_on_the_last_policy_token_of_each_turn() -> None:
    short, long = _handmade_trajectory([1.5]), _handmade_trajectory([0.25, -1.0, 2.0])
    batch = collate_trajectories([short, long], pad_id=0)
    assert batch["input_ids"].shape == (2, len(long.token_ids))
    assert long.last_policy_positions() == [4, 9, 15]
    expected = torch.zeros_like(batch["token_level_rewards"])
    expected[0, 4], expected[1, 4], expected[1, 9], expected[1, 15] = 1.5, 0.25, -1.0, 2.0
    assert torch.equal(batch["token_level_rewards"], expected)
    assert batch["loss_mask"][1].tolist() == [float(m) for m in long.loss_mask]
    assert batch["turn_index"][0].tolist() == [-1, -1, -1, 0, 0] + [-1] * (len(long.token_ids) - 5)
    assert batch["attention_mask"][0].tolist() == [1] * 5 + [0] * (len(long.token_ids) - 5)
    assert batch["position_ids"][1].tolist() == list(range(len(long.token_ids)))
    assert long.response_lengths == [2, 3, 4]


def test_collate_requires_transformed_rewards() -> None:
    trajectory = _handmade_trajectory([1.0])
    trajectory.rewards = []
    with pytest.raises(ValueError, match="reward transform"):
        collate_trajectories([trajectory], pad_id=0)


def test_reward_functions() -> None:
    assert weighted_sum({"outcome": 1.0, "format": 0.5}) == 1.5
    assert weighted_sum({"outcome": 1.0, "format": 0.5}, {"format": 2.0}) == 2.0
    assert [overlong_penalty(n, max_length=100, buffer=20) for n in (80, 90, 100, 101)] == [0.0, -0.5, -1.0, -1.0]
    assert overlong_penalty(100, max_length=100, buffer=0) == 0.0
    assert invalid_action_penalty(False, 0.2) == -0.2 and invalid_action_penalty(True, 0.2) == 0.0


@pytest.mark.parametrize("outcome, open_", [(1.0, True), (0.5, True), (0.0, False)])
def test_gated_reward_accumulation_forms(outcome: float, open_: bool) -> None:
    steps = [0.2, 0.3, 0.1]
    episode = gated_episode_reward(outcome, steps, threshold=0.5)
    per_turn = gated_turn_rewards(outcome, steps, threshold=0.5)
    assert episode == pytest.approx(outcome + (0.6 if open_ else 0.0))
    assert per_turn == pytest.approx([0.2, 0.3, 0.1 + outcome] if open_ else [0.0, 0.0, outcome])
    assert sum(per_turn) == pytest.approx(episode)


def test_reward_transform_gates_env_parts_but_not_penalties() -> None:
    parts = [{"outcome": 0.0, "step": 0.2}, {"outcome": 0.0, "step": 0.3}, {"outcome": 0.0, "step": 0.1}]
    lengths, valid = [10, 10, 100], [True, False, True]
    closed = RewardTransform(gate_threshold=1.0, gate_mode="turn", invalid_action_penalty=0.5, overlong_buffer=20)
    assert closed.apply(parts, response_lengths=lengths, valid_actions=valid, max_length=100) == pytest.approx(
        [0.0, -0.5, -1.0])
    won = [*parts[:2], {"outcome": 1.0, "step": 0.1}]
    assert closed.apply(won, response_lengths=lengths, valid_actions=valid, max_length=100) == pytest.approx(
        [0.2, -0.2, 0.1 + 1.0 - 1.0])
    episode = RewardTransform(gate_threshold=1.0, weights={"step": 2.0})
    assert episode.apply(won, response_lengths=lengths, valid_actions=valid, max_length=100) == pytest.approx(
        [0.0, 0.0, 1.0 + 2.0 * 0.6])
    ungated = RewardTransform(gate_mode="turn")
    assert ungated.apply(parts, response_lengths=lengths, valid_actions=valid, max_length=100) == pytest.approx(
        [0.2, 0.3, 0.1])
    only_format = RewardTransform(gate_threshold=1.0, gate_mode="turn", gated_parts=("format",))
    assert only_format.apply([{"outcome": 0.0, "step": 0.2, "format": 0.1}], response_lengths=[1],
                             valid_actions=[True], max_length=10) == pytest.approx([0.2])
    with pytest.raises(ValueError):
        RewardTransform(gate_mode="sometimes")


class StepRewardEnv(gym.Env):
    """Three steps paying ``step`` 0.5 each; the last also pays ``outcome`` = the action."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Box(0.0, 1.0, shape=())

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action: float) -> tuple[int, float, bool, bool, dict]:
        self.t += 1
        done = self.t == 3
        parts = {"outcome": float(action) if done else 0.0, "step": 0.5}
        return 0, sum(parts.values()), done, False, {"reward_parts": parts}


@pytest.mark.parametrize("final_outcome, open_", [(1.0, True), (0.0, False)])
def test_gated_reward_wrapper_delays_step_rewards(final_outcome: float, open_: bool) -> None:
    env = GatedRewardWrapper(StepRewardEnv(), threshold=1.0)
    env.reset(seed=0)
    paid = []
    for action in (0.0, 0.0, final_outcome):
        _, reward, terminated, _, info = env.step(action)
        paid.append(reward)
        assert sum(info["reward_parts"].values()) == pytest.approx(reward)
        assert info["raw_reward_parts"]["step"] == 0.5
    assert paid == pytest.approx([0.0, 0.0, final_outcome + (1.5 if open_ else 0.0)])
    assert terminated and info["gated_reward"]["gate_open"] is open_ and info["gated_reward"]["withheld"] == 1.5
    env.reset()
    _, _, _, _, info = env.step(0.0)
    assert info["gated_reward"] == {"withheld": 0.5}  # the buffer does not leak across episodes


def test_reward_parts_weights_wrapper() -> None:
    env = RewardPartsWeights(StepRewardEnv(), {"step": 0.0, "outcome": 2.0})
    env.reset()
    rewards = [env.step(1.0)[1] for _ in range(3)]
    assert rewards == [0.0, 0.0, 2.0]


# --------------------------------------------------------------------------------------------------------------
# dynamic sampling
# --------------------------------------------------------------------------------------------------------------


class ByteSumEnv(ReasonEnv):
    """One turn. Item 0 always pays 1 (no variance in a group); other items pay a hash of the action."""

    def __init__(self, **kwargs: Any):
        items = [TaskItem(id=f"t{i}", prompt=f"Say something ({i}).", answer="") for i in range(10)]
        super().__init__(ListSource(items, origin="test"), **kwargs)

    def _judge(self, action: str) -> Judgement:
        outcome = 1.0 if self._index == 0 else sum(action.encode()) % 7 / 6
        return Judgement(reward_parts={"outcome": outcome}, terminated=True)


def test_dynamic_sampling_drops_zero_variance_groups(text_policy: TransformersPolicy) -> None:
    collector = RolloutCollector(ByteSumEnv, None, text_policy, group_size=3, sampling=SamplingParams(max_tokens=4),
                                 dynamic_sampling=True, max_resample_rounds=2)
    trajectories = collector.collect([0, 1], seed=0, refill=iter([2, 3, 4]))
    stats = collector.last_stats
    assert stats is not None and stats.groups_dropped == 1 and stats.resample_rounds == 1
    assert stats.groups_returned == 2 and stats.episodes == 9
    assert sorted({t.task_index for t in trajectories}) == [1, 2]
    for group in {t.group_id for t in trajectories}:
        returns = [t.total_reward for t in trajectories if t.group_id == group]
        assert len(returns) == 3 and max(returns) > min(returns)
    # without refill indices the dropped group is simply missing
    assert {t.task_index for t in collector.collect([0, 1], seed=0)} == {1}
    assert collector.last_stats.groups_returned == 1
    plain = RolloutCollector(ByteSumEnv, None, text_policy, group_size=3, sampling=SamplingParams(max_tokens=4))
    assert {t.task_index for t in plain.collect([0, 1], seed=0)} == {0, 1}
