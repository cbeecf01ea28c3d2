#!/usr/bin/env python
"""One GRPO setting, two trainers: reasongym's ``Trainer`` against TRL's ``GRPOTrainer``.

Both train the same model (SmolLM2-135M-Instruct from reasongym's local cache by default) on the same
prompts (``reason/Arithmetic-v0`` level 1 items, chat-templated by each trainer from the same messages,
in the same order), with the same group size, completion length, temperature, AdamW settings, gradient
clipping and GRPO loss (beta = 0, no reference model, token-mean aggregation, one optimizer step per
generated batch). Each trainer runs in its own subprocess (fresh imports, its own peak RSS), one after
the other, so they never share the 2 CPU cores. See ``bench/README.md`` for every setting mapping.

Measured per trainer: seconds per training step (step 1 is a warm-up, reported on its own and left out
of the mean), where the time goes (model sampling, env grading, the no-grad log-prob pass, the training
forward, backward, clipping, the optimizer step), peak process RSS (``ru_maxrss``) and the peak RSS
sampled during the timed steps, the peak of torch's tracked CPU allocations during one extra profiled
step (``torch.profiler`` with ``profile_memory``; tensors allocated before that step, such as the
weights and the AdamW state, are not in it), the mean reward and completion lengths. Nothing is asserted.

    .venv/bin/python bench/trainer_vs_trl.py                # 4 steps each (~8-9 min on the shared 2-core VM)
    .venv/bin/python bench/trainer_vs_trl.py --quick        # 2 short steps each, no profiled step
    .venv/bin/python bench/trainer_vs_trl.py --cprofile --json runs/bench/trainer_vs_trl.json

Requires ``pip install trl`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

SIDES = ("ours", "trl")
#: timing buckets, in table order: (key, label)
BUCKETS = (
    ("generate", "sampling (model decode loop)"),
    ("reward", "env reset+step / reward fn"),
    ("old_logprob", "no-grad log-prob pass"),
    ("train_forward", "train forward (logp+entropy)"),
    ("backward", "backward"),
    ("clip", "grad-norm clip"),
    ("optimizer", "AdamW step"),
    ("other", "other (tokenize, collate, loss, ...)"),
)


# ======================================================================================= arguments


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4, help="training steps per trainer; step 1 is the warm-up")
    p.add_argument("--quick", action="store_true",
                   help="2 steps, group 4, 48 new tokens, no profiled step (a smoke run)")
    p.add_argument("--model", default="smollm2", help="smollm2 (default), a local folder, or tiny-qwen2")
    p.add_argument("--env", default="reason/Arithmetic-v0")
    p.add_argument("--env-kwargs", default='{"level": 1}', help="JSON")
    p.add_argument("--tasks", type=int, default=1, help="prompts per step (GRPO groups)")
    p.add_argument("--group", type=int, default=8, help="completions per prompt")
    p.add_argument("--max-tokens", type=int, default=128, help="max new tokens per completion")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--micro-batch", type=int, default=None,
                   help="sequences per forward/backward (default: the whole step's batch)")
    p.add_argument("--lr", type=float, default=2e-6)
    p.add_argument("--betas", type=float, nargs=2, default=(0.9, 0.999))
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--clip-low", type=float, default=0.2, help="ours clip_ratio_low = TRL epsilon")
    p.add_argument("--clip-high", type=float, default=0.28, help="ours clip_ratio_high = TRL epsilon_high")
    p.add_argument("--logprob-chunk-size", type=int, default=1024, help="ours optim.logprob_chunk_size")
    p.add_argument("--pack-tokens", type=int, default=1024,
                   help="ours optim.pack_tokens (positions per packed row; 0: padded batch)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="turn it on for both (default off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", default="auto",
                   help="torch threads in both workers: a number, 'default' (torch's choice), or 'auto' "
                        "(all cores minus those other processes keep busy, measured once before the runs)")
    p.add_argument("--sides", default="ours,trl", help="which trainers, in run order")
    p.add_argument("--no-profile-step", action="store_true",
                   help="skip the extra torch.profiler step (op table + tracked-allocation peak)")
    p.add_argument("--cprofile", action="store_true", help="one more extra step under cProfile per trainer")
    p.add_argument("--rss-interval", type=float, default=0.005, help="RSS sampling period, seconds")
    p.add_argument("--json", metavar="PATH", help="write every number to PATH")
    p.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.group, args.max_tokens, args.no_profile_step = 2, 4, 48, True
    return args


def step_indices(seed: int, step: int, first: int, count: int, tasks: int) -> list[int]:
    """The task indices reasongym's ``Trainer`` draws at ``step`` (mirror of ``Trainer._indices``)."""
    order = np.random.default_rng([seed, step]).permutation(count)
    return [first + int(i) for i in order[:min(tasks, count)]]


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores other processes keep busy, from /proc/stat over ``seconds``."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = read()
    time.sleep(seconds)
    total1, idle1 = read()
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / max(1, total1 - total0))


