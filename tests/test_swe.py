"""RepoFix: repositories, seeded mutations, the trusted harness, tools, rewards, G-RA, the trainer path, TRL.

Core tests run on the local sandbox backend (``make_sandbox("local")``); the end-to-end scripted agent
also runs in Docker (``docker`` marker, skipped with the reason when no engine or image is available).
"""

from __future__ import annotations

import inspect
import json
import random
import warnings
from typing import Any, Sequence

import gymnasium as gym
import pytest
import torch

import reasongym  # noqa: F401  (registers the reason/* ids)
from reasongym.agents import SamplingParams, TransformersPolicy, tiny_qwen2
from reasongym.agents.base import Completion
from reasongym.agents.encoding import EncodedPrompt
from reasongym.envs.adapters import TRLEnvironment, trl_dataset_rows, trl_environment_factory
from reasongym.envs.spaces import message_text
from reasongym.envs.swe import RepoFixEnv
from reasongym.envs.wrappers import GatedRewardWrapper
from reasongym.runtime.sandbox import Limits, RunRequest, RunResult, SandboxError, make_sandbox
from reasongym.runtime.sandbox.errors import WeakIsolationWarning
from reasongym.tasks.swe import verified
from reasongym.tasks.swe.build_catalogue import candidates, verify
from reasongym.tasks.swe.catalogue import load
from reasongym.tasks.swe.mutations import OPERATORS, apply_site, find_sites, fix_edit
from reasongym.tasks.swe.repos import REPOSITORIES
from reasongym.tasks.swe.runs import run_cases
from reasongym.tasks.swe.source import RepoFixSource
from reasongym.tasks.tools.calls import ToolCall
from reasongym.training.advantages import broadcast_turn_advantages, per_turn_grpo_advantages
from reasongym.training.rewards import RewardTransform
from reasongym.training.rollout import RolloutCollector
from reasongym.training.trajectory import collate_trajectories


def call(name: str, **arguments: Any) -> str:
    return ToolCall(name, arguments).render()


