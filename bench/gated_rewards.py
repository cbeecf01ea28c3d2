"""G-RA on reason/RepoFix-v0: does gating stop a learner from farming step rewards?

The learner is NOT a language model (a tiny model trained from scratch cannot fix code): it is a tabular
softmax policy over five scripted macro-actions, each one real tool call in the real RepoFix env (Docker
sandbox by default), conditioned on what the learner itself knows (has it viewed the buggy file? has it
applied the fix?) -- a 4 x 5 table of logits:

=========== =========================================================================================
``inspect`` ``view_file`` of the buggy file (the learner is told which file: the bug report and a look at
            the traceback would tell a real agent)
``fix``     after ``inspect``: ``edit_file`` with the inverse of the mutation; before it, the learner has
            not seen the code and its guessed ``old_str`` (the correct text) is not in the file, so the
            tool answers with an error
``tinker``  a harmless edit (a comment line in ``<package>/__init__.py``): the package still imports, so
            it earns the env's farmable ``edit_reward``
``test``    ``run_tests``: pays ``test_reward`` once when the bug broke visible tests and they now pass
``submit``  ends the episode; outcome 1 when every hidden test passes
=========== =========================================================================================

Rewards: the env's own parts with ``edit_reward=0.2`` and one call per turn (0.2 per turn is what four
edits per message earn under the defaults, ``max_calls_per_turn=4`` x 0.05), ``max_turns=10``. Farming the
whole budget then earns 2.0 of step reward, more than a fix (1.0 outcome + 0.2 for the edit + up to 0.5
for tests), so an ungated learner is paid to farm.

Training: each iteration plays ``--tasks`` task items x ``--group`` episodes (a GRPO group per item),
turns each episode's reward parts into a return with :class:`reasongym.training.rewards.RewardTransform`
(``gate_mode="episode"``; ungated: no threshold, gated: ``gate_threshold=1.0`` on the ``step`` part), gets
GRPO advantages with :func:`reasongym.training.advantages.grpo_advantages` (turns play the role of tokens)
and takes a REINFORCE step on the logits: ``logits[s] += lr * mean(A * (onehot(a) - pi(s)))`` over the
turns that visited ``s``. Both runs use the same seeds, tasks and initial (uniform) policy.

    python bench/gated_rewards.py                       # 40 iterations x 16 episodes per run, Docker
    python bench/gated_rewards.py --quick               # 12 iterations
    python bench/gated_rewards.py --sandbox local       # without Docker (weaker isolation, same rewards)

Prints the outcome rate, the step reward per episode and the tinker probability at the start and the end
of each run, and writes ``metrics.json`` and ``gated_rewards.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reasongym.envs.swe import RepoFixEnv
from reasongym.runtime.sandbox import make_sandbox
from reasongym.runtime.sandbox.base import Sandbox
from reasongym.runtime.sandbox.errors import WeakIsolationWarning
from reasongym.tasks.tools.calls import ToolCall
from reasongym.training.advantages import grpo_advantages
from reasongym.training.rewards import RewardTransform

ACTIONS = ("inspect", "fix", "tinker", "test", "submit")
TINKER = ACTIONS.index("tinker")
#: the learner's state: (has viewed the buggy file, has applied the fix)
STATES = ((False, False), (True, False), (False, True), (True, True))
ENV_KWARGS = {"max_turns": 10, "max_calls_per_turn": 1, "edit_reward": 0.2, "test_reward": 0.5}


@dataclass
class Episode:
    """One played episode: the learner's (state, action) per turn and the env's reward parts per turn."""

    states: list[int] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    parts: list[dict[str, float]] = field(default_factory=list)
    valid: list[bool] = field(default_factory=list)

    @property
    def outcome(self) -> float:
        return sum(p["outcome"] for p in self.parts)

    @property
    def step_total(self) -> float:
        return sum(p["step"] for p in self.parts)


def tool_call(action: str, env: RepoFixEnv, viewed: bool, tinkers: int) -> str:
    """The tool call a macro-action makes in the current episode."""
    fix = env.item.answer
    package = env.item.metadata["mutant"].repo
    if action == "inspect":
        return ToolCall("view_file", {"path": fix.path}).render()
    if action == "fix":  # without having read the code, the guessed old_str is the correct text: not there
        old = fix.old if viewed else fix.new
        return ToolCall("edit_file", {"path": fix.path, "old_str": old, "new_str": fix.new}).render()
    if action == "tinker":
        return ToolCall("edit_file", {"path": f"{package}/__init__.py", "old_str": "\n__all__",
                                      "new_str": f"\n# note {tinkers}\n__all__"}).render()
    return ToolCall("run_tests" if action == "test" else "submit").render()


def play(env: RepoFixEnv, index: int, logits: np.ndarray, rng: np.random.Generator) -> Episode:
    """One episode on task ``index`` with actions sampled from ``softmax(logits[state])``."""
    env.reset(options={"index": index})
    episode, viewed, fixed, tinkers = Episode(), False, False, 0
    while True:
        state = STATES.index((viewed, fixed))
        probabilities = softmax(logits[state])
        action = int(rng.choice(len(ACTIONS), p=probabilities))
        _, _, terminated, truncated, info = env.step(tool_call(ACTIONS[action], env, viewed, tinkers))
        episode.states.append(state)
        episode.actions.append(action)
        episode.parts.append(info["reward_parts"])
        episode.valid.append(info["valid_action"])
        viewed = viewed or ACTIONS[action] == "inspect"
        fixed = fixed or (ACTIONS[action] == "fix" and all(info["tool_ok"]) and viewed)
        tinkers += ACTIONS[action] == "tinker"
        if terminated or truncated:
            return episode


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def policy_gradient(episodes: list[Episode], groups: list[int], transform: RewardTransform,
                    logits: np.ndarray) -> np.ndarray:
    """REINFORCE with GRPO advantages on the episodes' transformed returns; turns stand in for tokens."""
    width = max(len(e.parts) for e in episodes)
    rewards = torch.zeros(len(episodes), width)
    mask = torch.zeros(len(episodes), width)
    for row, episode in enumerate(episodes):
        n = len(episode.parts)
        per_turn = transform.apply(episode.parts, response_lengths=[1] * n, valid_actions=episode.valid, max_length=1)
        rewards[row, :n] = torch.tensor(per_turn)
        mask[row, :n] = 1.0
    advantages = grpo_advantages(rewards, mask, groups)
    gradient = np.zeros_like(logits)
    for row, episode in enumerate(episodes):
        for turn, (state, action) in enumerate(zip(episode.states, episode.actions)):
            score = -softmax(logits[state])
            score[action] += 1.0
            gradient[state] += float(advantages[row, turn]) * score
    return gradient / len(episodes)