def choose_threads(value: str) -> tuple[int | None, str]:
    """The torch thread count for both workers, and why."""
    cores = os.cpu_count() or 1
    if value == "default":
        return None, "torch default"
    if value != "auto":
        return int(value), "--threads"
    busy = busy_cores()
    threads = max(1, cores - round(busy))
    why = f"auto: {busy:.1f} of {cores} cores busy before the runs"
    if threads < cores:
        why += (" (more OpenMP threads than free cores makes every parallel region wait for a descheduled "
                "thread: steps were ~8x slower here with 2 threads and one core taken)")
    return threads, why


def build_spec(args: argparse.Namespace) -> dict[str, Any]:
    import gymnasium as gym

    import reasongym  # noqa: F401  (registers the environments)

    env_kwargs = json.loads(args.env_kwargs)
    probe = gym.make(args.env, **env_kwargs)
    size = len(probe.unwrapped.source)
    probe.close()
    batch = args.tasks * args.group
    micro = args.micro_batch or batch
    if batch % micro:
        raise SystemExit(f"--micro-batch {micro} must divide tasks x group = {batch}")
    extra = (0 if args.no_profile_step else 1) + (1 if args.cprofile else 0)
    threads, threads_why = choose_threads(args.threads)
    total = args.steps + extra
    return {
        "model": args.model, "env": args.env, "env_kwargs": env_kwargs, "num_tasks": size,
        "tasks": args.tasks, "group": args.group, "batch": batch, "micro_batch": micro,
        "max_tokens": args.max_tokens, "temperature": args.temperature, "lr": args.lr,
        "betas": list(args.betas), "weight_decay": args.weight_decay, "max_grad_norm": args.max_grad_norm,
        "clip_low": args.clip_low, "clip_high": args.clip_high, "logprob_chunk_size": args.logprob_chunk_size,
        "pack_tokens": args.pack_tokens,
        "gradient_checkpointing": args.gradient_checkpointing, "seed": args.seed, "threads": threads,
        "threads_why": threads_why,
        "steps": args.steps, "profile_step": not args.no_profile_step, "cprofile": args.cprofile,
        "total_steps": total, "rss_interval": args.rss_interval,
        "indices": [step_indices(args.seed, s, 0, size, args.tasks) for s in range(1, total + 1)],
    }


# ======================================================================================= measuring


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class RssSampler(threading.Thread):
    """Samples the process RSS every ``interval`` s; :meth:`window` gives the peak since the last call."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self._peak = rss_bytes()
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            value = rss_bytes()
            if value > self._peak:
                self._peak = value

    def window(self) -> int:
        peak, self._peak = max(self._peak, rss_bytes()), rss_bytes()
        return peak

    def stop(self) -> None:
        self._stop.set()


class Timers:
    """Named wall-time and process-CPU-time accumulators; only the outermost of nested calls of a name counts."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._depth: dict[str, int] = {}

    def wrap(self, fn: Callable, name: str | Callable[..., str]) -> Callable:
        def timed(*a, **k):
            key = name(*a, **k) if callable(name) else name
            if self._depth.get(key):
                return fn(*a, **k)
            self._depth[key] = 1
            start, cpu = time.perf_counter(), cpu_seconds()
            try:
                return fn(*a, **k)
            finally:
                self._depth[key] = 0
                self.add(key, time.perf_counter() - start, cpu_seconds() - cpu)
        timed.__wrapped__ = fn
        return timed

    def add(self, key: str, seconds: float, cpu: float) -> None:
        self.totals[key] = self.totals.get(key, 0.0) + seconds
        self.cpu[key] = self.cpu.get(key, 0.0) + cpu

    def take(self) -> tuple[dict[str, float], dict[str, float]]:
        out = self.totals, self.cpu
        self.totals, self.cpu = {}, {}
        return out