class RecordingSandbox:
    """A sandbox that remembers every request before running it on the wrapped one."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.requests: list[RunRequest] = []

    def run(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        return self.inner.run(request)

    async def arun(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        return await self.inner.arun(request)

    def close(self) -> None:
        """The wrapped sandbox belongs to the fixture."""


@pytest.fixture(scope="module")
def local():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakIsolationWarning)
        sandbox = make_sandbox("local")
    yield sandbox
    sandbox.close()


@pytest.fixture()
def recorder(local):
    return RecordingSandbox(local)


def make_env(sandbox: Any, **kwargs: Any) -> RepoFixEnv:
    return RepoFixEnv(sandbox=sandbox, **kwargs)


def index_where(env: RepoFixEnv, predicate) -> int:
    """The first item index whose mutant satisfies ``predicate``."""
    return next(i for i in range(len(env.source)) if predicate(env.source[i].metadata["mutant"]))


def run_oracle(env: gym.Env, index: int, max_steps: int = 10) -> list[dict[str, Any]]:
    env.reset(options={"index": index})
    infos = []
    for _ in range(max_steps):
        *_, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        infos.append(info)
        if terminated or truncated:
            break
    return infos


# ---------------------------------------------------------------------------------------------------------------
# repositories and mutations
# ---------------------------------------------------------------------------------------------------------------


def test_four_repositories_pass_their_own_tests(local):
    assert set(REPOSITORIES) == {"rpn", "intervals", "textkit", "ledger"}
    for repository in REPOSITORIES.values():
        assert all(text.isascii() for text in repository.files.values())
        assert len(repository.visible) >= 5 and len(repository.hidden) >= 25
        suite = run_cases(local, repository, repository.files, repository.visible + repository.hidden)
        assert suite.all_passed, [c for c in suite.cases if not c.passed]
        # the rendered visible tests are an ordinary unittest module that passes
        shell = local.run(RunRequest(files=repository.workspace(), command=("python3", "-m", "unittest", "-q")))
        assert shell.status == "ok" and f"Ran {len(repository.visible)} tests" in shell.stderr


def test_mutation_sites_are_deterministic_and_the_fix_edit_inverts_them():
    total = 0
    for repository in REPOSITORIES.values():
        for path, source in repository.files.items():
            for operator in OPERATORS:
                sites = find_sites(source, operator)
                assert sites == find_sites(source, operator)
                for site in sites:
                    mutant = apply_site(source, site)
                    assert mutant != source
                    compile(mutant, path, "exec")
                    old, new = fix_edit(source, site)
                    assert mutant.count(old) == 1 and mutant.replace(old, new) == source
                    total += 1
    assert total == len(candidates()) > 200
    with pytest.raises(ValueError, match="unknown mutation operator"):
        find_sites("x = 1", "invert_everything")


def changed_line(source: str, site) -> str:
    """The (stripped) line of the mutant that differs from ``source``."""
    pairs = zip(source.splitlines(), apply_site(source, site).splitlines())
    return next(new for old, new in pairs if old != new).strip()


def test_each_operator_makes_the_documented_change():
    source = ("def f(a, b, xs):\n    if not a < b:\n        return -a\n    total = a + b\n"
              "    for i in range(1, len(xs)):\n        total = max(a, b)\n    return total\n")
    changed = {op: [changed_line(source, site) for site in find_sites(source, op)] for op in OPERATORS}
    assert "if not a <= b:" in changed["flip_comparison"]
    assert {"for i in range(2, len(xs)):", "for i in range(1, len(xs) - 1):"} <= set(changed["off_by_one"])
    assert "total = max(b, a)" in changed["swap_arguments"]
    assert "total = a - b" in changed["wrong_operator"]
    assert {"if a < b:", "return a"} <= set(changed["drop_negation"])
    assert changed["wrong_return"] == ["return a", "return b"]
    assert find_sites("x = a < b\n", "flip_comparison") == []  # module-level code is never mutated


def test_catalogue_covers_every_candidate_and_matches_the_repositories():
    mutants = load()
    kept = {(m.repo, m.path, m.operator, m.index) for m in mutants}
    dropped = {row[:4] for row in verified.DISCARDED}
    assert kept.isdisjoint(dropped)
    assert kept | dropped == {c[:4] for c in candidates()}
    assert len(mutants) >= 150 and {m.repo for m in mutants} == set(REPOSITORIES)
    assert {m.operator for m in mutants} == set(OPERATORS)
    assert all(m.failing_hidden and m.issue for m in mutants)


def test_sampled_mutants_fail_a_hidden_test_when_rerun(local):
    """Re-verify a seeded sample through the real harness: the catalogue's verdicts reproduce."""
    by_key = {(m.repo, m.path, m.operator, m.index): m for m in load()}
    everything = candidates()
    sample = random.Random(0).sample(everything, 8)
    for candidate in sample:
        verdict = verify(local, candidate)
        key = candidate[:4]
        if key in by_key:
            assert verdict == by_key[key]
            files = by_key[key].files()
            repository = by_key[key].repository
            suite = run_cases(local, repository, files, repository.hidden)
            assert not suite.all_passed
        else:
            assert verdict in verified.DISCARDED


@pytest.mark.slow
def test_full_catalogue_rebuild_matches_the_shipped_one():
    from reasongym.tasks.swe.build_catalogue import build, render

    with make_sandbox("auto") as sandbox:
        mutants, discarded = build(sandbox)
    shipped = inspect.getsource(verified)
    assert render(mutants, discarded) == shipped


def test_source_is_seeded_and_filterable():
    a, b, c = RepoFixSource(seed=0), RepoFixSource(seed=0), RepoFixSource(seed=1)
    assert [a[i].id for i in range(20)] == [b[i].id for i in range(20)]
    assert [a[i].id for i in range(20)] != [c[i].id for i in range(20)]
    only = RepoFixSource(repos=["ledger"], operators=["flip_comparison", "wrong_operator"])
    assert {only[i].metadata["mutant"].repo for i in range(len(only))} == {"ledger"}
    assert {only[i].metadata["mutant"].operator for i in range(len(only))} <= {"flip_comparison", "wrong_operator"}
    with pytest.raises(ValueError, match="unknown repository"):
        RepoFixSource(repos=["django"])
    with pytest.raises(TypeError, match="list"):
        RepoFixSource(repos="rpn")


# ---------------------------------------------------------------------------------------------------------------
# the environment
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", sorted(REPOSITORIES))
def test_scripted_agent_fixes_the_bug_locally(local, repo):
    env = make_env(local, repos=[repo])
    for index in range(2):
        infos = run_oracle(env, index)
        names = [c["name"] for info in infos for c in info["calls"]]
        assert names == ["view_file", "edit_file", "run_tests", "submit"]
        assert infos[-1]["reward_parts"]["outcome"] == 1.0
        assert infos[-1]["hidden_passed"] == infos[-1]["hidden_total"] == len(REPOSITORIES[repo].hidden)


