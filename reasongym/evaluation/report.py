"""The markdown report of an evaluation: summary table, per-task table and example samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

MAX_TASK_ROWS = 50
EXAMPLE_CHARS = 1500


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def _example(title: str, record: dict[str, Any]) -> list[str]:
    response = record["response"]
    if len(response) > EXAMPLE_CHARS:
        response = response[:EXAMPLE_CHARS] + f"\n… ({len(record['response']) - EXAMPLE_CHARS} more characters)"
    return [f"### {title}: task {record['task_id']} (sample {record['sample']})", "",
            f"gold: `{record['gold']}` · pred: `{record['pred']}` · reward parts: `{record['reward_parts']}`", "",
            "```text", response.replace("```", "ʼʼʼ"), "```", ""]


def render_report(summary: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    """The report as markdown text."""
    lines = [f"# Evaluation of `{summary['env_id']}`", "",
             f"{summary['tasks']} tasks × k={summary['k']} ({summary['samples']} samples) in "
             f"{summary['seconds']} s.", "", "| metric | value |", "| --- | --- |"]
    skip = {"env_id", "sampling", "config", "reward_parts_mean", "tasks", "samples", "k", "seconds"}
    lines += [f"| {name} | {_fmt(value)} |" for name, value in summary.items() if name not in skip]
    lines += [f"| reward part `{name}` (mean) | {_fmt(value)} |"
              for name, value in summary["reward_parts_mean"].items()]
    lines += ["", "## Per task", "", "| index | task | gold | correct / samples | preds |", "| --- | --- | --- | --- | --- |"]
    by_task: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["index"], []).append(r)
    for index in sorted(by_task)[:MAX_TASK_ROWS]:
        samples = by_task[index]
        preds = ", ".join(f"`{str(r['pred'])[:30]}`" for r in samples[:8])
        lines.append(f"| {index} | {samples[0]['task_id']} | `{str(samples[0]['gold'])[:40]}` | "
                     f"{sum(r['correct'] for r in samples)} / {len(samples)} | {preds} |")
    if len(by_task) > MAX_TASK_ROWS:
        lines.append(f"\n({len(by_task) - MAX_TASK_ROWS} more tasks in samples.jsonl)")
    lines += ["", "## Examples", ""]
    right = next((r for r in records if r["correct"]), None)
    wrong = next((r for r in records if not r["correct"]), None)
    for title, record in (("Correct", right), ("Incorrect", wrong)):
        if record is not None:
            lines += _example(title, record)
    return "\n".join(lines) + "\n"


def write_report(summary: dict[str, Any], records: Sequence[dict[str, Any]], path: Path) -> None:
    """Write :func:`render_report` to ``path``."""
    path.write_text(render_report(summary, records), encoding="utf-8")
