"""The Docker backend: each run goes to a warm, hardened container from a pool (see :mod:`.container`).

Limits that live in the container's cgroup (memory, CPU quota, pids) are fixed when a container is
created, so containers are pooled per distinct ``(memory_mb, cpus, pids)``: the pool for
``DockerConfig.limits`` starts warm at construction, others on first use. Per-run limits (wall clock,
output cap, rlimits) travel with each request.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field

from . import engine
from .base import Limits, RunRequest, RunResult, Status
from .container import ContainerSpec, ExecutorContainer, ExecutorLost, ExecutorTimeout
from .errors import SandboxError
from .normalize import check, check_limits
from .pool import ContainerPool
from .threaded import ThreadedSandbox
from .uids import UidAllocator
from .wire import to_message, to_result

POOL_LABEL = "org.reasongym.sandbox.pool"


@dataclass(frozen=True)
class DockerConfig:
    """Configuration of the Docker backend.

    Attributes:
        image: the sandbox image (built by ``reasongym sandbox build``).
        pool_size: warm containers per distinct container-level limits.
        limits: the limits whose pool is started at construction (and a default for callers).
        max_runs_per_container: a container is replaced after this many runs, even clean ones.
        grace_s: how long past a run's timeout the host waits for the executor before replacing it.
        start_timeout_s: how long a new container may take to say it is ready.
        acquire_timeout_s: how long a run may wait for a free container before SandboxError.
        workspace_mb, tmp_mb, shm_mb: tmpfs sizes of /workspace, /tmp and /dev/shm.
        executor_overhead_mb: memory added to ``limits.memory_mb`` in the cgroup for the executor itself.
        uid_base: containers run as distinct uids from ``uid_base`` on (see :mod:`.uids`).
        base_url: the engine's address (default: ``DOCKER_HOST`` or the local socket).
    """

    image: str = engine.DEFAULT_IMAGE
    pool_size: int = 4
    limits: Limits = field(default_factory=Limits)
    max_runs_per_container: int = 1000
    grace_s: float = 5.0
    start_timeout_s: float = 30.0
    acquire_timeout_s: float = 300.0
    workspace_mb: int = 64
    tmp_mb: int = 64
    shm_mb: int = 16
    executor_overhead_mb: int = 48
    uid_base: int = 61000
    base_url: str | None = None


class DockerSandbox(ThreadedSandbox):
    """Runs programs in warm Docker containers; safe to call from many threads and from asyncio."""

    def __init__(self, config: DockerConfig | None = None) -> None:
        self.config = config or DockerConfig()
        check_limits(self.config.limits)
        self._client = engine.connect(self.config.base_url)
        try:
            engine.check_image(self._client, self.config.image)
            engine.remove_orphans(self._client)
        except BaseException:
            self._client.close()
            raise
        super().__init__(async_threads=2 * self.config.pool_size)
        self._uids = UidAllocator(self.config.uid_base)
        self._owner = engine.owner_label()
        self._pools: dict[tuple[int, float, int], ContainerPool] = {}
        self._pools_lock = threading.Lock()
        # Removes the containers at interpreter exit (or collection) if close() is never called.
        self._remove_containers = weakref.finalize(self, _close_pools, self._pools, self._pools_lock)
        try:
            self._pool_for(self.config.limits)
        except BaseException:
            self.close()
            raise

    def run(self, request: RunRequest) -> RunResult:
        """Run one program in a warm container and report what happened."""
        check(request)
        message = to_message(request, file_bytes=self.config.workspace_mb * 1024 * 1024)
        pool = self._pool_for(request.limits)
        container = pool.acquire()
        started = time.monotonic()
        healthy = False
        try:
            reply = container.call(message, request.limits.timeout_s + self.config.grace_s)
            # After a cgroup OOM kill the engine's OOMKilled flag stays set for the container's life, so
            # the container is replaced: diagnose() must be able to blame a later executor death on memory.
            healthy = bool(reply.get("clean")) and not reply.get("oom_killed")
            return to_result(reply)
        except ExecutorTimeout:
            return RunResult("timeout", None, "", "", time.monotonic() - started,
                             f"the sandbox did not answer within the {request.limits.timeout_s:g}s timeout + "
                             f"{self.config.grace_s:g}s grace; its container was replaced")
        except ExecutorLost as lost:
            oom_killed, description = container.diagnose()
            status: Status = "oom" if oom_killed else "killed"
            cause = "memory limit reached: the container was OOM-killed" if oom_killed else "the sandbox executor died"
            return RunResult(status, None, "", "", time.monotonic() - started,
                             f"{cause} ({lost}; {description}); its container was replaced")
        finally:
            pool.release(container, healthy=healthy)

    def close(self) -> None:
        """Remove every container, stop the async thread pool and disconnect from the engine."""
        self._remove_containers()
        super().close()
        self._client.close()
        self._client.close()

    def _pool_for(self, limits: Limits) -> ContainerPool:
        key = (limits.memory_mb, limits.cpus, limits.pids)
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                if not self._remove_containers.alive:
                    raise SandboxError("the sandbox is closed")
                pool = self._new_pool(limits)
                pool.fill()
                self._pools[key] = pool
            return pool

    def _new_pool(self, limits: Limits) -> ContainerPool:
        config = self.config
        spec = ContainerSpec(
            image=config.image, memory_mb=limits.memory_mb + config.executor_overhead_mb,
            nano_cpus=int(limits.cpus * 1e9), pids=limits.pids + 2, workspace_mb=config.workspace_mb,
            tmp_mb=config.tmp_mb, shm_mb=config.shm_mb,
            labels={engine.OWNER_LABEL: self._owner,
                    POOL_LABEL: f"mem={limits.memory_mb}m,cpus={limits.cpus:g},pids={limits.pids}"})

        def start() -> ExecutorContainer:
            uid = self._uids.acquire()
            try:
                return ExecutorContainer(self._client, spec, uid, config.start_timeout_s)
            except BaseException:
                self._uids.release(uid)
                raise

        def stop(container: ExecutorContainer) -> None:
            container.destroy()
            self._uids.release(container.uid)

        return ContainerPool(start, stop=stop, size=config.pool_size, max_runs=config.max_runs_per_container,
                             acquire_timeout_s=config.acquire_timeout_s)


def _close_pools(pools: dict[tuple[int, float, int], ContainerPool], lock: threading.Lock) -> None:
    with lock:
        closing = list(pools.values())
        pools.clear()
    for pool in closing:
        pool.close()