@pytest.mark.docker
def test_scripted_agent_fixes_bugs_in_docker():
    try:
        sandbox = make_sandbox("docker")
    except SandboxError as exc:
        pytest.skip(f"no Docker sandbox: {exc}")
    with sandbox:
        env = gym.make("reason/RepoFix-v0", sandbox=sandbox)
        for index in range(4):
            infos = run_oracle(env, index)
            assert infos[-1]["reward_parts"]["outcome"] == 1.0
            assert sum(i["reward_parts"]["step"] for i in infos) >= env.unwrapped.edit_reward


def test_submitting_the_bug_fails_and_ends_the_episode(local):
    env = make_env(local)
    env.reset(options={"index": 0})
    _, reward, terminated, truncated, info = env.step(call("submit"))
    assert (terminated, truncated) == (True, False)
    assert info["reward_parts"]["outcome"] == 0.0 and reward == 0.0
    assert set(info["failing_hidden"]) >= set(env.item.metadata["mutant"].failing_hidden)


def test_hidden_tests_never_reach_the_agents_workspace(recorder):
    env = make_env(recorder)
    observation, _ = env.reset(options={"index": 5})
    repository = env.item.metadata["mutant"].repository
    hidden_names = [case.name for case in repository.hidden]
    fix = env.item.answer
    text = "\n".join(message_text(m) for m in observation)
    for action in (call("view_file", path="."), call("shell", command="ls -R; cat tests/*.py"),
                   call("run_tests"), call("edit_file", path=fix.path, old_str=fix.old, new_str=fix.new)):
        observation, *_ = env.step(action)
        text += "\n".join(message_text(m) for m in observation)
    assert not any(name in text for name in hidden_names)
    assert all(name not in content for request in recorder.requests for content in map(str, request.files.values())
               for name in hidden_names)
    assert not any(name in "".join(env.unwrapped.session.workspace()) for name in hidden_names)
    before = len(recorder.requests)
    env.step(call("submit"))
    (grading,) = recorder.requests[before:]
    job = json.loads(grading.files["job.json"])
    assert [c["name"] for c in job["cases"]] == hidden_names  # the hidden cases travel only to grade the submission
    assert all("expected" not in c and "raises" not in c for c in job["cases"])


@pytest.mark.parametrize("action, problem", [
    ("I think the bug is in calc.py.", "no tool call found"),
    ("\\boxed{0}", "no tool call found"),
    ("<tool_call>{\"name\": \"view_file\", \"arguments\": {\"path\": </tool_call>", "invalid JSON"),
    ("<tool_call>{\"name\": \"view_file\"", "never closed"),
    ("<tool_call>[1, 2]</tool_call>", "expected a JSON object"),
    (call("rm_rf"), "'rm_rf' is not valid"),
    (call("view_file"), "'view_file' is not valid"),
    (call("view_file", path=3), "'view_file' is not valid"),
    (call("edit_file", path="x", old="a", new="b"), "'edit_file' is not valid"),
    ("".join(call("view_file", path=".") for _ in range(5)), "more than 4 tool calls"),
])
def test_malformed_tool_calls_are_penalised_without_exceptions(recorder, action, problem):
    env = make_env(recorder)
    env.reset(seed=0)
    observation, reward, terminated, truncated, info = env.step(action)
    assert info["valid_action"] is False and not terminated and not truncated
    assert info["reward_parts"] == {"outcome": 0.0, "step": 0.0, "format": -0.1} and reward == pytest.approx(-0.1)
    assert problem in message_text(observation[-1]) and observation[-1]["role"] == "user"
    assert recorder.requests == []  # nothing ran in the sandbox


