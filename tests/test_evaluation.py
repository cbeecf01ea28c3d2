"""`reasongym eval`: metrics, files written, resume, multi-turn envs, and the command line."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import pytest

from reasongym.agents.base import Completion, SamplingParams
from reasongym.agents.oracle import OraclePolicy
from reasongym.agents.scripted import RandomPolicy
from reasongym.evaluation.metrics import k_values, majority_correct, pass_at_k
from reasongym.evaluation.runner import EvalConfig, evaluate

from conftest import REPO


@pytest.mark.parametrize("n,c", [(5, 0), (5, 1), (5, 3), (8, 8), (10, 4)])
def test_pass_at_k_matches_enumeration(n, c):
    outcomes = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(range(n), k))
        expected = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_majority_and_k_values():
    assert majority_correct(["4", "5", "4"], [True, False, True])
    assert not majority_correct(["5", "5", "4"], [False, False, True])
    assert not majority_correct([None, None], [False, False])
    assert k_values(1) == [1] and k_values(8) == [1, 2, 4, 8] and k_values(6) == [1, 2, 4, 6]


class _AlternatingPolicy:
    """Correct on even-numbered calls to each env, wrong otherwise: a known pass@k profile."""

    def __init__(self):
        self.calls = 0

    def __call__(self, envs):
        oracle = OraclePolicy(envs)

        class _Bound:
            def generate(inner, conversations, sampling):
                out = []
                for env, completion in zip(envs, oracle.generate(conversations, sampling)):
                    self.calls += 1
                    out.append(completion if self.calls % 2 == 0 else Completion(text="\\boxed{-1}"))
                return out

        return _Bound()


def test_eval_writes_samples_summary_and_report(tmp_path):
    config = EvalConfig("reason/Arithmetic-v0", k=4, max_tasks=5, batch_size=4)
    summary = evaluate(config, _AlternatingPolicy(), SamplingParams(), tmp_path, show_progress=False)
    lines = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 20 and summary["samples"] == 20 and summary["tasks"] == 5
    assert {"prompt", "response", "reward_parts", "pred", "gold", "correct"} <= set(lines[0])
    assert summary["avg@4"] == pytest.approx(0.5)
    per_task = [sum(r["correct"] for r in lines if r["index"] == i) for i in range(5)]
    assert summary["pass@2"] == pytest.approx(sum(pass_at_k(4, c, 2) for c in per_task) / 5)
    assert json.loads((tmp_path / "summary.json").read_text())["pass@4"] == summary["pass@4"]
    report = (tmp_path / "report.md").read_text()
    assert "# Evaluation of `reason/Arithmetic-v0`" in report and "## Examples" in report


def test_eval_resume_keeps_finished_samples(tmp_path):
    config = EvalConfig("reason/Countdown-v0", k=2, max_tasks=3, batch_size=2)
    evaluate(config, OraclePolicy, SamplingParams(), tmp_path, show_progress=False)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    (tmp_path / "samples.jsonl").write_text("\n".join(lines[:4]) + "\n")  # as if it crashed after 4 samples
    summary = evaluate(config, OraclePolicy, SamplingParams(), tmp_path, resume=True, show_progress=False)
    resumed = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert resumed[:4] == lines[:4] and len(resumed) == 6
    assert summary["pass@1"] == 1.0


def test_eval_multi_turn_env_counts_turns(tmp_path):
    config = EvalConfig("reason/Arithmetic-v0", k=1, max_tasks=4, env_kwargs={"max_attempts": 3})
    summary = evaluate(config, RandomPolicy(seed=1), SamplingParams(), tmp_path, show_progress=False)
    lines = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert all(r["turns"] == 3 and r["responses"] and len(r["responses"]) == 3 for r in lines if not r["correct"])
    assert math.isfinite(summary["reward_mean"])


def test_cli_list_and_eval(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "reasongym.cli", "list"], capture_output=True, text=True,
                             cwd=REPO, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert listing.returncode == 0, listing.stderr
    assert "reason/Countdown-v0" in listing.stdout and "procedural" in listing.stdout
    run = subprocess.run([sys.executable, "-m", "reasongym.cli", "eval", "reason/Countdown-v0", "--policy", "oracle",
                          "-k", "2", "--max-tasks", "3", "--out", str(tmp_path), "--env-kwarg", "level=2"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["pass@2"] == 1.0
    bad = subprocess.run([sys.executable, "-m", "reasongym.cli", "eval", "reason/Nope-v0", "--policy", "oracle"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode != 0 and "unknown environment" in (bad.stdout + bad.stderr)
