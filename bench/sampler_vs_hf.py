#!/usr/bin/env python
"""reasongym's sampler against transformers ``generate`` (what TRL samples with when ``use_vllm=False``).

Both sample ``--samples`` completions of each of ``--tasks`` prompts (``reason/Arithmetic-v0`` level 1
items, chat-templated the same way) from the untrained model with the same settings (temperature,
``top_p=1``, ``top_k=0``, at most ``--max-tokens`` new tokens, stop at the end-of-turn token), and the
environment grades every completion. The two draw different random numbers, so the completions differ;
what must agree is their distribution: the mean reward (with its standard error), the format and
outcome rates and the lengths. Each side runs in its own process, one after the other, and reports the
CPU seconds it spent sampling. Nothing is asserted.

    .venv/bin/python bench/sampler_vs_hf.py                   # 8 prompts x 32 samples (~5 min on 2 cores)
    .venv/bin/python bench/sampler_vs_hf.py --samples 64 --json runs/bench/sampler_vs_hf.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import trainer_vs_trl as tvt

SIDES = ("ours", "hf")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2", help="smollm2 (default), a local folder, or tiny-qwen2")
    p.add_argument("--env", default="reason/Arithmetic-v0")
    p.add_argument("--env-kwargs", default='{"level": 1, "format_reward": 0.2}', help="JSON")
    p.add_argument("--tasks", type=int, default=8, help="distinct prompts")
    p.add_argument("--samples", type=int, default=32, help="completions per prompt (one batch per prompt)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", default="auto", help="torch threads per side (see trainer_vs_trl.py)")
    p.add_argument("--json", metavar="PATH", help="write every number to PATH")
    p.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def sample_ours(model: Any, tokenizer: Any, prompts: list[Any], spec: dict[str, Any]) -> list[list[list[int]]]:
    from reasongym.agents.base import SamplingParams
    from reasongym.agents.transformers_policy import TransformersPolicy

    policy = TransformersPolicy(model, tokenizer, batch_size=spec["samples"])
    sampling = SamplingParams(max_tokens=spec["max_tokens"], temperature=spec["temperature"], top_p=1.0, top_k=0)
    out = []
    for k, prompt in enumerate(prompts):
        seeds = [spec["seed"] * 1_000_003 + k * spec["samples"] + j for j in range(spec["samples"])]
        out.append([c.token_ids for c in policy.generate_ids([prompt] * spec["samples"], sampling, seeds=seeds)])
    return out


def sample_hf(model: Any, tokenizer: Any, prompts: list[Any], spec: dict[str, Any]) -> list[list[list[int]]]:
    """``model.generate`` as TRL 1.16 calls it, completions cut after the first end-of-turn token."""
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(max_new_tokens=spec["max_tokens"], do_sample=True, temperature=spec["temperature"],
                              top_p=1.0, top_k=0, repetition_penalty=1.0, pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(spec["seed"])  # generate draws from the global generator
    out = []
    for prompt in prompts:
        ids = torch.tensor([list(prompt.input_ids)] * spec["samples"])
        with torch.no_grad():
            generated = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
        rows = []
        for row in generated[:, ids.shape[1]:].tolist():
            end = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
            rows.append(row[:end])
        out.append(rows)
    return out


def worker(side: str, spec: dict[str, Any]) -> dict[str, Any]:
    import gymnasium as gym

    import reasongym  # noqa: F401
    from reasongym.agents.encoding import TextPromptEncoder

    result = tvt.base_worker_result(spec)
    model, tokenizer = tvt.load_model_for_trl(spec)
    env = gym.make(spec["env"], **spec["env_kwargs"])
    encoder = TextPromptEncoder(tokenizer)
    prompts = [encoder.encode(env.reset(options={"index": i})[0]) for i in spec["indices"]]
    started, cpu = time.perf_counter(), tvt.cpu_seconds()
    completions = (sample_ours if side == "ours" else sample_hf)(model, tokenizer, prompts, spec)
    result["sample_wall_s"], result["sample_cpu_s"] = time.perf_counter() - started, tvt.cpu_seconds() - cpu
    rewards, parts, lengths = [], [], []
    for index, rows in zip(spec["indices"], completions):
        for ids in rows:
            env.reset(options={"index": index})
            _, _, _, _, info = env.step(tokenizer.decode(ids, skip_special_tokens=True))
            rewards.append(float(sum(info["reward_parts"].values())))
            parts.append({k: float(v) for k, v in info["reward_parts"].items()})
            lengths.append(len(ids))
    result.update(rewards=rewards, parts=parts, lengths=lengths)
    env.close()
    return result


def summary(result: dict[str, Any], max_tokens: int) -> dict[str, float]:
    rewards = np.array(result["rewards"])
    keys = sorted({k for p in result["parts"] for k in p})
    return {"n": len(rewards), "reward": float(rewards.mean()),
            "reward_se": float(rewards.std(ddof=1) / math.sqrt(len(rewards))),
            **{f"{k}_rate": float(np.mean([p.get(k, 0.0) > 0 for p in result["parts"]])) for k in keys},
            "length": float(np.mean(result["lengths"])),
            "cut_at_max": float(np.mean([n >= max_tokens for n in result["lengths"]])),
            "tokens_per_cpu_s": sum(result["lengths"]) / result["sample_cpu_s"],
            "sample_cpu_s": result["sample_cpu_s"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        Path(args.out).write_text(json.dumps(worker(args.worker, spec)))
        return 0
    import gymnasium as gym

    import reasongym  # noqa: F401

    env_kwargs = json.loads(args.env_kwargs)
    probe = gym.make(args.env, **env_kwargs)
    size = len(probe.unwrapped.source)
    probe.close()
    threads, why = tvt.choose_threads(args.threads)
    spec = {"model": args.model, "env": args.env, "env_kwargs": env_kwargs, "samples": args.samples,
            "max_tokens": args.max_tokens, "temperature": args.temperature, "seed": args.seed, "threads": threads,
            "threads_why": why, "indices": tvt.step_indices(args.seed, 1, 0, size, args.tasks)}
    results = {}
    for side in SIDES:
        print(f"--- sampling with {side}", file=sys.stderr, flush=True)
        results[side] = tvt.run_worker(side, spec, __file__)
        if "error" in results[side]:
            print(f"{side} failed: {results[side]['error']}", file=sys.stderr)
            return 1
    table = {side: summary(r, args.max_tokens) for side, r in results.items()}
    keys = [k for k in table["ours"] if k != "n"]
    print(f"\n{args.tasks} prompts x {args.samples} samples, T {args.temperature}, at most {args.max_tokens} "
          f"tokens, {threads or 'default'} threads ({why})\n")
    print("| | reasongym | transformers generate | generate/reasongym |\n| --- | --- | --- | --- |")
    for key in keys:
        a, b = table["ours"][key], table["hf"][key]
        print(f"| {key} | {a:.4g} | {b:.4g} | {tvt.fmt(tvt.ratio(b, a))} |")
    gap = table["hf"]["reward"] - table["ours"]["reward"]
    se = math.hypot(table["hf"]["reward_se"], table["ours"]["reward_se"])
    print(f"\nmean reward difference (generate - reasongym): {gap:+.4f} +- {se:.4f} (one standard error)")
    tvt.write_json(args.json, {"spec": spec, "summary": table, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