@dataclass
class Run:
    """One training run (ungated or gated) and its per-iteration metrics."""

    name: str
    transform: RewardTransform
    logits: np.ndarray = field(default_factory=lambda: np.zeros((len(STATES), len(ACTIONS))))
    history: list[dict[str, float]] = field(default_factory=list)


def train(run: Run, sandbox: Sandbox, args: argparse.Namespace) -> None:
    envs = [RepoFixEnv(sandbox=sandbox, seed=args.seed, **ENV_KWARGS) for _ in range(args.tasks * args.group)]
    n_items = len(envs[0].source)
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        for iteration in range(args.iterations):
            started = time.perf_counter()
            task_rng = np.random.default_rng([args.seed, iteration])
            indices = [int(i) for i in task_rng.choice(n_items, size=args.tasks, replace=False)]
            jobs = [(envs[g * args.group + m], index, np.random.default_rng([args.seed, iteration, g, m]))
                    for g, index in enumerate(indices) for m in range(args.group)]
            episodes = list(pool.map(lambda job: play(job[0], job[1], run.logits, job[2]), jobs))
            groups = [g for g in range(args.tasks) for _ in range(args.group)]
            run.logits += args.lr * policy_gradient(episodes, groups, run.transform, run.logits)
            visits = np.bincount([s for e in episodes for s in e.states], minlength=len(STATES))
            tinker = sum(softmax(run.logits[s])[TINKER] * visits[s] for s in range(len(STATES))) / visits.sum()
            run.history.append({
                "iteration": iteration, "outcome_rate": float(np.mean([e.outcome for e in episodes])),
                "step_reward_per_episode": float(np.mean([e.step_total for e in episodes])),
                "turns_per_episode": float(np.mean([len(e.parts) for e in episodes])),
                "truncated_rate": float(np.mean([ACTIONS[e.actions[-1]] != "submit" for e in episodes])),
                "tinker_probability": float(tinker), "seconds": time.perf_counter() - started,
            })
            last = run.history[-1]
            print(f"[{run.name:>8}] it {iteration:3d}  outcome {last['outcome_rate']:.2f}  "
                  f"step/ep {last['step_reward_per_episode']:.2f}  turns {last['turns_per_episode']:.1f}  "
                  f"P(tinker) {last['tinker_probability']:.2f}  {last['seconds']:.1f}s", flush=True)