def test_tool_errors_are_valid_calls_with_readable_messages(local):
    env = make_env(local)
    env.reset(options={"index": 0})
    path = env.item.answer.path
    for action, message in ((call("view_file", path="nope.py"), "does not exist"),
                            (call("view_file", path="../etc/passwd"), "leaves the workspace"),
                            (call("edit_file", path=path, old_str="no such text", new_str="x"), "was not found"),
                            (call("edit_file", path=path, old_str="\n", new_str="\n\n"), "occurs"),
                            (call("edit_file", path=env.item.metadata["mutant"].repository.test_path,
                                  old_str="import", new_str="x"), "read-only"),
                            (call("shell", command="  "), "empty")):
        observation, reward, *_, info = env.step(action)
        assert info["valid_action"] is True and reward == 0.0
        assert message in message_text(observation[0]) and observation[0]["role"] == "tool"


def test_step_rewards_pay_importable_edits_and_newly_passing_visible_tests(local):
    env = make_env(local)
    index = index_where(env, lambda m: len(m.failing_visible) >= 1)
    env.reset(options={"index": index})
    fix, mutant = env.item.answer, env.item.metadata["mutant"]
    init = mutant.repository.files[f"{mutant.repo}/__init__.py"]
    first_line = init.splitlines()[0]

    def step(action: str) -> float:
        return env.step(action)[4]["reward_parts"]["step"]

    # farmable: every edit after which the package imports pays edit_reward
    assert step(call("edit_file", path=f"{mutant.repo}/__init__.py", old_str=first_line,
                     new_str=first_line + "\n# note")) == pytest.approx(0.05)
    assert step(call("edit_file", path=f"{mutant.repo}/__init__.py", old_str="# note", new_str="# note 2")) == \
        pytest.approx(0.05)
    # a syntax error or an import error pays nothing
    observation, *_, info = env.step(call("edit_file", path=f"{mutant.repo}/__init__.py", old_str="# note 2",
                                          new_str="def ("))
    assert "no longer compiles" in message_text(observation[0]) and info["reward_parts"]["step"] == 0.0
    assert step(call("edit_file", path=f"{mutant.repo}/__init__.py", old_str="def (",
                     new_str="raise RuntimeError('boom')")) == 0.0
    assert step(call("edit_file", path=f"{mutant.repo}/__init__.py", old_str="raise RuntimeError('boom')",
                     new_str="")) == pytest.approx(0.05)
    # tests still failing pay nothing; the fix then pays test_reward once, spread over the broken tests
    assert step(call("run_tests")) == 0.0
    assert step(call("edit_file", path=fix.path, old_str=fix.old, new_str=fix.new)) == pytest.approx(0.05)
    assert step(call("run_tests")) == pytest.approx(0.5)
    assert step(call("run_tests")) == 0.0
    _, _, terminated, _, info = env.step(call("submit"))
    assert terminated and info["reward_parts"]["outcome"] == 1.0


def test_several_calls_in_one_message_run_in_order(local):
    env = make_env(local)
    env.reset(options={"index": 3})
    fix = env.item.answer
    observation, reward, terminated, _, info = env.step(
        call("view_file", path=fix.path) + "\nnow the fix:\n"
        + call("edit_file", path=fix.path, old_str=fix.old, new_str=fix.new) + call("submit") + call("run_tests"))
    assert [c["name"] for c in info["calls"]] == ["view_file", "edit_file", "submit"]  # submit ends the turn
    assert len(observation) == 3 and all(m["role"] == "tool" for m in observation)
    assert terminated and info["reward_parts"] == {"outcome": 1.0, "step": pytest.approx(0.05), "format": 0.0}


def test_shell_runs_in_a_throwaway_copy(local):
    env = make_env(local, shell_limits=Limits(timeout_s=1.0, memory_mb=256))
    env.reset(options={"index": 0})
    repository = env.item.metadata["mutant"].repository
    observation, *_ = env.step(call("shell", command="python3 -m unittest 2>&1 | tail -3"))
    assert f"Ran {len(repository.visible)} tests" in message_text(observation[0])
    path = env.item.answer.path
    before = env.unwrapped.session.files[path]
    observation, *_ = env.step(call("shell", command=f"echo broken > {path}; cat {path}"))
    assert "broken" in message_text(observation[0])
    assert env.unwrapped.session.files[path] == before
    observation, *_ = env.step(call("shell", command="sleep 5"))
    assert "timeout" in message_text(observation[0])


