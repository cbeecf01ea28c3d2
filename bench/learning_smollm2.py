"""SmolLM2-135M-Instruct (the embedded default) learns Arithmetic level 1 under GRPO on the CPU.

Runs ``examples/configs/arithmetic_smollm2.yaml`` for ``--steps`` steps (default 30), with greedy
held-out evaluation (pass@1 on the environment's last ``--eval-tasks`` items, never trained on) before
the first step and after the last. Prints the reward curve's start and end, held-out accuracy before and
after, seconds per step and where they go, and saves the curves as PNG.

    python bench/learning_smollm2.py              # ~30 steps: 15-30 minutes on 2 cores
    python bench/learning_smollm2.py --steps 5    # a quick look
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from reasongym.training.config import load_config
from reasongym.training.metrics import plot_metrics
from reasongym.training.trainer import Trainer

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "arithmetic_smollm2.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--eval-tasks", type=int, default=32)
    parser.add_argument("--out", default="runs/bench/learning_smollm2")
    args = parser.parse_args()
    config = load_config(CONFIG, {"run.steps": args.steps, "run.eval_every": args.steps,
                                  "run.eval_tasks": args.eval_tasks, "run.out_dir": args.out,
                                  "run.save_every": args.steps})
    records = Trainer(config, resume=False).train()
    steps = [r for r in records if r["step"] > 0]
    window = max(1, min(5, len(steps) // 3))
    rewards = np.array([r["reward/mean"] for r in steps])
    summary = {
        "steps": len(steps),
        "reward_first_steps": float(rewards[:window].mean()),
        "reward_last_steps": float(rewards[-window:].mean()),
        "heldout_pass@1_before": records[0]["eval/pass@1"],
        "heldout_pass@1_after": records[-1]["eval/pass@1"],
        "seconds_per_step": float(np.mean([r["time/generation_s"] + r["time/logprob_s"] + r["time/update_s"]
                                           for r in steps])),
        "generation_s": float(np.mean([r["time/generation_s"] for r in steps])),
        "logprob_s": float(np.mean([r["time/logprob_s"] for r in steps])),
        "update_s": float(np.mean([r["time/update_s"] for r in steps])),
    }
    plot_metrics(records, Path(args.out) / "learning_smollm2.png",
                 names=("reward/mean", "reward/outcome", "reward/format", "eval/pass@1", "entropy/mean",
                        "response/length_mean"))
    print(json.dumps(summary, indent=2))
    print(f"train reward {summary['reward_first_steps']:.3f} -> {summary['reward_last_steps']:.3f}; held-out "
          f"pass@1 {summary['heldout_pass@1_before']:.3f} -> {summary['heldout_pass@1_after']:.3f}")


if __name__ == "__main__":
    main()
