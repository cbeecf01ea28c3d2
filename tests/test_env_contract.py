"""The environment contract (DESIGN.md), checked on every registered id."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import tracemalloc

import gymnasium as gym
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import reasongym
from reasongym.agents.loop import play
from reasongym.agents.base import SamplingParams
from reasongym.agents.oracle import OraclePolicy
from reasongym.agents.scripted import RandomPolicy
from reasongym.envs.spaces import message_text

from conftest import REPO, require_bfcl_data, require_math_data
from reasongym.envs.registration import BFCL_DATA, MATH_DATA

ALL_IDS = sorted(reasongym.CATALOG)


def require_data(env_id: str) -> None:
    """Skip with the reason when an id's benchmark files are not beside the checkout."""
    data = reasongym.CATALOG[env_id].data
    if data == MATH_DATA:
        require_math_data()
    elif data == BFCL_DATA:
        require_bfcl_data()


def make(env_id: str, **kwargs) -> gym.Env:
    require_data(env_id)
    return gym.make(env_id, **kwargs)


def test_every_family_module_registers_ids():
    assert {"reason/HumanEval-v0", "reason/StdioCode-v0", "reason/CodeDebug-v0", "reason/BFCL-Simple-v0",
            "reason/BFCL-Irrelevance-v0", "reason/ToolSearchCalc-v0", "reason/ToolPython-v0",
            "reason/RepoFix-v0"} <= set(ALL_IDS)
    assert {"reason/AIME-v0", "reason/AIME24-v0", "reason/AIME25-v0", "reason/AMC23-v0", "reason/MATH500-v0",
            "reason/GSM8K-v0", "reason/Countdown-v0", "reason/Arithmetic-v0", "reason/Echo-v0"} <= set(ALL_IDS)
    assert all(i in gym.registry for i in ALL_IDS)


def test_gym_make_needs_only_import_reasongym():
    code = "import gymnasium as gym, reasongym; e = gym.make('reason/Countdown-v0'); print(len(e.reset(seed=1)[0]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_env_checker(env_id):
    env = make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    # the checker's own assertions aside, the observation is the chat layout the VLM tooling reads
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert observation[-1]["role"] == "user" and message_text(observation[-1])
    assert {"index", "task_id", "max_turns"} <= set(info)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_step_contract(env_id):
    env = make(env_id)
    _, reset_info = env.reset(seed=3)
    observation, reward, terminated, truncated, info = env.step("I am not sure.")
    assert isinstance(reward, float)
    assert "outcome" in info["reward_parts"]
    assert reward == pytest.approx(sum(info["reward_parts"].values()))
    assert info["valid_action"] is False  # no final answer could be read
    if reset_info["max_turns"] == 1:
        assert terminated and not truncated  # single-turn: the answer ends the task
    else:
        assert not terminated and not truncated  # multi-turn: feedback, then another attempt
    assert env.observation_space.contains(observation)


_EPISODE_SCRIPT = """
import json, sys, gymnasium as gym, reasongym
env = gym.make(sys.argv[1])
out = []
for seed in (7, 8):
    obs, info = env.reset(seed=seed)
    step = env.step(env.unwrapped.oracle_action())
    out.append({"obs": obs, "index": info["index"], "reward": step[1], "parts": step[4]["reward_parts"],
                "action": env.unwrapped.oracle_action()})
print(json.dumps(out, default=str))
"""


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_same_seed_same_episode_in_two_processes(env_id):
    require_data(env_id)
    runs = [subprocess.run([sys.executable, "-c", _EPISODE_SCRIPT, env_id], capture_output=True, text=True,
                           cwd=REPO, timeout=300, env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)})
            for seed in (1, 2)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first == second
    assert first[0]["obs"] != first[1]["obs"], "different seeds should (almost always) draw different items"


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_no_growth_across_1000_resets(env_id):
    env = make(env_id).unwrapped
    for i in range(50):  # warm caches (item generation, lazily built state)
        env.reset(seed=i)
        env.step("no answer")
    tracemalloc.start()
    gc.collect()  # measure what is retained, not cyclic garbage the collector has not reached yet
    before = tracemalloc.take_snapshot()
    for i in range(1000):
        env.reset(seed=i)
        env.step("\\boxed{0}")
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "filename")
    growth = sum(stat.size_diff for stat in stats)
    assert growth < 200_000, f"memory grew by {growth} bytes over 1000 resets: {stats[:3]}"
    assert len(env._transcript) <= 4  # system?, user, assistant, verdict: nothing carried over


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_oracle_gets_full_reward(env_id):
    env = make(env_id)
    n = min(len(env.unwrapped.source), 8)
    envs = [make(env_id) for _ in range(n)]
    episodes = play(envs, OraclePolicy, SamplingParams(), [{"seed": 0, "options": {"index": i}} for i in range(n)])
    for episode in episodes:
        assert episode.terminated and not episode.truncated
        assert episode.reward_parts["outcome"] == 1.0, episode.final_info


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_random_policy_does_not_get_full_reward(env_id):
    n = 16
    envs = [make(env_id) for _ in range(n)]
    episodes = play(envs, RandomPolicy(seed=0), SamplingParams(seed=0),
                    [{"seed": s} for s in range(n)])
    mean_outcome = sum(e.reward_parts["outcome"] for e in episodes) / n
    assert mean_outcome < 0.25


