"""The ``reasongym`` command: ``list``, ``eval``, ``train``, ``demo`` and ``sandbox``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
from rich.console import Console
from rich.table import Table

import reasongym
from reasongym.agents.base import SamplingParams
from reasongym.runtime.sandbox.cli import register as register_sandbox
from reasongym.tasks.loading import DATA_DIR_ENV
from reasongym.training.config import parse_assignments

console = Console()


def cmd_list(args: argparse.Namespace) -> int:
    """Print every registered id with its family, item count, data source and reward modes.

    Only local files and already cached hub datasets are counted unless ``--download`` is given: the hub
    is put in offline mode for this command, so listing never waits on the network.
    """
    if not args.download:
        os.environ["HF_HUB_OFFLINE"] = "1"
    table = Table(title="reasongym environments")
    table.add_column("id", no_wrap=True)
    for column in ("family", "items", "data source", "reward modes", "description"):
        table.add_column(column)
    for entry in reasongym.CATALOG.values():
        try:
            env = gym.make(entry.id)
            items, origin = str(len(env.unwrapped.source)), env.unwrapped.source.origin
            env.close()
        except Exception as exc:  # data not available offline: say so instead of failing the listing
            hint = "" if args.download else ", or --download"
            items, origin = "?", f"not available locally ({type(exc).__name__}): set ${DATA_DIR_ENV}{hint}"
        table.add_row(entry.id, entry.family, items, origin, ", ".join(entry.reward_modes), entry.description)
    console.print(table)
    return 0


def _summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"{summary['env_id']} — {summary['tasks']} tasks, k={summary['k']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        if name in ("env_id", "sampling", "config"):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v:.3f}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.4f}"
        table.add_row(name, str(value))
    return table


def run_eval(env_id: str, policy_spec: str, *, k: int, max_tasks: int | None, out: Path, max_tokens: int,
             temperature: float, batch_size: int, seed: int, env_kwargs: dict[str, Any], resume: bool = False,
             device: str | None = None, policy: Any = None) -> dict[str, Any]:
    """Evaluate and print the summary table; ``policy`` reuses an already built policy."""
    from reasongym.agents.spec import build_policy
    from reasongym.evaluation.runner import EvalConfig, evaluate

    if env_id not in gym.registry:
        raise SystemExit(f"error: unknown environment {env_id!r}; see `reasongym list`")
    policy = policy or build_policy(policy_spec, device=device)
    config = EvalConfig(env_id=env_id, k=k, max_tasks=max_tasks, batch_size=batch_size, seed=seed,
                        env_kwargs=env_kwargs)
    sampling = SamplingParams(max_tokens=max_tokens, temperature=temperature)
    summary = evaluate(config, policy, sampling, out, resume=resume)
    console.print(_summary_table(summary))
    console.print(f"samples: {out / 'samples.jsonl'}  report: {out / 'report.md'}")
    return summary


def cmd_eval(args: argparse.Namespace) -> int:
    out = Path(args.out or Path("runs") / "eval" / f"{args.env_id.replace('/', '_')}_{args.policy.replace(':', '_')}")
    run_eval(args.env_id, args.policy, k=args.k, max_tasks=args.max_tasks, out=out, max_tokens=args.max_tokens,
             temperature=args.temperature, batch_size=args.batch_size, seed=args.seed,
             env_kwargs=parse_assignments(args.env_kwarg), resume=args.resume, device=args.device)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Evaluate the embedded default model on a procedural family and a math benchmark."""
    from reasongym.agents.spec import build_policy

    out = Path(args.out)
    console.print(f"[bold]reasongym demo[/bold]: policy {args.policy}, reports under {out}/")
    policy = build_policy(args.policy, device=args.device)
    common = dict(k=args.k, out=out, max_tokens=args.max_tokens, temperature=0.7, batch_size=8, seed=0,
                  policy=policy, device=args.device)
    summaries = [run_eval("reason/Arithmetic-v0", args.policy, max_tasks=args.tasks, env_kwargs={"level": 1},
                          **{**common, "out": out / "arithmetic"})]
    try:
        summaries.append(run_eval("reason/MATH500-v0", args.policy, max_tasks=max(1, args.tasks // 2), env_kwargs={},
                                  **{**common, "out": out / "math500"}))
    except Exception as exc:  # no hub and no local copy: the demo still shows the procedural family
        console.print(f"[yellow]MATH-500 skipped: {exc}[/yellow]")
    lines = [f"- `{s['env_id']}`: pass@1 {s['pass@1']:.3f}, mean reward {s['reward_mean']:.3f} "
             f"(report: {s['env_id'].split('/')[1]})" for s in summaries]
    if args.train_steps and (args.policy == "smollm2" or args.policy.startswith("hf:")):
        lines.append(_demo_training(args, out / "train"))
    index = out / "README.md"
    index.write_text("# reasongym demo\n\n" + "\n".join(lines) + "\n")
    console.print(f"demo report: {index}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train with a YAML config; ``--set key=value`` overrides dotted keys (values parsed as JSON)."""
    from reasongym.training.config import load_config
    from reasongym.training.trainer import Trainer

    config = load_config(args.config, parse_assignments(args.set))
    records = Trainer(config, resume=not args.no_resume).train()
    last = records[-1] if records else {}
    console.print(f"done: {len(records)} metric records in {config.run.out_dir}/metrics.jsonl, curves in "
                  f"{config.run.out_dir}/curves.png; last reward {last.get('reward/mean', float('nan')):.3f}")
    return 0


def _demo_training(args: argparse.Namespace, out: Path) -> str:
    """A few GRPO steps of the demo policy on Arithmetic level 1; returns the demo report's line."""
    from reasongym.training.config import config_from_dict
    from reasongym.training.trainer import Trainer

    console.print(f"[bold]GRPO[/bold]: {args.train_steps} steps on reason/Arithmetic-v0 (2 tasks x 4 samples per step)")
    config = config_from_dict({
        "model": {"name": args.policy.removeprefix("hf:"), "device": args.device},
        "env": {"id": "reason/Arithmetic-v0", "kwargs": {"level": 1, "format_reward": 0.1}},
        "rollout": {"tasks_per_step": 2, "group_size": 4, "max_tokens": 96},
        "optim": {"lr": 2e-6, "micro_batch_size": 4},
        "run": {"steps": args.train_steps, "out_dir": str(out), "save_every": args.train_steps},
    })
    records = Trainer(config, resume=False).train()
    rewards = ", ".join(f"{r['reward/mean']:.3f}" for r in records)
    return f"- GRPO on `reason/Arithmetic-v0`: reward per step {rewards} (metrics, curves and checkpoint: train/)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reasongym", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    register_sandbox(sub)
    listing = sub.add_parser("list", help="list registered environments")
    listing.add_argument("--download", action="store_true", help="load hub datasets that are not cached yet")
    listing.set_defaults(func=cmd_list)

    ev = sub.add_parser("eval", help="evaluate a policy on an environment")
    ev.add_argument("env_id")
    ev.add_argument("--policy", required=True,
                    help="oracle | random[:SEED] | smollm2 | hf:NAME | vllm:NAME | openai:MODEL@URL")
    ev.add_argument("-k", type=int, default=1, help="samples per task")
    ev.add_argument("--max-tasks", type=int, default=None)
    ev.add_argument("--out", default=None, help="output folder (default runs/eval/<env>_<policy>)")
    ev.add_argument("--max-tokens", type=int, default=1024)
    ev.add_argument("--temperature", type=float, default=1.0)
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    ev.add_argument("--resume", action="store_true", help="keep samples already in OUT/samples.jsonl")
    ev.add_argument("--device", default=None)
    ev.set_defaults(func=cmd_eval)

    train = sub.add_parser("train", help="train a policy with a YAML config (see examples/configs)")
    train.add_argument("config")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. run.steps=5")
    train.add_argument("--no-resume", action="store_true", help="ignore checkpoints in run.out_dir")
    train.set_defaults(func=cmd_train)

    demo = sub.add_parser("demo", help="evaluate the embedded default model on a few tasks, then train it briefly")
    demo.add_argument("--policy", default="smollm2")
    demo.add_argument("--tasks", type=int, default=8)
    demo.add_argument("-k", type=int, default=2)
    demo.add_argument("--max-tokens", type=int, default=256)
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--train-steps", type=int, default=2,
                      help="GRPO steps after the evaluation, for model policies (0: none)")
    demo.add_argument("--device", default=None)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