def test_edits_cannot_forge_a_passing_submission(local):
    env = make_env(local, repos=["rpn"])
    hacks = [
        "import os\nos._exit(0)",  # end the process before the tests run
        "print('@@reasongym-result 0 {\"tests\": []}')",  # print a fake result line
        "import rpn.calc as _c\nclass _Yes:\n    def __eq__(self, other):\n        return True\n"
        "_c.evaluate = lambda expression: _Yes()",  # answers that equal everything
        "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None",  # patch the test framework
    ]
    for hack in hacks:
        env.reset(options={"index": 0})
        env.step(call("edit_file", path="rpn/__init__.py", old_str="__all__ = [", new_str=f"{hack}\n__all__ = ["))
        *_, terminated, _, info = env.step(call("submit"))
        assert terminated and info["reward_parts"]["outcome"] == 0.0, hack


def test_turn_budget_truncates(local):
    env = make_env(local, max_turns=3)
    env.reset(options={"index": 0})
    for turn in range(3):
        _, _, terminated, truncated, info = env.step(call("view_file", path="."))
    assert (terminated, truncated) == (False, True)
    assert info["reward_parts"]["outcome"] == 0.0


def test_reset_forgets_the_previous_episode(local):
    env = make_env(local)
    env.reset(options={"index": 0})
    fix = env.item.answer
    env.step(call("edit_file", path=fix.path, old_str=fix.old, new_str=fix.new))
    env.reset(options={"index": 0})
    assert env.unwrapped.session.files == env.item.metadata["files"] != {}
    assert not env.unwrapped.session.viewed and not env.unwrapped.session.submitted


# ---------------------------------------------------------------------------------------------------------------
# G-RA on hand-made trajectories
# ---------------------------------------------------------------------------------------------------------------

# four harmless edits per turn (max_calls_per_turn) until the budget runs out, vs. view / fix / test / submit
FARM = [{"outcome": 0.0, "step": 0.2, "format": 0.0}] * 19 + [{"outcome": 0.0, "step": 0.0, "format": -0.1}]
FIX = [{"outcome": 0.0, "step": 0.0, "format": 0.0}, {"outcome": 0.0, "step": 0.05, "format": 0.0},
       {"outcome": 0.0, "step": 0.5, "format": 0.0}, {"outcome": 1.0, "step": 0.0, "format": 0.0}]


def returns(transform: RewardTransform, parts: Sequence[dict[str, float]]) -> list[float]:
    n = len(parts)
    return transform.apply(parts, response_lengths=[1] * n, valid_actions=[True] * n, max_length=8)


def test_gra_withholds_farmed_step_rewards():
    ungated = RewardTransform()
    assert sum(returns(ungated, FARM)) == pytest.approx(3.7)
    assert sum(returns(ungated, FARM)) > sum(returns(ungated, FIX))  # without the gate, farming pays best
    for mode in ("episode", "turn"):
        gated = RewardTransform(gate_threshold=1.0, gate_mode=mode, gated_parts=("step",))
        assert sum(returns(gated, FARM)) == pytest.approx(-0.1)  # only the (never gated) format penalty is left
        assert sum(returns(gated, FIX)) == pytest.approx(1.55)
    per_turn = returns(RewardTransform(gate_threshold=1.0, gate_mode="turn", gated_parts=("step",)), FIX)
    assert per_turn == pytest.approx([0.0, 0.05, 0.5, 1.0])  # each step reward stays at its turn
    assert returns(RewardTransform(gate_threshold=1.0, gate_mode="turn", gated_parts=("step",)), FARM)[-1] == \
        pytest.approx(-0.1)


def test_gra_per_turn_advantages_rank_the_fix_above_the_farm():
    gated = RewardTransform(gate_threshold=1.0, gate_mode="turn", gated_parts=("step",))
    turns = max(len(FARM), len(FIX))
    for transform, fix_wins in ((RewardTransform(gate_mode="turn"), False), (gated, True)):
        rows = [returns(transform, FARM), returns(transform, FIX)]
        turn_rewards = torch.tensor([r + [0.0] * (turns - len(r)) for r in rows])
        turn_mask = torch.tensor([[1.0] * len(r) + [0.0] * (turns - len(r)) for r in rows])
        advantages = per_turn_grpo_advantages(turn_rewards, turn_mask, [0, 0])
        first_turn = advantages[:, 0]
        assert bool(first_turn[1] > first_turn[0]) is fix_wins


