"""One warm sandbox container: its hardened configuration, and the request/response channel to its executor.

The channel is the executor's own stdin/stdout, reached through the engine's attach endpoint (attached
before the container starts, so nothing is lost). No ``docker exec`` or ``docker run`` happens per run:
a run costs one frame each way. Programs in the container cannot reach this channel (the executor's
descriptors are not inherited and it is not dumpable), so no run can forge another run's result.
Attach streams are multiplexed: each chunk carries an 8-byte header naming stdout or stderr.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .guest.protocol import PROTOCOL_VERSION, ProtocolError, decode_body, encode_frame, frame_length

if TYPE_CHECKING:
    import docker

log = logging.getLogger(__name__)
MUX_HEADER = struct.Struct(">BxxxI")
STDOUT, STDERR = 1, 2
STDERR_TAIL_BYTES = 4096
RECV_BYTES = 1 << 20
EXIT_WAIT_S = 2


class ExecutorLost(Exception):
    """The executor's channel closed or broke: the container is dead or unusable."""


class ExecutorTimeout(Exception):
    """The executor did not answer in time."""


@dataclass(frozen=True)
class ContainerSpec:
    """Everything fixed when a container is created.

    Attributes:
        image: the sandbox image.
        memory_mb: the cgroup memory limit; swap is set equal, so there is no swap.
        nano_cpus: CPU quota in units of 1e-9 cores.
        pids: the cgroup's limit on processes and threads (the executor included).
        workspace_mb, tmp_mb, shm_mb: sizes of the tmpfs mounts (their contents count as memory too).
        labels: container labels (ownership, pool).
    """

    image: str
    memory_mb: int
    nano_cpus: int
    pids: int
    workspace_mb: int
    tmp_mb: int
    shm_mb: int
    labels: dict[str, str] = field(default_factory=dict)

    def create_kwargs(self, uid: int) -> dict[str, Any]:
        """Arguments for ``containers.create``: no network, no privileges, nothing writable but tmpfs."""
        from docker.types import LogConfig, Ulimit

        memory = f"{self.memory_mb}m"
        return dict(
            image=self.image, user=f"{uid}:{uid}", stdin_open=True, tty=False, detach=True,
            network_mode="none", ipc_mode="private", read_only=True,
            mem_limit=memory, memswap_limit=memory, pids_limit=self.pids, nano_cpus=self.nano_cpus,
            tmpfs={"/workspace": f"rw,exec,nosuid,nodev,size={self.workspace_mb}m,mode=1777",
                   "/tmp": f"rw,exec,nosuid,nodev,size={self.tmp_mb}m,mode=1777"},
            shm_size=f"{self.shm_mb}m", cap_drop=["ALL"], security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            log_config=LogConfig(type=LogConfig.types.NONE), labels=dict(self.labels))


class ExecutorContainer:
    """A started container whose executor has said it is ready; serves one call at a time."""

    def __init__(self, client: "docker.DockerClient", spec: ContainerSpec, uid: int, start_timeout_s: float) -> None:
        self.uid = uid
        self.runs = 0
        self._raw = bytearray()  # multiplexed bytes not yet split
        self._out = bytearray()  # the executor's stdout: protocol frames
        self._err = bytearray()  # the tail of the executor's stderr, for diagnostics
        self._container = client.containers.create(**spec.create_kwargs(uid))
        try:
            attached = client.api.attach_socket(str(self._container.id),
                                                params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self._sock: socket.socket = getattr(attached, "_sock", attached)
            self._attached = attached  # keeps the HTTP response (and so the socket) alive
            self._container.start()
            ready = self._receive(time.monotonic() + start_timeout_s)
        except BaseException:
            self.destroy()
            raise
        if not ready.get("ready") or ready.get("protocol") != PROTOCOL_VERSION:
            self.destroy()
            raise ExecutorLost(f"unexpected greeting from the executor: {ready}")
        if not ready.get("oom_counter"):
            log.warning("container %s cannot read its cgroup's OOM-kill counter: runs killed by the cgroup's OOM "
                        "killer will be reported as 'killed', not 'oom'", self.short_id)

    @property
    def short_id(self) -> str:
        return self._container.short_id

    def call(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait up to ``timeout_s`` for its reply."""
        deadline = time.monotonic() + timeout_s
        self.runs += 1
        try:
            self._sock.settimeout(timeout_s)
            self._sock.sendall(encode_frame(message))
        except TimeoutError as exc:
            raise ExecutorTimeout("the executor did not take the request") from exc
        except OSError as exc:
            raise ExecutorLost(f"cannot send to the executor: {exc}") from exc
        return self._receive(deadline)

    def diagnose(self) -> tuple[bool, str]:
        """After a lost channel: whether the kernel OOM-killed the container, and a description.

        The channel can close before the engine has recorded the exit (and its OOM flag), so this waits
        briefly for the container to stop first.
        """
        try:
            self._container.wait(timeout=EXIT_WAIT_S)
        except Exception:
            pass  # still running (only the channel broke) or the engine is slow: read the state as it is
        try:
            self._container.reload()
            state = self._container.attrs.get("State", {})
        except Exception as exc:  # the engine may be failing too: report it rather than mask the run's result
            return False, f"container state unavailable: {exc}"
        tail = bytes(self._err[-512:]).decode(errors="replace").strip()
        description = (f"container {self.short_id} {state.get('Status', '?')}, exit code {state.get('ExitCode')}"
                       + (f"; executor stderr: {tail}" if tail else ""))
        return bool(state.get("OOMKilled")), description

    def destroy(self) -> None:
        """Close the channel and remove the container (killing whatever runs in it)."""
        for channel in (getattr(self, "_attached", None), getattr(self, "_sock", None)):
            if channel is not None:
                channel.close()  # both: the SDK's SocketIO holds a reference that keeps the socket open
        try:
            self._container.remove(force=True)
        except Exception:
            pass  # already gone, or the engine is failing: orphans are removed on the next start

    def _receive(self, deadline: float) -> dict[str, Any]:
        while True:
            message = self._take_frame()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExecutorTimeout("the executor did not answer in time")
            try:
                self._sock.settimeout(remaining)
                data = self._sock.recv(RECV_BYTES)
            except TimeoutError as exc:
                raise ExecutorTimeout("the executor did not answer in time") from exc
            except OSError as exc:
                raise ExecutorLost(f"the executor's channel broke: {exc}") from exc
            if not data:
                raise ExecutorLost("the executor exited")
            self._demux(data)

    def _demux(self, data: bytes) -> None:
        self._raw += data
        offset = 0
        while len(self._raw) - offset >= MUX_HEADER.size:
            stream, size = MUX_HEADER.unpack_from(self._raw, offset)
            end = offset + MUX_HEADER.size + size
            if len(self._raw) < end:
                break
            payload = self._raw[offset + MUX_HEADER.size:end]
            if stream == STDOUT:
                self._out += payload
            elif stream == STDERR:
                self._err = (self._err + payload)[-STDERR_TAIL_BYTES:]
            offset = end
        del self._raw[:offset]

    def _take_frame(self) -> dict[str, Any] | None:
        if len(self._out) < 4:
            return None
        try:
            end = 4 + frame_length(bytes(self._out[:4]))
        except ProtocolError as exc:
            raise ExecutorLost(f"garbled reply from the executor: {exc}") from exc
        if len(self._out) < end:
            return None
        body = bytes(self._out[4:end])
        del self._out[:end]
        try:
            return decode_body(body)
        except ProtocolError as exc:
            raise ExecutorLost(f"garbled reply from the executor: {exc}") from exc
