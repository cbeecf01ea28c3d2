"""Per-step metrics: a JSONL file (the record), TensorBoard events (for watching), PNG plots (for reports).

On resume the JSONL file is cut back to the checkpoint's step, so a run killed between a log line and
its next checkpoint does not leave lines for steps that will be run again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

#: metrics drawn by :func:`plot_metrics` when present, one panel each
PLOTTED = ("reward/mean", "reward/outcome", "eval/pass@1", "loss/policy", "kl/mean", "entropy/mean",
           "clip/fraction", "response/length_mean", "groups/zero_variance_fraction", "throughput/tokens_per_s")


class MetricsLogger:
    """Append-only metrics of a run in ``out_dir/metrics.jsonl`` and ``out_dir/tensorboard/``."""

    def __init__(self, out_dir: str | Path, *, resume_step: int | None = None, tensorboard: bool = True):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "metrics.jsonl"
        if resume_step is None:
            self.path.write_text("")
        else:
            kept = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=resume_step)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Record ``metrics`` for ``step`` (non-finite numbers are kept in JSONL as strings)."""
        record = {"step": step, **{k: _jsonable(v) for k, v in metrics.items()}}
        with self.path.open("a") as sink:
            sink.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for name, value in metrics.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(name, value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics file (empty when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_metrics(records: Iterable[dict[str, Any]], path: str | Path, names: Iterable[str] = PLOTTED) -> Path | None:
    """Draw one panel per metric present in ``records`` into a PNG at ``path``; ``None`` if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    present = [n for n in names if any(isinstance(r.get(n), (int, float)) for r in records)]
    if not present:
        return None
    cols = min(3, len(present))
    rows = math.ceil(len(present) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, present):
        points = [(r["step"], r[name]) for r in records if isinstance(r.get(name), (int, float))]
        ax.plot(*zip(*points), marker="o" if len(points) < 40 else None, markersize=3)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