def patch_torch_common(timers: Timers) -> None:
    """Time every ``Tensor.backward`` and ``clip_grad_norm_`` call (both trainers reach them by attribute)."""
    import torch

    torch.Tensor.backward = timers.wrap(torch.Tensor.backward, "backward")
    torch.nn.utils.clip_grad_norm_ = timers.wrap(torch.nn.utils.clip_grad_norm_, "clip")


class StepProfiler:
    """torch.profiler around one step: peak of the CPU bytes allocated during it, and the top ops."""

    def __init__(self) -> None:
        from torch.profiler import ProfilerActivity, profile

        self.prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)

    def start(self) -> None:
        self.prof.start()

    def stop(self) -> dict[str, Any]:
        from torch._C._profiler import _EventType

        self.prof.stop()
        # Allocation events carry the CPU allocator's running total of bytes allocated while profiling
        # (tensors that existed before the profiler started are not counted, nor are their frees).
        peak, allocations, stack = 0, 0, list(self.prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            event = stack.pop()
            stack.extend(event.children)
            if event.tag == _EventType.Allocation and event.extra_fields.device.type == "cpu":
                allocations += 1
                peak = max(peak, event.extra_fields.total_allocated)
        rows = sorted(self.prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in rows) or 1.0
        top = [{"op": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6,
                "share": e.self_cpu_time_total / total} for e in rows[:15]]
        return {"peak_tracked_bytes": int(peak), "allocations": allocations, "top_ops": top}


def cprofile_text(profiler: Any, limit: int = 25) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def split_buckets(total: float, cpu: float, timers: Timers) -> tuple[dict[str, float], dict[str, float]]:
    """Wall and CPU seconds of one step per bucket; ``other`` is what no timer saw."""
    wall_t, cpu_t = timers.take()
    wall = {key: float(wall_t.get(key, 0.0)) for key, _ in BUCKETS if key != "other"}
    wall["other"] = total - sum(wall.values())
    cpus = {key: float(cpu_t.get(key, 0.0)) for key, _ in BUCKETS if key != "other"}
    cpus["other"] = cpu - sum(cpus.values())
    return wall, cpus


def base_worker_result(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    return {"loadavg_start": os.getloadavg(),"torch_threads": torch.get_num_threads(), "torch": torch.__version__, "steps": [],
            "indices_used": [], "prompt_lengths": []}


# ======================================================================================= ours


def ours_config(spec: dict[str, Any], out_dir: str) -> Any:
    """reasongym's ``TrainConfig`` for the bench setting (see the settings table in bench/README.md)."""
    from reasongym.training.config import config_from_dict

    return config_from_dict({
        "model": {"name": spec["model"], "dtype": "float32", "gradient_checkpointing": spec["gradient_checkpointing"]},
        "env": {"id": spec["env"], "kwargs": spec["env_kwargs"], "first_index": 0, "num_tasks": spec["num_tasks"]},
        "rollout": {"tasks_per_step": spec["tasks"], "group_size": spec["group"], "max_tokens": spec["max_tokens"],
                    "temperature": spec["temperature"], "top_p": 1.0, "top_k": 0, "dynamic_sampling": False},
        "reward": {"overlong_buffer": 0},
        "algorithm": {"advantage": "grpo", "ppo_epochs": 1, "clip_ratio_low": spec["clip_low"],
                      "clip_ratio_high": spec["clip_high"], "kl_coef": 0.0, "entropy_coef": 0.0,
                      "loss_agg": "token-mean"},
        "optim": {"lr": spec["lr"], "betas": spec["betas"], "weight_decay": spec["weight_decay"],
                  "warmup_steps": 0, "schedule": "constant", "max_grad_norm": spec["max_grad_norm"],
                  "micro_batch_size": spec["micro_batch"], "logprob_chunk_size": spec["logprob_chunk_size"],
                  "pack_tokens": spec["pack_tokens"]},
        "run": {"steps": spec["total_steps"], "seed": spec["seed"], "out_dir": out_dir, "save_every": 10**9,
                "eval_every": 0},
    })


def worker_ours(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from reasongym.training.trainer import Trainer

    started = time.perf_counter()
    result = base_worker_result(spec)
    timers = Timers()
    patch_torch_common(timers)
    out_dir = tempfile.mkdtemp(prefix="bench_ours_")
    trainer = Trainer(ours_config(spec, out_dir), resume=False)

    # --- timers on the trainer's pieces (instance attributes; nothing in reasongym is edited)
    lengths: list[list[int]] = []
    generate_ids = trainer.policy.generate_ids

    def timed_generate(prompts, sampling, **kw):
        result["prompt_lengths"].append(sorted({len(p.input_ids) for p in prompts}))
        completions = timers.wrap(generate_ids, "generate")(prompts, sampling, **kw)
        lengths.append([len(c.token_ids) for c in completions])
        return completions

    trainer.policy.generate_ids = timed_generate
    make_env = trainer.collector.envs._make_env

    def timed_env():
        env = make_env()
        env.reset = timers.wrap(env.reset, "reward")
        env.step = timers.wrap(env.step, "reward")
        return env

    trainer.collector.envs._make_env = timed_env
    collect = trainer.collector.collect

    def recording_collect(task_indices, seed, **kw):
        result["indices_used"].append([int(i) for i in task_indices])
        return collect(task_indices, seed, **kw)

    trainer.collector.collect = recording_collect
    trainer._logprobs = timers.wrap(
        trainer._logprobs, lambda *a, **k: "train_forward" if torch.is_grad_enabled() else "old_logprob")
    trainer.optimizer.step = timers.wrap(trainer.optimizer.step, "optimizer")

    result["setup_s"] = time.perf_counter() - started
    result["rss_before_steps"] = rss_bytes()
    sampler = RssSampler(spec["rss_interval"])
    sampler.start()
    sampler.window()
    timers.take()
    for step in range(1, spec["steps"] + 1):
        t0, c0 = time.perf_counter(), cpu_seconds()
        metrics = trainer.step(step)
        total, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        got = lengths.pop() if lengths else []
        result["steps"].append({
            "step": step, "total_s": total, "cpu_s": cpu, **dict(zip(("buckets", "cpu_buckets"),
                                                                     split_buckets(total, cpu, timers))),
            "rss_peak": sampler.window(), "reward_mean": metrics["reward/mean"],
            "completion_len_mean": float(np.mean(got)) if got else None,
            "completion_len_max": max(got) if got else None,
            "truncated_fraction": float(np.mean([n >= spec["max_tokens"] for n in got])) if got else None,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        })
        print(f"[ours] step {step}: {total:.1f}s reward {metrics['reward/mean']:.3f}", file=sys.stderr, flush=True)
    sampler.stop()
    result["maxrss_timed"] = maxrss_bytes()
    step = spec["steps"]
    if spec["cprofile"]:  # before the torch.profiler step, which could leave state behind
        import cProfile

        step += 1
        profile = cProfile.Profile()
        profile.enable()
        trainer.step(step)
        profile.disable()
        result["cprofile"] = cprofile_text(profile)
        timers.take()
    if spec["profile_step"]:
        step += 1
        profiler = StepProfiler()
        profiler.start()
        t0 = time.perf_counter()
        trainer.step(step)
        result["profile_step"] = {"step": step, "wall_s": time.perf_counter() - t0, **profiler.stop()}
        timers.take()
    result["maxrss_end"] = maxrss_bytes()
    result["loadavg_end"] = os.getloadavg()
    trainer.collector.close()
    return result


# ======================================================================================= TRL


def load_model_for_trl(spec: dict[str, Any]) -> tuple[Any, Any]:
    import torch

    if spec["model"] == "tiny-qwen2":
        from reasongym.agents.tiny import tiny_qwen2

        model, tokenizer = tiny_qwen2(seed=spec["seed"])
        return model.to(torch.float32), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasongym.agents.models import resolve_model

    path = resolve_model(spec["model"])
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path)


def trl_dataset(spec: dict[str, Any], env: Any, tokenizer: Any) -> tuple[Any, dict[int, list[int]]]:
    """The same prompts in the same order: one dataset row per drawn task index (TRL repeats each row
    ``group`` times), and the prompt ids reasongym's encoder gives each index, to check TRL's templating."""
    from datasets import Dataset

    from reasongym.agents.encoding import TextPromptEncoder
    from reasongym.envs.spaces import message_text

    rows, reference_ids = [], {}
    encoder = TextPromptEncoder(tokenizer)
    for indices in spec["indices"]:
        for index in indices:
            observation, _ = env.reset(options={"index": index})
            reference_ids[index] = encoder.encode(observation).input_ids  # what reasongym feeds the model
            rows.append({"prompt": [{"role": m["role"], "content": message_text(m)} for m in observation],
                         "task_index": index})
    return Dataset.from_list(rows), reference_ids


def env_reward_function(env: Any, rewards: list[float], indices_seen: list[int]) -> Callable[..., list[float]]:
    """A TRL reward function that grades each completion with ``env`` reset to the prompt's item; it
    appends the rewards to ``rewards`` and the distinct task indices to ``indices_seen``."""

    def reasongym_env_reward(prompts, completions, task_index, **kwargs) -> list[float]:
        indices_seen.extend(i for i in dict.fromkeys(int(i) for i in task_index))
        values = []
        for completion, index in zip(completions, task_index):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            env.reset(options={"index": int(index)})
            _, _, _, _, info = env.step(text)
            values.append(float(sum(info["reward_parts"].values())))  # reasongym's default reward transform
        rewards.extend(values)
        return values

    return reasongym_env_reward


def trl_args(spec: dict[str, Any]) -> Any:
    """TRL's ``GRPOConfig`` for the bench setting (see the settings table in bench/README.md)."""
    from trl import GRPOConfig

    accumulation = spec["batch"] // spec["micro_batch"]
    return GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench_trl_"), report_to=[], use_cpu=True, bf16=False, fp16=False,
        seed=spec["seed"], data_seed=spec["seed"],
        # optimizer: plain torch AdamW like ours (TRL's default is the fused variant), constant LR
        optim="adamw_torch", learning_rate=spec["lr"], adam_beta1=spec["betas"][0], adam_beta2=spec["betas"][1],
        adam_epsilon=1e-8, weight_decay=spec["weight_decay"], max_grad_norm=spec["max_grad_norm"],
        lr_scheduler_type="constant", warmup_steps=0,
        # batch: one generation of tasks x group completions per optimizer step, micro-batched like ours
        per_device_train_batch_size=spec["micro_batch"], gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation, num_iterations=1, num_generations=spec["group"],
        shuffle_dataset=False, max_steps=spec["total_steps"],
        # sampling
        max_completion_length=spec["max_tokens"], temperature=spec["temperature"], top_p=1.0, top_k=0,
        repetition_penalty=1.0, use_vllm=False,
        # loss
        beta=0.0, epsilon=spec["clip_low"], epsilon_high=spec["clip_high"], loss_type="dapo",
        scale_rewards="group", mask_truncated_completions=False, importance_sampling_level="token",
        gradient_checkpointing=spec["gradient_checkpointing"],
        # bookkeeping
        logging_steps=1, save_strategy="no", disable_tqdm=True, log_completions=False, dataloader_num_workers=0,
    )


def worker_trl(spec: dict[str, Any]) -> dict[str, Any]:
    import gymnasium as gym
    import torch
    import transformers
    import trl
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    import reasongym  # noqa: F401

    started = time.perf_counter()
    transformers.logging.set_verbosity_error()
    timers = Timers()
    patch_torch_common(timers)
    result = base_worker_result(spec)
    result["trl"] = trl.__version__
    model, tokenizer = load_model_for_trl(spec)

    env = gym.make(spec["env"], **spec["env_kwargs"])
    dataset, reference_ids = trl_dataset(spec, env, tokenizer)
    step_rewards: list[float] = []
    step_indices_seen: list[int] = []
    reasongym_env_reward = timers.wrap(env_reward_function(env, step_rewards, step_indices_seen), "reward")
    reasongym_env_reward.__name__ = "reasongym_env_reward"
    args = trl_args(spec)

    lengths: list[list[int]] = []
    logs: list[dict[str, Any]] = []

    class TimedGRPOTrainer(GRPOTrainer):
        def _generate(self, prompts):
            out = timers.wrap(super()._generate, "generate")(prompts)
            try:  # TRL 1.16: (prompt_ids, completion_ids, ...); other versions may differ
                lengths.append([len(ids) for ids in out[1]])
            except (TypeError, IndexError):
                pass
            return out

        def _tokenize_prompts(self, prompts):
            out = super()._tokenize_prompts(prompts)
            result["prompt_lengths"].append(sorted({len(ids) for ids in out[0]}))
            result.setdefault("_prompt_ids", []).append([list(ids) for ids in out[0]])
            return out

        def _get_per_token_logps_and_entropies(self, *a, **k):
            key = "train_forward" if torch.is_grad_enabled() else "old_logprob"
            return timers.wrap(super()._get_per_token_logps_and_entropies, key)(*a, **k)

    trainer = TimedGRPOTrainer(model=model, reward_funcs=[reasongym_env_reward], args=args,
                               train_dataset=dataset, processing_class=tokenizer)
    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)

    sampler = RssSampler(spec["rss_interval"])
    state: dict[str, Any] = {}

    class Probe(TrainerCallback):
        def on_train_begin(self, args, st, control, **kw):
            result["setup_s"] = time.perf_counter() - started
            result["rss_before_steps"] = rss_bytes()
            sampler.start()

        def on_step_begin(self, args, st, control, **kw):
            step = st.global_step + 1
            state["step"] = step
            if step == spec["steps"] + 1:
                sampler.stop()
                result["maxrss_timed"] = maxrss_bytes()
            if spec["profile_step"] and step == spec["total_steps"]:
                state["profiler"] = StepProfiler()
                state["profiler"].start()
            if spec["cprofile"] and step == spec["steps"] + 1:
                import cProfile

                state["cprofile"] = cProfile.Profile()
                state["cprofile"].enable()
            sampler.window()
            timers.take()
            step_rewards.clear()
            step_indices_seen.clear()
            state["t0"], state["c0"] = time.perf_counter(), cpu_seconds()

        def on_pre_optimizer_step(self, args, st, control, **kw):
            state["opt0"], state["opt0_cpu"] = time.perf_counter(), cpu_seconds()

        def on_optimizer_step(self, args, st, control, **kw):
            timers.add("optimizer", time.perf_counter() - state["opt0"], cpu_seconds() - state["opt0_cpu"])

        def on_step_end(self, args, st, control, **kw):
            total, cpu = time.perf_counter() - state["t0"], cpu_seconds() - state["c0"]
            step = state["step"]
            buckets, cpu_buckets = split_buckets(total, cpu, timers)
            got = lengths.pop() if lengths else []
            result["indices_used"].append(list(dict.fromkeys(step_indices_seen)))
            if step <= spec["steps"]:
                result["steps"].append({
                    "step": step, "total_s": total, "cpu_s": cpu, "buckets": buckets, "cpu_buckets": cpu_buckets,
                    "rss_peak": sampler.window(),
                    "reward_mean": float(np.mean(step_rewards)) if step_rewards else None,
                    "completion_len_mean": float(np.mean(got)) if got else None,
                    "completion_len_max": max(got) if got else None,
                    "truncated_fraction": float(np.mean([n >= spec["max_tokens"] for n in got])) if got else None,
                })
                print(f"[trl] step {step}: {total:.1f}s reward {result['steps'][-1]['reward_mean']:.3f}",
                      file=sys.stderr, flush=True)
            if "profiler" in state and step == spec["total_steps"]:
                result["profile_step"] = {"step": step, "wall_s": total, **state.pop("profiler").stop()}
            if "cprofile" in state and step == spec["steps"] + 1:
                profile = state.pop("cprofile")
                profile.disable()
                result["cprofile"] = cprofile_text(profile)

        def on_log(self, args, st, control, logs=None, **kw):
            if logs:
                logs_copy = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
                logs_copy["step"] = st.global_step
                state.setdefault("logs", []).append(logs_copy)

    trainer.add_callback(Probe())
    trainer.train()
    if "maxrss_timed" not in result:
        sampler.stop()
        result["maxrss_timed"] = maxrss_bytes()
    result["maxrss_end"] = maxrss_bytes()
    result["loadavg_end"] = os.getloadavg()
    logs.extend(state.get("logs", []))
    for record, log in zip(result["steps"], logs):
        record["metrics"] = log
    # the TRL-tokenised prompts against reasongym's encoder, prompt by prompt (TRL repeats each `group` times)
    tokenised = [ids for call in result.pop("_prompt_ids", []) for ids in call[::spec["group"]]]
    expected = [reference_ids[i] for indices in spec["indices"] for i in indices][:len(tokenised)]
    result["prompt_ids_match"] = bool(tokenised) and tokenised == expected
    env.close()
    return result


