"""Does the trainer learn? A tiny random model learns reason/Echo-v0 under GRPO on the CPU.

The tiny Qwen2 (built in code, about 0.1 M parameters, byte-level vocabulary of 263 ids) starts out
emitting random bytes. Echo asks it to reply with the digit in the prompt, in one token; the ``partial``
reward mode adds a dense ``similarity`` part (0.5 for any digit, 1.0 for the right one) to the exact-match
``outcome`` part, so the maximum episode reward is 2.0. The script trains for ``--steps`` GRPO steps,
prints the mean reward and the exact-match rate at the start and the end (means over a window of
steps), and saves the curves as PNG.

    python bench/learning_toy.py                 # 300 steps, 3-5 minutes on 2 cores
    python bench/learning_toy.py --steps 60      # a quick look
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from reasongym.training.config import config_from_dict
from reasongym.training.metrics import plot_metrics
from reasongym.training.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/bench/learning_toy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = config_from_dict({
        "model": {"name": "tiny-qwen2"},
        "env": {"id": "reason/Echo-v0", "kwargs": {"reward_mode": "partial"}},
        "rollout": {"tasks_per_step": 8, "group_size": 16, "max_tokens": 1, "temperature": 1.0},
        "algorithm": {"advantage": "grpo", "clip_ratio_low": 0.2, "clip_ratio_high": 0.28},
        "optim": {"lr": 1e-3, "micro_batch_size": 128, "max_grad_norm": 1.0},
        "run": {"steps": args.steps, "seed": args.seed, "out_dir": args.out, "save_every": args.steps,
                "eval_every": 0},
    })
    started = time.perf_counter()
    records = Trainer(config, resume=False).train()
    elapsed = time.perf_counter() - started
    window = max(1, min(20, len(records) // 5))
    rewards = np.array([r["reward/mean"] for r in records])
    exact = np.array([r["reward/outcome"] for r in records])
    summary = {
        "steps": len(records), "seconds": round(elapsed, 1), "seconds_per_step": round(elapsed / len(records), 3),
        "reward_start": float(rewards[:window].mean()), "reward_end": float(rewards[-window:].mean()),
        "exact_match_start": float(exact[:window].mean()), "exact_match_end": float(exact[-window:].mean()),
        "reward_max": 2.0,
    }
    plot_metrics(records, Path(args.out) / "learning_toy.png",
                 names=("reward/mean", "reward/outcome", "reward/similarity", "entropy/mean", "response/length_mean"))
    print(json.dumps(summary, indent=2))
    print(f"mean reward {summary['reward_start']:.3f} -> {summary['reward_end']:.3f} (max 2.0); exact match "
          f"{summary['exact_match_start']:.3f} -> {summary['exact_match_end']:.3f}; "
          f"{summary['seconds_per_step']} s/step; curves: {Path(args.out) / 'learning_toy.png'}")


if __name__ == "__main__":
    main()