def test_gated_wrapper_on_real_repofix_episodes(local):
    env = GatedRewardWrapper(make_env(local, max_turns=4), threshold=1.0, gated_parts=("step",))
    env.reset(options={"index": 0})
    init = f"{env.unwrapped.item.metadata['mutant'].repo}/__init__.py"
    paid = []
    for note in ("a", "b", "c"):
        action = call("edit_file", path=init, old_str="\n__all__", new_str=f"\n# {note}\n__all__")
        _, reward, *_, info = env.step(action)
        paid.append(reward)
    _, reward, terminated, _, info = env.step(call("submit"))
    assert paid == [0.0, 0.0, 0.0] and terminated
    assert info["gated_reward"]["withheld"] == pytest.approx(0.15) and info["gated_reward"]["paid"] == 0.0
    assert reward == 0.0 and info["raw_reward_parts"]["outcome"] == 0.0
    infos = run_oracle(env, 0)
    assert infos[-1]["gated_reward"]["gate_open"] and infos[-1]["gated_reward"]["paid"] > 0


# ---------------------------------------------------------------------------------------------------------------
# trainer integration: multi-turn tool episodes through the rollout collector
# ---------------------------------------------------------------------------------------------------------------


class ScriptedTinyPolicy(TransformersPolicy):
    """The tiny Qwen2's tokenizer and encoders with scripted texts: member ``i`` of the batch says
    ``scripts[i][turn]`` (tokenised exactly as the model's own samples would be)."""

    def __init__(self, scripts: Sequence[Sequence[str]]):
        super().__init__(*tiny_qwen2(seed=0))
        self.scripts = scripts
        self.turn = 0

    def generate_ids(self, prompts: Sequence[EncodedPrompt], sampling: SamplingParams, *,
                     seeds: Sequence[int] | None = None) -> list[Completion]:
        completions = []
        for member in range(len(prompts)):
            text = self.scripts[member][self.turn]
            ids = self.tokenizer.encode(text, add_special_tokens=False) + [min(self.eos_ids)]
            completions.append(Completion(text=text, token_ids=ids, logprobs=[-1.0] * len(ids)))
        self.turn += 1
        return completions


def _check_masks(batch: dict[str, torch.Tensor], trajectories) -> None:
    is_policy = batch["turn_index"] >= 0
    assert torch.equal(batch["loss_mask"] > 0, is_policy)  # environment and prompt tokens have loss mask 0
    for row, trajectory in enumerate(trajectories):
        assert int(batch["loss_mask"][row].sum()) == sum(trajectory.response_lengths)
        # every environment reply between two turns is masked
        turns = batch["turn_index"][row, : len(trajectory.token_ids)].tolist()
        gaps = [i for i in range(1, len(turns)) if turns[i] == -1 and turns[i - 1] >= 0]
        assert len(gaps) == trajectory.num_turns - 1


def test_collector_places_tool_turn_rewards_at_their_turns(local):
    source = RepoFixSource()
    index = 0
    fix = source[index].answer
    farm = [call("edit_file", path=fix.path, old_str=fix.old, new_str=fix.old + "  # look"),
            call("view_file", path="."), "not a tool call"]
    solve = [call("view_file", path=fix.path), call("edit_file", path=fix.path, old_str=fix.old, new_str=fix.new),
             call("submit")]
    transform = RewardTransform(gate_threshold=1.0, gate_mode="turn", gated_parts=("step",))
    policy = ScriptedTinyPolicy([farm, solve])
    collector = RolloutCollector(RepoFixEnv, {"sandbox": local, "max_turns": 3}, policy, group_size=2,
                                 sampling=SamplingParams(max_tokens=512), reward_transform=transform)
    farmer, solver = collector.collect([index], seed=0)
    assert (farmer.truncated, farmer.terminated) == (True, False)
    assert (solver.terminated, solver.truncated) == (True, False)
    assert [p["step"] for p in farmer.reward_parts] == pytest.approx([0.05, 0.0, 0.0])
    assert farmer.rewards == pytest.approx([0.0, 0.0, -0.1])  # gate closed: the farmed edit pays nothing
    assert solver.rewards == pytest.approx([0.0, 0.05, 1.0])  # gate open: each reward at its own turn
    batch = collate_trajectories([farmer, solver], policy.pad_id)
    _check_masks(batch, [farmer, solver])
    for row, trajectory in enumerate((farmer, solver)):
        positions = trajectory.last_policy_positions()
        assert batch["token_level_rewards"][row, positions].tolist() == pytest.approx(trajectory.rewards)
        assert float(batch["token_level_rewards"][row].abs().sum()) == pytest.approx(sum(map(abs, trajectory.rewards)))
    # per-turn GRPO over the two episodes, put back on their tokens: environment tokens get no advantage
    turn_rewards = torch.tensor([farmer.rewards, solver.rewards])
    turn_advantages = per_turn_grpo_advantages(turn_rewards, torch.ones_like(turn_rewards), [0, 0])
    token_advantages = broadcast_turn_advantages(turn_advantages, batch["turn_index"])
    assert torch.all(token_advantages[batch["loss_mask"] == 0] == 0)
    for row in range(2):
        for turn in range(3):
            on_turn = token_advantages[row][batch["turn_index"][row] == turn]
            assert on_turn.numel() > 0 and torch.all(on_turn == turn_advantages[row, turn])
    assert bool(turn_advantages[1, 0] > turn_advantages[0, 0])  # the solver's opening turn is credited