def test_step_before_reset_is_a_clear_error():
    env = gym.make("reason/Countdown-v0")
    with pytest.raises(ResetNeeded, match="reset"):
        env.step("\\boxed{1}")
    with pytest.raises(ResetNeeded, match="reset"):
        env.unwrapped.step("\\boxed{1}")  # the base class checks too, without Gymnasium's wrapper


def test_step_after_episode_end_is_a_clear_error():
    env = gym.make("reason/Arithmetic-v0").unwrapped
    env.reset(seed=0)
    env.step("\\boxed{1}")
    with pytest.raises(ResetNeeded, match="ended"):
        env.step("\\boxed{1}")


@pytest.mark.parametrize("action", [None, 42, b"\\boxed{1}", ["\\boxed{1}"], {"text": "x"}])
def test_non_string_action_raises_type_error(action):
    env = gym.make("reason/Countdown-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(action)


def test_ten_megabyte_action_is_truncated_in_bounded_time():
    env = gym.make("reason/Arithmetic-v0")
    env.reset(seed=0)
    action = "\\boxed{" * 10 + "9" * (10 * 1024 * 1024) + "}"
    started = time.perf_counter()
    _, reward, terminated, truncated, info = env.step(action)
    assert time.perf_counter() - started < 5.0
    assert info["action_truncated"] is True
    assert reward == 0.0 and (terminated or truncated)


def test_reset_options_index_and_bad_options():
    env = gym.make("reason/Countdown-v0", num_items=50)
    a, _ = env.reset(seed=1, options={"index": 7})
    b, _ = env.reset(seed=999, options={"index": 7})
    assert a == b
    with pytest.raises(IndexError, match="out of range"):
        env.reset(options={"index": 50})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"idx": 1})


def test_multi_attempt_feedback_and_no_leak_across_reset():
    env = gym.make("reason/Arithmetic-v0", max_attempts=3, render_mode="ansi").unwrapped
    first, _ = env.reset(seed=0)
    gold = env.item.answer
    obs, reward, terminated, truncated, info = env.step(f"\\boxed{{{gold + 1}}}")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "Incorrect" in message_text(obs[0]) and "2 attempts left" in message_text(obs[0])
    obs, reward, terminated, truncated, info = env.step(f"\\boxed{{{gold}}}")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert "Incorrect" in env.render()
    again, _ = env.reset(seed=0)
    assert again == first and "Incorrect" not in env.render()


def test_attempts_run_out_terminates_with_signed_outcome():
    env = gym.make("reason/Arithmetic-v0", max_attempts=2, reward_mode="signed").unwrapped
    env.reset(seed=0)
    wrong = f"\\boxed{{{env.item.answer + 1}}}"
    assert env.step(wrong)[1:4] == (0.0, False, False)
    obs, reward, terminated, truncated, info = env.step(wrong)
    assert (reward, terminated, truncated) == (-1.0, True, False)
    assert "No attempts left" in message_text(obs[0])


def test_constructor_errors_are_clear():
    with pytest.raises(ValueError, match="reward_mode"):
        gym.make("reason/Countdown-v0", reward_mode="nope")
    with pytest.raises(ValueError, match="level"):
        gym.make("reason/Countdown-v0", level=9)
    with pytest.raises(ValueError, match="year"):
        gym.make("reason/AIME-v0", year=1999)
