"""``reasongym eval``: run a policy on the first N tasks of an env, k samples each, and summarise.

Samples are written to ``<out>/samples.jsonl`` one line at a time as episodes finish, so a crash loses
at most the batch in flight, and ``resume=True`` skips the (task, sample) pairs already written.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import gymnasium as gym
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from reasongym.agents.base import Policy, SamplingParams
from reasongym.agents.loop import Episode, PolicyFor, play
from reasongym.envs.spaces import message_text
from reasongym.evaluation.metrics import k_values, majority_correct, pass_at_k


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how."""

    env_id: str
    k: int = 1
    max_tasks: int | None = None
    #: evaluate items ``first_index, first_index + 1, ...`` (e.g. a held-out tail of a procedural range)
    first_index: int = 0
    batch_size: int = 8
    seed: int = 0
    env_kwargs: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.max_tasks is not None and self.max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, got {self.max_tasks}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.first_index < 0:
            raise ValueError(f"first_index must be >= 0, got {self.first_index}")


def _record(env_id: str, index: int, sample: int, episode: Episode) -> dict[str, Any]:
    """One JSONL line: enough to audit a sample without re-running it."""
    info = episode.final_info
    parts = episode.reward_parts
    correct = bool(info["correct"]) if "correct" in info else parts.get("outcome", 0.0) >= 1.0
    completions = [s.completion for s in episode.steps]
    return {
        "env_id": env_id,
        "index": index,
        "task_id": episode.reset_info.get("task_id"),
        "sample": sample,
        "prompt": "\n".join(message_text(m) for m in episode.first_observation),
        "response": completions[-1].text if completions else "",
        "responses": [c.text for c in completions] if len(completions) > 1 else None,
        "reward": episode.total_reward,
        "reward_parts": parts,
        "pred": info.get("pred"),
        "gold": info.get("gold"),
        "correct": correct,
        "format_ok": info.get("format_ok"),
        "valid_action": all(s.info.get("valid_action", True) for s in episode.steps),
        "turns": len(episode.steps),
        "terminated": episode.terminated,
        "truncated": episode.truncated,
        "response_chars": sum(len(c.text) for c in completions),
        "response_tokens": sum(len(c.token_ids) for c in completions),
        "finish_reasons": [c.finish_reason for c in completions],
    }


def _jobs(indices: range, k: int, done: set[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(i, s) for i in indices for s in range(k) if (i, s) not in done]


def _batches(items: Sequence[tuple[int, int]], size: int) -> Iterator[Sequence[tuple[int, int]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def summarise(records: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    """Aggregate sample records into the summary written to ``summary.json``."""
    by_task: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["index"], []).append(r)
    for samples in by_task.values():
        samples.sort(key=lambda r: r["sample"])
    complete = {i: s for i, s in by_task.items() if len(s) >= k}
    summary: dict[str, Any] = {"tasks": len(complete), "samples": len(records), "k": k}
    for kk in k_values(k):
        summary[f"pass@{kk}"] = float(np.mean([pass_at_k(len(s), sum(r["correct"] for r in s), kk)
                                                 for s in complete.values()])) if complete else 0.0
    summary[f"avg@{k}"] = float(np.mean([r["correct"] for r in records])) if records else 0.0
    summary[f"maj@{k}"] = float(np.mean([majority_correct([r["pred"] for r in s[:k]], [r["correct"] for r in s[:k]])
                                         for s in complete.values()])) if complete else 0.0
    rewards = [r["reward"] for r in records]
    summary["reward_mean"] = float(np.mean(rewards)) if rewards else 0.0
    parts: dict[str, list[float]] = {}
    for r in records:
        for name, value in r["reward_parts"].items():
            parts.setdefault(name, []).append(value)
    summary["reward_parts_mean"] = {name: float(np.mean(v)) for name, v in parts.items()}
    formats = [r["format_ok"] for r in records if r["format_ok"] is not None]
    summary["format_rate"] = float(np.mean(formats)) if formats else None
    summary["valid_action_rate"] = float(np.mean([r["valid_action"] for r in records])) if records else 0.0
    chars = [r["response_chars"] for r in records]
    tokens = [r["response_tokens"] for r in records]
    summary["response_chars_mean"] = float(np.mean(chars)) if chars else 0.0
    summary["response_chars_max"] = int(max(chars)) if chars else 0
    summary["response_tokens_mean"] = float(np.mean(tokens)) if tokens else 0.0
    summary["truncated_rate"] = float(np.mean([r["truncated"] for r in records])) if records else 0.0
    return summary


def evaluate(config: EvalConfig, policy: Policy | PolicyFor, sampling: SamplingParams, out_dir: str | Path,
             *, resume: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Evaluate ``policy`` under ``config``; write samples, summary and report to ``out_dir``."""
    from reasongym.evaluation.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples_path = out / "samples.jsonl"
    records: list[dict[str, Any]] = []
    if resume and samples_path.exists():
        records = [json.loads(line) for line in samples_path.read_text().splitlines() if line.strip()]
    elif samples_path.exists():
        samples_path.unlink()
    envs = [gym.make(config.env_id, **(config.env_kwargs or {})) for _ in range(config.batch_size)]
    try:
        size = len(envs[0].unwrapped.source)
        if config.first_index >= size:
            raise ValueError(f"first_index {config.first_index} is past the {size} items of {config.env_id}")
        last = size if config.max_tasks is None else min(size, config.first_index + config.max_tasks)
        jobs = _jobs(range(config.first_index, last), config.k, {(r["index"], r["sample"]) for r in records})
        started = time.perf_counter()
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, disable=not show_progress) as progress, samples_path.open("a") as sink:
            bar = progress.add_task(f"eval {config.env_id}", total=len(jobs))
            for batch_no, batch in enumerate(_batches(jobs, config.batch_size)):
                batch_sampling = replace(sampling, seed=config.seed * 1_000_003 + batch_no)
                episodes = play(envs[:len(batch)], policy, batch_sampling,
                                [{"seed": config.seed + index * config.k + sample, "options": {"index": index}}
                                 for index, sample in batch])
                for (index, sample), episode in zip(batch, episodes):
                    record = _record(config.env_id, index, sample, episode)
                    sink.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                    records.append(record)
                sink.flush()
                progress.advance(bar, len(batch))
        elapsed = time.perf_counter() - started
    finally:
        for env in envs:
            env.close()
    summary = {"env_id": config.env_id, **summarise(records, config.k), "seconds": round(elapsed, 3),
               "sampling": asdict(sampling), "config": asdict(config)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    write_report(summary, records, out / "report.md")
    return summary