def test_collector_with_the_tiny_model_truncates_at_the_turn_budget(local):
    policy = TransformersPolicy(*tiny_qwen2(seed=0))
    transform = RewardTransform(gate_threshold=1.0, gate_mode="turn", gated_parts=("step",))
    collector = RolloutCollector(RepoFixEnv, {"sandbox": local, "max_turns": 3}, policy, group_size=2,
                                 sampling=SamplingParams(max_tokens=12), reward_transform=transform)
    trajectories = collector.collect([1], seed=0)
    for trajectory in trajectories:
        assert trajectory.truncated and not trajectory.terminated and trajectory.num_turns == 3
        assert trajectory.valid_actions == [False, False, False]  # random bytes are no tool call
        assert trajectory.rewards == pytest.approx([-0.1, -0.1, -0.1])  # the format penalty at every turn
    _check_masks(collate_trajectories(trajectories, policy.pad_id), trajectories)


# ---------------------------------------------------------------------------------------------------------------
# the TRL adapter (environment_factory), driven the way GRPOTrainer drives it
# ---------------------------------------------------------------------------------------------------------------


def trl_tools(environment: TRLEnvironment) -> dict[str, Any]:
    """The methods GRPOTrainer exposes as tools (its own selection rule)."""
    return {name: getattr(environment, name) for name, _ in inspect.getmembers(type(environment), inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")}


def test_trl_adapter_exposes_repofix_tools_and_owns_the_reward(local):
    from transformers.utils import get_json_schema

    factory = trl_environment_factory("reason/RepoFix-v0", gate_threshold=1.0, sandbox=local)
    environment = factory()
    tools = trl_tools(environment)
    assert set(tools) == {"view_file", "edit_file", "shell", "run_tests", "submit"}
    schemas = {name: get_json_schema(method)["function"] for name, method in tools.items()}
    assert schemas["edit_file"]["parameters"]["required"] == ["path", "old_str", "new_str"]
    assert schemas["view_file"]["parameters"]["properties"]["start_line"]["type"] == "integer"
    row = trl_dataset_rows(4, num_items=3)[2]
    text = environment.reset(**row)
    assert "Bug report" in text and "<tools>" not in text  # TRL renders the tools itself
    fix = environment.env.unwrapped.item.answer
    assert environment.get_reward() == 0.0
    assert "lines" in tools["view_file"](path=fix.path)
    assert "imports cleanly" in tools["edit_file"](path=fix.path, old_str=fix.old, new_str=fix.new)
    assert "accepted" in tools["submit"]()
    assert tools["run_tests"]() == "The episode is over; no further tool calls are needed."
    assert environment.get_reward() == pytest.approx(1.05)
    # a farming rollout gets nothing through the gate
    environment.reset(**row)
    init = f"{environment.env.unwrapped.item.metadata['mutant'].repo}/__init__.py"
    tools["edit_file"](path=init, old_str="\n__all__", new_str="\n# x\n__all__")
    tools["submit"]()
    assert environment.get_reward() == 0.0


def test_trl_adapter_wraps_envs_without_tools():
    environment = trl_environment_factory("reason/Arithmetic-v0")()
    tools = trl_tools(environment)
    assert list(tools) == ["respond"]
    text = environment.reset(seed=3)
    answer = environment.env.unwrapped.item.answer
    assert environment.env.unwrapped.item.prompt in text
    tools["respond"](text=f"\\boxed{{{answer}}}")
    assert environment.get_reward() == 1.0