# ======================================================================================= driver


def run_worker(side: str, spec: dict[str, Any], script: str = __file__) -> dict[str, Any]:
    """Run ``script --worker side`` in a fresh process on ``spec`` and return the JSON it writes."""
    with tempfile.TemporaryDirectory(prefix="bench_trainer_vs_trl_") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
               "PYTHONWARNINGS": "ignore", "KINETO_LOG_LEVEL": "5"}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, script, "--worker", side, "--spec", str(spec_path),
                               "--out", str(out_path)], env=env)
        wall = time.perf_counter() - started
        if proc.returncode != 0 or not out_path.exists():
            return {"error": f"worker exited with status {proc.returncode}", "process_wall_s": wall}
        result = json.loads(out_path.read_text())
        result["process_wall_s"] = wall
        return result


def write_json(path: str | None, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` (making its folder) and say so; nothing when no path was asked for."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=1))
        print(f"\nwrote {path}")


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Means over the timed steps (2..N; step 1 alone when it is the only one) of one trainer's records."""
    steps = result.get("steps", [])
    if not steps:
        return {}
    timed = steps[1:] or steps

    def mean(key: str, rows: list[dict[str, Any]] = timed) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.fmean(values) if values else None

    def sd(key: str) -> float:
        values = [r[key] for r in timed]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    return {
        "timed_steps": len(timed) if len(steps) > 1 else 0,
        "warmup_s": steps[0]["total_s"], "warmup_cpu_s": steps[0]["cpu_s"],
        "step_s": mean("total_s"), "step_s_sd": sd("total_s"),
        "cpu_s": mean("cpu_s"), "cpu_s_sd": sd("cpu_s"),
        "buckets": {k: statistics.fmean(r["buckets"][k] for r in timed) for k, _ in BUCKETS},
        "cpu_buckets": {k: statistics.fmean(r["cpu_buckets"][k] for r in timed) for k, _ in BUCKETS},
        "completion_len_mean": mean("completion_len_mean"),
        "completion_len_max": mean("completion_len_max"),
        "truncated_fraction": mean("truncated_fraction"),
        "reward_mean": mean("reward_mean", steps),
        "rss_before_steps": result["rss_before_steps"],
        "rss_peak_steps": max(r["rss_peak"] for r in steps),
        "rss_growth": max(r["rss_peak"] for r in steps) - result["rss_before_steps"],
        "maxrss_timed": result["maxrss_timed"],
        "peak_tracked_bytes": result.get("profile_step", {}).get("peak_tracked_bytes"),
    }


def fmt(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def print_report(spec: dict[str, Any], results: dict[str, dict[str, Any]], summary: dict[str, Any]) -> None:
    ours, trl_ = summary.get("ours", {}), summary.get("trl", {})
    print()
    print(f"model {spec['model']} | env {spec['env']} {spec['env_kwargs']} | {spec['tasks']} prompt(s) x "
          f"{spec['group']} completions | max_new_tokens {spec['max_tokens']} | T={spec['temperature']} | "
          f"lr {spec['lr']:g} | micro-batch {spec['micro_batch']} | grad ckpt "
          f"{'on' if spec['gradient_checkpointing'] else 'off'} | {spec['steps']} steps each, step 1 = warm-up")
    print(f"torch threads: {spec['threads'] or 'torch default'} ({spec['threads_why']})")
    for side in SIDES:
        r = results.get(side)
        if r is None:
            continue
        if "error" in r:
            print(f"{side}: FAILED ({r['error']})")
            continue
        extra = f", TRL {r['trl']}" if side == "trl" else ""
        load = "/".join(f"{x:.1f}" for x in (r["loadavg_start"][0], r["loadavg_end"][0]))
        print(f"{side}: torch {r['torch']} with {r['torch_threads']} thread(s){extra}, setup {r['setup_s']:.1f}s, "
              f"process wall {r['process_wall_s']:.0f}s, 1-min load average at start/end {load}")

    w = 40
    head = f"{'':{w}} {'ours':>8} {'TRL':>8} {'TRL/ours':>8} | {'ours':>8} {'TRL':>8} {'TRL/ours':>8}"
    print()
    print(f"{'seconds':{w}} {'wall':^26} | {'CPU (user+sys)':^26}")
    print(head)
    print("-" * len(head))

    def time_row(label: str, a: float | None, b: float | None, ca: float | None, cb: float | None,
                 show_ratio: bool = True) -> None:
        r1, r2 = (ratio(b, a), ratio(cb, ca)) if show_ratio else (None, None)
        print(f"{label:{w}} {fmt(a):>8} {fmt(b):>8} {fmt(r1):>8} | {fmt(ca):>8} {fmt(cb):>8} {fmt(r2):>8}")

    time_row("warm-up step 1", ours.get("warmup_s"), trl_.get("warmup_s"), ours.get("warmup_cpu_s"),
             trl_.get("warmup_cpu_s"))
    n = ours.get("timed_steps") or trl_.get("timed_steps")
    time_row(f"per step, mean of {n} (steps 2..N)", ours.get("step_s"), trl_.get("step_s"), ours.get("cpu_s"),
             trl_.get("cpu_s"))
    time_row("  sd", ours.get("step_s_sd"), trl_.get("step_s_sd"), ours.get("cpu_s_sd"), trl_.get("cpu_s_sd"),
             show_ratio=False)
    for key, label in BUCKETS:
        time_row("  " + label, ours.get("buckets", {}).get(key), trl_.get("buckets", {}).get(key),
                 ours.get("cpu_buckets", {}).get(key), trl_.get("cpu_buckets", {}).get(key), show_ratio=False)
    print("-" * len(head))

    def pair(label: str, key: str, spec_: str = ".2f") -> None:
        print(f"{label:{w}} {fmt(ours.get(key), spec_):>8} {fmt(trl_.get(key), spec_):>8}")

    pair("completion tokens, mean", "completion_len_mean", ".1f")
    pair("completion tokens, longest in step", "completion_len_max", ".1f")
    pair("truncated completions (fraction)", "truncated_fraction")
    pair("mean reward (all steps)", "reward_mean", ".3f")
    print()
    mem_head = f"{'memory, MiB':{w}} {'ours':>8} {'TRL':>8} {'ours/TRL':>8}"
    print(mem_head)
    print("-" * len(mem_head))
    for label, key in (("peak RSS over timed steps (ru_maxrss)", "maxrss_timed"),
                       ("RSS before step 1 (model loaded)", "rss_before_steps"),
                       ("peak RSS sampled during steps", "rss_peak_steps"),
                       ("  growth over RSS before step 1", "rss_growth"),
                       ("peak torch CPU allocs in profiled step", "peak_tracked_bytes")):
        a, b = ours.get(key), trl_.get(key)
        a, b = (None if a is None else a / 2**20), (None if b is None else b / 2**20)
        print(f"{label:{w}} {fmt(a, '.0f'):>8} {fmt(b, '.0f'):>8} {fmt(ratio(a, b)):>8}")
    print()
    print("Time ratios are TRL/ours (>1: ours is faster); memory ratios are ours/TRL (<1: ours is lighter). CPU "
          "seconds are the worker process's user+sys time, steadier than wall time when other processes share the "
          "cores. 'Peak torch CPU allocs' counts bytes allocated during the profiled extra step (after the timed "
          "ones) at their peak; weights, AdamW state and other tensors that existed before it are left out.")
    ours_r, trl_r = results.get("ours", {}), results.get("trl", {})
    for side, r in (("ours", ours_r), ("TRL", trl_r)):
        used = r.get("indices_used")
        if used:
            same = used == spec["indices"][:len(used)]
            print(f"{side} trained on the planned task indices of every step: {same}"
                  + ("" if same else f" (planned {spec['indices'][:len(used)]}, got {used})"))
    if "prompt_ids_match" in trl_r:
        print(f"TRL prompt token ids == reasongym encoder ids for the same items: {trl_r['prompt_ids_match']}")
    for side in SIDES:
        prof = results.get(side, {}).get("profile_step")
        if prof:
            print(f"\n{side}: torch.profiler, step {prof['step']} ({prof['wall_s']:.1f}s wall under the profiler), "
                  "top ops by self CPU time:")
            for row in prof["top_ops"][:12]:
                print(f"  {row['op'][:48]:48} {row['calls']:>7} calls {row['self_s']:8.2f}s {row['share']:6.1%}")
    for side in SIDES:
        text = results.get(side, {}).get("cprofile")
        if text:
            print(f"\n{side}: cProfile of one extra step\n{text}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        result = (worker_ours if args.worker == "ours" else worker_trl)(spec)
        Path(args.out).write_text(json.dumps(result))
        return 0
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    unknown = set(sides) - set(SIDES)
    if unknown:
        raise SystemExit(f"unknown sides {sorted(unknown)}; choose from {SIDES}")
    if "trl" in sides:
        try:
            import trl  # noqa: F401
        except ImportError:
            raise SystemExit("TRL is not installed: pip install trl (or pip install -e '.[bench]')")
    spec = build_spec(args)
    results: dict[str, dict[str, Any]] = {}
    for side in sides:
        print(f"--- running {side} ({spec['steps']} steps + {spec['total_steps'] - spec['steps']} extra)",
              file=sys.stderr, flush=True)
        results[side] = run_worker(side, spec)
    summary = {side: summarise(r) for side, r in results.items() if "error" not in r}
    print_report(spec, results, summary)
    write_json(args.json, {"spec": spec, "summary": summary, "results": results})
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
