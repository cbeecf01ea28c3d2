#!/usr/bin/env python
"""Same samples, same update? reasongym's ``Trainer`` and TRL's ``GRPOTrainer`` on identical completions.

``trainer_vs_trl.py`` lets each trainer draw its own samples, so their reward curves differ by sampling
noise as well as by anything the trainers do differently. This bench removes the noise: reasongym trains
first and records every completion it sampled; TRL then trains on the same prompts with its generation
replaced by those recorded token ids (its own reward function, advantages, loss, micro-batching, clipping
and AdamW are untouched). Each step's clipped gradient and the final weights are compared:

- rewards per step (the same completions graded by the same env: must be equal);
- the gradient norm before clipping, and the cosine and relative L2 distance of the clipped gradients;
- the final parameter change of each trainer: cosine and relative L2 distance of the two updates.

Equal gradients on equal samples mean that the two trainers optimise the same objective, so any gap in
their reward curves is sampling noise. The settings default to the ``learning_smollm2`` setting (4 x 8
completions of at most 64 tokens at T 0.7, format reward 0.2, lr 1e-5, micro-batch 16); every option of
``trainer_vs_trl.py`` is accepted and overrides them. Nothing is asserted.

    .venv/bin/python bench/trl_same_samples.py                  # 3 steps (~6 min on the 2-core VM)
    .venv/bin/python bench/trl_same_samples.py --steps 5 --json runs/bench/trl_same_samples.json
    .venv/bin/python bench/trl_same_samples.py --model tiny-qwen2 --steps 2    # a smoke run (seconds)
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Iterable

import trainer_vs_trl as tvt

#: the learning_smollm2 setting; command-line options given to this script come after and override these
DEFAULTS = ["--steps", "3", "--tasks", "4", "--group", "8", "--max-tokens", "64", "--temperature", "0.7",
            "--micro-batch", "16", "--lr", "1e-5", "--env-kwargs", '{"level": 1, "format_reward": 0.2}',
            "--no-profile-step"]


def compare(ours: Iterable[tuple[str, Any]], theirs: dict[str, Any]) -> dict[str, float]:
    """Cosine, relative L2 distance ``|theirs - ours| / |ours|`` and norms of two same-named tensor sets."""
    dot = ours_sq = theirs_sq = diff_sq = 0.0
    for name, a in ours:
        a, b = a.double(), theirs[name].double()
        dot += float((a * b).sum())
        ours_sq += float((a * a).sum())
        theirs_sq += float((b * b).sum())
        diff_sq += float(((b - a) ** 2).sum())
    denominator = math.sqrt(ours_sq * theirs_sq)
    return {"cosine": dot / denominator if denominator else float("nan"),
            "rel_l2": math.sqrt(diff_sq / ours_sq) if ours_sq else float("nan"),
            "norm_ours": math.sqrt(ours_sq), "norm_trl": math.sqrt(theirs_sq)}


def trainable(model: Any) -> dict[str, Any]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def worker_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """Train with reasongym, recording every completion, each step's clipped gradient and the final weights."""
    import torch

    from reasongym.training.trainer import Trainer

    result = tvt.base_worker_result(spec)
    work = Path(spec["work_dir"])
    trainer = Trainer(tvt.ours_config(spec, str(work / "ours_run")), resume=False)
    params = trainable(trainer.model)
    samples: list[list[dict[str, list[int]]]] = []
    generate_ids = trainer.policy.generate_ids

    def recording_generate(prompts, sampling, **kw):
        completions = generate_ids(prompts, sampling, **kw)
        samples[-1].extend({"prompt": list(p.input_ids), "completion": list(c.token_ids)}
                           for p, c in zip(prompts, completions))
        return completions

    trainer.policy.generate_ids = recording_generate
    optimizer_step = trainer.optimizer.step

    def saving_step(*a, **k):  # called after clip_grad_norm_: the gradient AdamW is about to apply
        torch.save({name: p.grad.detach().clone() for name, p in params.items() if p.grad is not None},
                   work / f"ours_grad_{len(samples)}.pt")
        return optimizer_step(*a, **k)

    trainer.optimizer.step = saving_step
    for step in range(1, spec["steps"] + 1):
        samples.append([])
        metrics = trainer.step(step)
        result["steps"].append({"step": step, "reward_mean": metrics["reward/mean"],
                                "grad_norm": metrics["grad_norm"], "loss": metrics["loss/policy"]})
        print(f"[ours] step {step}: reward {metrics['reward/mean']:.3f} grad norm {metrics['grad_norm']:.4f}",
              file=sys.stderr, flush=True)
    torch.save({name: p.detach().clone() for name, p in params.items()}, work / "ours_params.pt")
    result["samples"] = samples
    trainer.collector.close()
    return result


