"""Train a policy with GRPO on a math-family environment.

    python examples/math_grpo.py                                   # SmolLM2 on Arithmetic (CPU-sized)
    python examples/math_grpo.py examples/configs/countdown_grpo.yaml --set run.steps=50
    python examples/math_grpo.py --set env.id=reason/GSM8K-v0 --set rollout.max_tokens=512

Equivalent to ``reasongym train CONFIG``: the script shows the three lines a custom training script needs.
Metrics go to ``<out_dir>/metrics.jsonl`` and TensorBoard, curves to ``<out_dir>/curves.png``, and a killed run
resumes from its last checkpoint when started again.
"""

import argparse
from pathlib import Path

from reasongym.training.config import load_config, parse_assignments
from reasongym.training.trainer import Trainer

DEFAULT = Path(__file__).parent / "configs" / "arithmetic_smollm2.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=str(DEFAULT))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(args.config, parse_assignments(args.set))
    records = Trainer(config).train()
    print(f"finished {len(records)} steps; curves in {config.run.out_dir}/curves.png")


if __name__ == "__main__":
    main()