def window_mean(history: list[dict[str, float]], key: str, which: str, size: int) -> float:
    rows = history[:size] if which == "start" else history[-size:]
    return float(np.mean([r[key] for r in rows]))


def moving_average(values: list[float], size: int) -> np.ndarray:
    """The mean of each value and the ``size - 1`` before it (fewer at the start)."""
    cumulative = np.cumsum([0.0, *values])
    counts = np.minimum(np.arange(1, len(values) + 1), size)
    return (cumulative[1:] - cumulative[np.arange(1, len(values) + 1) - counts]) / counts


def plot(runs: list[Run], path: Path, smooth: int = 5) -> None:
    """Outcome rate, step reward per episode and P(tinker) per iteration: raw (thin) and a moving average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = (("outcome_rate", "outcome rate (all hidden tests pass)"),
            ("step_reward_per_episode", "step reward per episode"), ("tinker_probability", "P(tinker)"))
    figure, axes = plt.subplots(1, len(keys), figsize=(4.4 * len(keys), 3.6))
    for axis, (key, title) in zip(axes, keys):
        for run, colour in zip(runs, ("tab:red", "tab:blue")):
            x = [r["iteration"] for r in run.history]
            y = [r[key] for r in run.history]
            axis.plot(x, y, color=colour, alpha=0.25, linewidth=1)
            axis.plot(x, moving_average(y, smooth), color=colour, linewidth=2, label=run.name)
        axis.set_title(title)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle(f"RepoFix-v0: tabular softmax learner over 5 macro-actions, ungated vs G-RA (tau = 1); "
                    f"thick: {smooth}-iteration mean", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=4, help="task items (GRPO groups) per iteration")
    parser.add_argument("--group", type=int, default=4, help="episodes per task item")
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sandbox", default="docker", choices=("docker", "local", "auto"))
    parser.add_argument("--quick", action="store_true", help="12 iterations")
    parser.add_argument("--out", default="runs/bench/gated_rewards")
    args = parser.parse_args()
    if args.quick:
        args.iterations = 12
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [Run("ungated", RewardTransform()),
            Run("gated", RewardTransform(gate_threshold=1.0, gate_mode="episode", gated_parts=("step",)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakIsolationWarning)
        sandbox = make_sandbox(args.sandbox)
    started = time.perf_counter()
    with sandbox:
        for run in runs:
            train(run, sandbox, args)
    elapsed = time.perf_counter() - started
    size = max(1, min(5, args.iterations // 4))
    summary: dict[str, Any] = {"learner": "tabular softmax over 5 macro-actions x 4 states (not a language model)",
                               "env": "reason/RepoFix-v0 (real env, sandbox: " + args.sandbox + ")",
                               "env_kwargs": ENV_KWARGS, "args": vars(args), "seconds": round(elapsed, 1),
                               "episodes": 2 * args.iterations * args.tasks * args.group, "window": size}
    for run in runs:
        summary[run.name] = {f"{key}_{which}": round(window_mean(run.history, key, which, size), 3)
                             for key in ("outcome_rate", "step_reward_per_episode", "tinker_probability",
                                         "turns_per_episode") for which in ("start", "end")}
        summary[run.name]["final_policy"] = {
            f"viewed={v},fixed={f}": dict(zip(ACTIONS, softmax(run.logits[s]).round(3).tolist()))
            for s, (v, f) in enumerate(STATES)}
    (out / "metrics.json").write_text(json.dumps({"summary": summary, **{r.name: r.history for r in runs}}, indent=2))
    plot(runs, out / "gated_rewards.png")
    print(json.dumps({k: v for k, v in summary.items() if k in ("ungated", "gated", "seconds", "episodes")}, indent=2))
    print(f"curves: {out / 'gated_rewards.png'}")


if __name__ == "__main__":
    main()