def worker_trl(spec: dict[str, Any]) -> dict[str, Any]:
    """Train with TRL on reasongym's recorded completions and compare gradients and weights with its files."""
    import gymnasium as gym
    import torch
    import transformers
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    import reasongym  # noqa: F401

    transformers.logging.set_verbosity_error()
    result = tvt.base_worker_result(spec)
    work = Path(spec["work_dir"])
    model, tokenizer = tvt.load_model_for_trl(spec)
    start = {name: p.detach().clone() for name, p in trainable(model).items()}
    env = gym.make(spec["env"], **spec["env_kwargs"])
    dataset, _ = tvt.trl_dataset(spec, env, tokenizer)
    step_rewards: list[float] = []
    reward_fn = tvt.env_reward_function(env, step_rewards, [])
    reward_fn.__name__ = "reasongym_env_reward"
    queues: dict[tuple[int, ...], deque[list[int]]] = defaultdict(deque)
    for step_samples in spec["samples"]:
        for sample in step_samples:
            queues[tuple(sample["prompt"])].append(sample["completion"])

    class ReplayGRPOTrainer(GRPOTrainer):
        """TRL's trainer with generation replaced by the recorded completions of the same prompts."""

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, **kw):
            missing = [i for i, ids in enumerate(prompt_ids) if not queues[tuple(ids)]]
            if missing:
                raise RuntimeError(f"no recorded completion left for {len(missing)} prompts (TRL templated "
                                   "them differently from reasongym, or asked for more samples)")
            return [queues[tuple(ids)].popleft() for ids in prompt_ids], None

    class Compare(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            step = state.global_step + 1
            ours = torch.load(work / f"ours_grad_{step}.pt")
            grads = {name: p.grad for name, p in trainable(model).items() if p.grad is not None}
            result["steps"].append({"step": step, "reward_mean": sum(step_rewards) / max(1, len(step_rewards)),
                                    "rewards": list(step_rewards), "grad": compare(ours.items(), grads)})
            step_rewards.clear()

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "grad_norm" in logs and result["steps"]:
                result["steps"][-1]["grad_norm"] = float(logs["grad_norm"])
                print(f"[trl] step {state.global_step}: reward {result['steps'][-1]['reward_mean']:.3f} "
                      f"grad norm {logs['grad_norm']:.4f}", file=sys.stderr, flush=True)

    trainer = ReplayGRPOTrainer(model=model, reward_funcs=[reward_fn], args=tvt.trl_args(spec),
                                train_dataset=dataset, processing_class=tokenizer)
    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)
    trainer.add_callback(Compare())
    trainer.train()
    ours_final = torch.load(work / "ours_params.pt")
    result["update"] = compare(((name, ours_final[name] - start[name]) for name in start),
                               {name: p.detach() - start[name] for name, p in trainable(model).items()})
    result["unused_samples"] = sum(len(q) for q in queues.values())
    env.close()
    return result


def print_report(ours: dict[str, Any], trl: dict[str, Any]) -> None:
    print("\nSame completions through both trainers (TRL's generation replaced by reasongym's samples)\n")
    print("| step | reward ours | reward TRL | grad norm ours | grad norm TRL | clipped-grad cosine | "
          "rel. L2 distance |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for a, b in zip(ours["steps"], trl["steps"]):
        grad = b["grad"]
        print(f"| {a['step']} | {a['reward_mean']:.4f} | {b['reward_mean']:.4f} | {a['grad_norm']:.5f} | "
              f"{tvt.fmt(b.get('grad_norm'), '.5f')} | {grad['cosine']:.6f} | {grad['rel_l2']:.2e} |")
    update = trl["update"]
    print(f"\nparameter change after {len(trl['steps'])} steps: cosine {update['cosine']:.6f}, relative L2 "
          f"distance {update['rel_l2']:.2e} (|update| ours {update['norm_ours']:.4g}, TRL {update['norm_trl']:.4g})")
    print(f"recorded completions TRL did not use: {trl['unused_samples']}")


def main(argv: list[str] | None = None) -> int:
    args = tvt.parse_args(DEFAULTS + list(sys.argv[1:] if argv is None else argv))
    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        result = (worker_ours if args.worker == "ours" else worker_trl)(spec)
        Path(args.out).write_text(json.dumps(result))
        return 0
    spec = tvt.build_spec(args)
    with tempfile.TemporaryDirectory(prefix="bench_trl_same_samples_") as work:
        spec["work_dir"] = work
        print(f"--- reasongym, {spec['steps']} steps, recording its samples", file=sys.stderr, flush=True)
        ours = tvt.run_worker("ours", spec, __file__)
        if "error" in ours:
            print(f"reasongym worker failed: {ours['error']}", file=sys.stderr)
            return 1
        print("--- TRL on the same samples", file=sys.stderr, flush=True)
        trl = tvt.run_worker("trl", {**spec, "samples": ours["samples"]}, __file__)
    if "error" in trl:
        print(f"TRL worker failed: {trl['error']}", file=sys.stderr)
        return 1
    print_report(ours, trl)
    tvt.write_json(args.json, {"spec": spec, "ours": ours, "trl": trl})
    return 0


if __name__ == "__main__":
    sys.exit(main())
