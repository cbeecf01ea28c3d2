"""Sandbox latency and throughput: the warm pool next to a bare subprocess, `docker run` and `docker exec`.

Every Docker method uses the same hardening (no network, read-only root, tmpfs workspace, non-root uid,
no capabilities, memory/pids/CPU limits) and the same image, and runs the same Python program, so the
differences are the cost of how a run reaches a container. Methods are interleaved over several rounds
so that load from elsewhere on the machine falls on all of them. Nothing is asserted: numbers are
printed with ratios to the bare subprocess (the limit any sandbox can approach). See bench/README.md.

    .venv/bin/python bench/sandbox.py            # 3 rounds; 120 runs per fast method, 24 of `docker run`
    .venv/bin/python bench/sandbox.py --quick    # 2 rounds; 40 / 8
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from reasongym.runtime.sandbox import Limits, RunRequest, WeakIsolationWarning
from reasongym.runtime.sandbox.docker_backend import DockerConfig, DockerSandbox
from reasongym.runtime.sandbox.engine import DEFAULT_IMAGE, connect
from reasongym.runtime.sandbox.local import LocalConfig, LocalSandbox
from reasongym.runtime.sandbox.timing import SHM, Measurement, bare_subprocess, measure, render

PYTHON_PROGRAM = "print('hello')"
WORKLOADS = ("python", "true")


@dataclass(frozen=True)
class Method:
    """One way of running the workload, timed with ``runs`` calls per round from ``concurrency`` threads."""

    name: str
    call: Callable[[], object]
    runs: int
    concurrency: int = 1


def request_for(workload: str) -> RunRequest:
    """``python``: a one-line Python program from a file; ``true``: /bin/true, the pure overhead."""
    if workload == "true":
        return RunRequest(command=("true",))
    return RunRequest(files={"main.py": PYTHON_PROGRAM}, command=("python3", "main.py"))


def hardened(limits: Limits) -> dict[str, Any]:
    """The same container options the pool uses (see reasongym/runtime/sandbox/container.py)."""
    memory = f"{limits.memory_mb + 48}m"
    return dict(network_mode="none", read_only=True, user="65534:65534", cap_drop=["ALL"],
                security_opt=["no-new-privileges"], mem_limit=memory, memswap_limit=memory,
                pids_limit=limits.pids + 2, nano_cpus=int(limits.cpus * 1e9), working_dir="/workspace",
                tmpfs={"/workspace": "rw,exec,nosuid,nodev,size=64m,mode=1777",
                       "/tmp": "rw,exec,nosuid,nodev,size=64m,mode=1777"})


def inline_command(workload: str) -> list[str]:
    """`docker run`/`exec` get the program inline (no file to write first), which slightly favours them."""
    return ["true"] if workload == "true" else ["python3", "-c", PYTHON_PROGRAM]


def methods(stack: ExitStack, client: Any, args: argparse.Namespace, request: RunRequest) -> list[Method]:
    """Every method, with the sandboxes and containers it needs opened on ``stack``."""
    limits, image, runs, concurrency = request.limits, args.image, args.runs, args.concurrency or args.pool_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakIsolationWarning)
        local = stack.enter_context(LocalSandbox(LocalConfig(workspace_root=SHM)))
    idle = client.containers.run(image, ["sleep", "infinity"], detach=True, **hardened(limits))
    stack.callback(idle.remove, force=True)
    pool = stack.enter_context(DockerSandbox(DockerConfig(image=image, pool_size=args.pool_size, limits=limits)))
    command = inline_command(args.workload)
    return [
        Method("bare subprocess (no isolation)", bare_subprocess(request), runs),
        Method("local backend (weaker isolation)", lambda: local.run(request), runs),
        Method("docker run per program",
               lambda: client.containers.run(image, command, remove=True, **hardened(limits)), args.slow_runs),
        Method("docker exec per program", lambda: idle.exec_run(command, workdir="/workspace"), runs),
        Method("reasongym pool, sequential", lambda: pool.run(request), runs),
        Method(f"reasongym pool ({args.pool_size} containers)", lambda: pool.run(request), 2 * runs, concurrency),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=120, help="timed runs per fast method (over all rounds)")
    parser.add_argument("--slow-runs", type=int, default=24, help="timed runs of `docker run` (over all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all methods")
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="threads for the concurrent pool (default: pool size)")
    parser.add_argument("--workload", choices=WORKLOADS, default="python")
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 40 runs per fast method, 8 of `docker run`")
    parser.add_argument("--json", type=Path, help="also write the raw latencies here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.runs, args.slow_runs = 2, 40, 8
    request = request_for(args.workload)
    client = connect()
    totals: dict[str, Measurement] = {}
    with ExitStack() as stack:
        stack.callback(client.close)
        timed = methods(stack, client, args, request)
        for round_index in range(args.rounds):
            for method in (timed if round_index % 2 == 0 else timed[::-1]):
                runs = max(1, method.runs // args.rounds)
                result = measure(method.name, method.call, runs=runs, concurrency=method.concurrency,
                                 warmup=1 if round_index else 3)
                totals[method.name] = totals[method.name].merged(result) if method.name in totals else result

    results = [totals[method.name] for method in timed]
    print(f"workload: {args.workload}; {args.rounds} interleaved rounds; limits: {request.limits}")
    print(render(results, results[0]))
    sequential = totals["reasongym pool, sequential"]
    for peer in ("docker run per program", "docker exec per program"):
        print(f"pool sequential vs {peer}: p50 {totals[peer].p50_ms / sequential.p50_ms:.1f}x lower, "
              f"{sequential.per_second / totals[peer].per_second:.1f}x the executions/s")
    if args.json:
        args.json.write_text(json.dumps([{"name": m.name, "concurrency": m.concurrency, "wall_s": m.wall_s,
                                          "latencies_s": m.latencies_s} for m in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
