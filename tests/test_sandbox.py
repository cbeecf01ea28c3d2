"""Sandbox tests: correct results, contained attacks, isolation between runs, concurrency.

The local backend's tests always run. Tests marked ``docker`` need a Docker engine (started with
``containers/start_dockerd.sh`` when none answers and we are root) and the sandbox image
(``containers/sandbox/build_offline.sh``); they skip, with the reason, only when those are unavailable.
Every attack is followed by a normal run in the same pool, which must give the right answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from reasongym.runtime.sandbox import (
    EngineUnavailable,
    ImageUnavailable,
    Limits,
    RunRequest,
    RunResult,
    Sandbox,
    WeakIsolationWarning,
    make_sandbox,
)
from reasongym.runtime.sandbox.guest.protocol import ProtocolError, decode_body, encode_frame, read_frame
from reasongym.runtime.sandbox.guest.supervise import ChildOutcome
from reasongym.runtime.sandbox.guest.verdict import classify
from reasongym.runtime.sandbox.guest.workspace import BadFileName, clear, populate
from reasongym.runtime.sandbox.host_isolation import probe
from reasongym.runtime.sandbox.local import LocalSandbox

REPO = Path(__file__).resolve().parents[1]
# Limits of the attack pools: small, so that every bomb hits them quickly.
ATTACK = Limits(timeout_s=2.0, memory_mb=128, cpus=1.0, pids=32, output_bytes=100_000)


def python(code: str, *, stdin: str | bytes = b"", limits: Limits = ATTACK, **files: str | bytes) -> RunRequest:
    """A request running ``code`` as main.py."""
    return RunRequest(files={"main.py": code, **files}, command=("python3", "main.py"), stdin=stdin, limits=limits)


def assert_healthy(sandbox: Sandbox, limits: Limits = ATTACK) -> None:
    """A normal run after an attack gives the right answer in a clean workspace with no leftover process."""
    token = uuid.uuid4().hex
    # As PID 1 the program is in a fresh PID namespace that sees the host's /proc (local backend): skip the count.
    result = sandbox.run(python(
        "import os, sys\n"
        "others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (os.getpid(), os.getppid(), 1)]\n"
        "others = [] if os.getpid() == 1 else others\n"
        "print(sys.stdin.read().strip(), sorted(os.listdir('.')), len(others))\n",
        stdin=token, limits=limits))
    assert (result.status, result.exit_code) == ("ok", 0), result
    assert result.stdout.split() == [token, "['main.py']", "0"], result


# ---------------------------------------------------------------------------------------------- fixtures


def _local() -> LocalSandbox:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakIsolationWarning)
        return LocalSandbox()


@pytest.fixture(scope="module")
def local_sandbox() -> Iterator[LocalSandbox]:
    sandbox = _local()
    yield sandbox
    sandbox.close()


def _docker(**config: object) -> Sandbox:
    """A Docker sandbox, or a skip saying why there can be none here."""
    pytest.importorskip("docker", reason="the Docker SDK is not installed (pip install 'reasongym[docker]')")
    from reasongym.runtime.sandbox import engine

    try:
        engine.connect()
    except EngineUnavailable:
        script = REPO / "containers" / "start_dockerd.sh"
        if os.geteuid() == 0 and script.exists():
            subprocess.run(["bash", str(script)], capture_output=True, timeout=300, check=False)
        try:
            engine.connect()
        except EngineUnavailable as exc:
            pytest.skip(f"no Docker engine could be started: {exc}")
    try:
        return make_sandbox("docker", **config)
    except ImageUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def attack_sandbox() -> Iterator[Sandbox]:
    """One container, so each attack and the run after it meet in the same place."""
    sandbox = _docker(pool_size=1, limits=ATTACK, grace_s=1.0)
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def docker_pool() -> Iterator[Sandbox]:
    sandbox = _docker(pool_size=4)
    yield sandbox
    sandbox.close()


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """Each backend in turn, for the tests both must pass (Docker: the one-container attack pool)."""
    return request.getfixturevalue("local_sandbox" if request.param == "local" else "attack_sandbox")


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def concurrent_sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """Each backend in turn (Docker: the four-container pool)."""
    return request.getfixturevalue("local_sandbox" if request.param == "local" else "docker_pool")


def container_of(sandbox: Sandbox) -> str:
    """The id of the container serving a one-container pool (its hostname)."""
    return sandbox.run(python("import socket; print(socket.gethostname())")).stdout.strip()


# ---------------------------------------------------------------------------------------------- units


@pytest.mark.parametrize(("outcome", "oom", "expected"), [
    (ChildOutcome(0, False, False, b"", b"", 0.1), False, ("ok", 0)),
    (ChildOutcome(3, False, False, b"", b"", 0.1), False, ("error", 3)),
    (ChildOutcome(-9, True, False, b"", b"", 2.0), False, ("timeout", None)),
    (ChildOutcome(-9, False, True, b"x", b"", 0.1), False, ("output_truncated", None)),
    (ChildOutcome(-9, False, False, b"", b"", 0.1), True, ("oom", None)),
    (ChildOutcome(1, False, False, b"", b"Traceback...\nMemoryError\n", 0.1), False, ("oom", 1)),
    (ChildOutcome(-15, False, False, b"", b"", 0.1), False, ("killed", None)),
    (ChildOutcome(-24, False, False, b"", b"", 0.1), False, ("timeout", None)),  # SIGXCPU
    (ChildOutcome(None, False, False, b"", b"", 0.0, "nope: not found"), False, ("error", 127)),
])
def test_classify(outcome: ChildOutcome, oom: bool, expected: tuple[str, int | None]) -> None:
    status, code, detail = classify(outcome, oom_killed=oom, timeout_s=2, output_bytes=1)
    assert (status, code) == expected
    assert status == "ok" or detail


def test_frames_round_trip_and_reject_garbage() -> None:
    frame = encode_frame({"a": [1, "é"]})
    stream = iter([frame[:4], frame[4:]])
    assert read_frame(lambda n: next(stream, None)) == {"a": [1, "é"]}
    with pytest.raises(ProtocolError):
        decode_body(b"[1]")
    with pytest.raises(ProtocolError):
        read_frame(lambda n: b"\xff\xff\xff\xff")


def test_workspace_rejects_escaping_names_and_clears_locked_dirs(tmp_path: Path) -> None:
    for name in ("../x", "/etc/x", "a/../../x", ""):
        with pytest.raises(BadFileName):
            populate(str(tmp_path), {name: b""})
    populate(str(tmp_path), {"a/b/c.txt": b"1"})
    (tmp_path / "a" / "b").chmod(0)
    (tmp_path / "a").chmod(0)
    assert clear(str(tmp_path), keep_root=True)
    assert tmp_path.exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------- both backends


def test_stdout_stdin_and_exit_codes(sandbox: Sandbox) -> None:
    result = sandbox.run(python("import sys; data = sys.stdin.read(); print(len(data), data[:5])",
                                stdin="hello" * 200_000))
    assert (result.status, result.exit_code, result.stdout) == ("ok", 0, "1000000 hello\n")
    assert result.duration_s > 0
    failed = sandbox.run(python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"))
    assert (failed.status, failed.exit_code, failed.stdout, failed.stderr) == ("error", 3, "out\n", "err\n")
    crashed = sandbox.run(python("raise ValueError('boom')"))
    assert crashed.status == "error" and crashed.exit_code == 1 and "ValueError: boom" in crashed.stderr


def test_files_subdirectories_bytes_and_other_commands(sandbox: Sandbox) -> None:
    request = RunRequest(
        files={"main.py": "from pkg.helper import double\nprint(double(int(open('data.bin','rb').read())))",
               "pkg/__init__.py": "", "pkg/helper.py": "def double(x):\n    return 2 * x\n", "data.bin": b"21"},
        limits=ATTACK)
    assert sandbox.run(request).stdout == "42\n"
    shell = sandbox.run(RunRequest(files={"run.sh": "echo $((6 * 7)) >&2; exit 4"}, command=("sh", "run.sh"),
                                   limits=ATTACK))
    assert (shell.status, shell.exit_code, shell.stderr) == ("error", 4, "42\n")


def test_bad_requests_are_results_or_value_errors(sandbox: Sandbox) -> None:
    missing = sandbox.run(RunRequest(command=("no-such-program",), limits=ATTACK))
    assert (missing.status, missing.exit_code) == ("error", 127)
    escaping = sandbox.run(python("print(1)", **{"../evil.py": "x"}))
    assert escaping.status == "error" and "relative path" in escaping.detail
    with pytest.raises(ValueError):
        sandbox.run(RunRequest(command=()))
    assert_healthy(sandbox)


def test_undecodable_output_is_replaced_not_raised(sandbox: Sandbox) -> None:
    result = sandbox.run(python("import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe ' + 'é'.encode())"))
    assert result.status == "ok" and result.stdout == "ok \ufffd\ufffd é"


def test_timeouts_busy_loop_and_sleep_forever(sandbox: Sandbox) -> None:
    for code in ("while True: pass", "import time; time.sleep(10**6)"):
        result = sandbox.run(python(code, limits=dataclasses.replace(ATTACK, timeout_s=1.0)))
        assert (result.status, result.exit_code) == ("timeout", None), result
        assert result.duration_s > 0.9
        assert_healthy(sandbox)


def test_output_flood_is_cut_and_stopped(sandbox: Sandbox) -> None:
    result = sandbox.run(python("import sys\nfor _ in range(100): sys.stdout.write('x' * 1_000_000)\n"
                                "open('finished', 'w').write('1')"))
    assert result.status == "output_truncated" and result.exit_code is None
    assert result.stdout == "x" * ATTACK.output_bytes
    assert_healthy(sandbox)


def test_memory_bomb_single_allocation(sandbox: Sandbox) -> None:
    result = sandbox.run(python("x = bytearray(4 * 1024**3)"))
    assert result.status == "oom" and "MemoryError" in result.stderr
    assert_healthy(sandbox)


def test_many_concurrent_runs_from_threads_are_isolated(concurrent_sandbox: Sandbox) -> None:
    code = ("import os, sys, time\ntoken = sys.stdin.read()\nopen(token, 'w').write(token)\ntime.sleep(0.05)\n"
            "print(token, sorted(os.listdir('.')) == sorted(['main.py', token]))")
    tokens = [uuid.uuid4().hex for _ in range(50)]
    with ThreadPoolExecutor(max_workers=8) as threads:
        results = list(threads.map(lambda token: concurrent_sandbox.run(python(code, stdin=token)), tokens))
    assert [r.stdout for r in results] == [f"{token} True\n" for token in tokens]


def test_many_concurrent_runs_via_asyncio(concurrent_sandbox: Sandbox) -> None:
    async def main() -> list[RunResult]:
        return await asyncio.gather(*[concurrent_sandbox.arun(python(f"print({i} * {i})")) for i in range(50)])

    assert [r.stdout for r in asyncio.run(main())] == [f"{i * i}\n" for i in range(50)]


# ---------------------------------------------------------------------------------------------- local backend


def test_local_backend_announces_weaker_isolation() -> None:
    with pytest.warns(WeakIsolationWarning, match="isolates less than Docker"):
        make_sandbox("local").close()


def test_local_background_process_does_not_outlive_its_run(local_sandbox: LocalSandbox) -> None:
    if not local_sandbox.isolation.unshare:
        pytest.skip("this host allows no PID namespace: the local backend cannot reach escaped daemons")
    shared = Path(tempfile.mkdtemp(prefix="reasongym-sandbox-test-"))
    try:
        shared.chmod(0o777)  # writable by the run's uid, so only the daemon's death keeps "late" away
        daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                  f"        open({str(shared / 'early')!r}, 'w').write('x')\n        time.sleep(1)\n"
                  f"        open({str(shared / 'late')!r}, 'w').write('x')\n    os._exit(0)\n"
                  "time.sleep(0.3)\nprint('left')")
        assert local_sandbox.run(python(daemon)).stdout == "left\n"
        time.sleep(1.5)
        assert sorted(path.name for path in shared.iterdir()) == ["early"]
    finally:
        clear(str(shared), keep_root=False)


def test_local_network_is_cut(local_sandbox: LocalSandbox) -> None:
    if not local_sandbox.isolation.unshare:
        pytest.skip("this host allows no network namespace for the local backend")
    with listener() as port:
        result = local_sandbox.run(python(connect_program(port)))
        assert json.loads(result.stdout)["connected"] is False, result


def test_local_fork_bomb_is_bounded(local_sandbox: LocalSandbox) -> None:
    if not (local_sandbox.isolation.root and local_sandbox.isolation.prlimit):
        pytest.skip("a process limit needs a dedicated uid (root) and prlimit")
    result = local_sandbox.run(python(FORK_BOMB))
    assert result.status == "timeout"
    assert subprocess.run(["true"], check=False).returncode == 0
    assert_healthy(local_sandbox)


# ---------------------------------------------------------------------------------------------- docker attacks

FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


def connect_program(port: int) -> str:
    """Tries to reach a host listener on loopback; prints what happened and the visible interfaces."""
    return ("import json, socket\ns = socket.socket()\ns.settimeout(1)\ntry:\n"
            f"    s.connect(('127.0.0.1', {port}))\n    connected = True\nexcept OSError as exc:\n"
            "    connected = False\nprint(json.dumps({'connected': connected, "
            "'interfaces': [name for _, name in socket.if_nameindex()]}))")


class listener:
    """A TCP listener on 127.0.0.1 of this machine that must never receive a connection."""

    def __enter__(self) -> int:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        return self.socket.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        try:
            conn, _ = self.socket.accept()
            conn.close()
            raise AssertionError("the sandboxed program reached the host's listener")
        except TimeoutError:
            pass
        finally:
            self.socket.close()


@pytest.mark.docker
def test_fork_bomb_is_contained(attack_sandbox: Sandbox) -> None:
    result = attack_sandbox.run(python(FORK_BOMB))
    assert result.status == "timeout", result
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still start processes
    assert_healthy(attack_sandbox)


@pytest.mark.docker
def test_memory_bomb_across_processes_hits_the_cgroup(attack_sandbox: Sandbox) -> None:
    # Each child stays under the per-process address-space limit; together they pass the cgroup's.
    bomb = ("import os, sys\npids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
            "        chunks = []\n        for _ in range(100):\n            chunks.append(b'x' * 1_000_000)\n"
            "        os._exit(0)\n    pids.append(pid)\n"
            "sys.exit(1 if any(os.waitpid(pid, 0)[1] != 0 for pid in pids) else 0)")
    result = attack_sandbox.run(python(bomb))
    assert result.status == "oom" and "OOM killer" in result.detail, result
    assert_healthy(attack_sandbox)


@pytest.mark.docker
def test_network_is_off(attack_sandbox: Sandbox) -> None:
    with listener() as port:
        result = attack_sandbox.run(python(connect_program(port)))
    report = json.loads(result.stdout)
    assert report == {"connected": False, "interfaces": ["lo"]}
    assert_healthy(attack_sandbox)


@pytest.mark.docker
def test_cannot_write_outside_the_workspace(attack_sandbox: Sandbox) -> None:
    targets = ["/etc/evil", "/evil", "/usr/evil", "/usr/bin/python3", "/opt/sandbox/guest/executor.py",
               "/proc/1/oom_score_adj", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
    code = (f"import json\nwritten = []\nfor path in {targets!r}:\n    try:\n        open(path, 'a').write('x')\n"
            "        written.append(path)\n    except OSError:\n        pass\nprint(json.dumps(written))")
    result = attack_sandbox.run(python(code))
    assert result.status == "ok" and json.loads(result.stdout) == []
    assert_healthy(attack_sandbox)


@pytest.mark.docker
def test_host_files_are_not_visible(attack_sandbox: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / f"secret-{uuid.uuid4().hex}"
    secret.write_text("host secret")
    secret.chmod(0o644)
    code = (f"import json\nseen = {{}}\nfor path in [{str(secret)!r}, '/etc/shadow', '/root/.bash_history']:\n"
            "    try:\n        seen[path] = open(path).read()\n    except OSError as exc:\n"
            "        seen[path] = type(exc).__name__\nprint(json.dumps(seen))")
    seen = json.loads(attack_sandbox.run(python(code)).stdout)
    assert seen[str(secret)] == "FileNotFoundError"
    assert seen["/etc/shadow"] == "PermissionError"  # the image's own shadow file, unreadable to the uid
    assert seen["/root/.bash_history"] in ("FileNotFoundError", "PermissionError")


@pytest.mark.docker
def test_background_processes_do_not_survive_into_the_next_run(attack_sandbox: Sandbox) -> None:
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        time.sleep(0.5)\n        for path in ('/workspace/run/late', '/tmp/late', '/workspace/late'):\n"
              "            open(path, 'w').write('x')\n        time.sleep(60)\n    os._exit(0)\nprint('left')")
    assert attack_sandbox.run(python(daemon)).stdout == "left\n"
    look = attack_sandbox.run(python(
        "import os, time\ntime.sleep(1)\nprint(sorted(os.listdir('.')), os.listdir('/tmp'), os.listdir('/workspace'),"
        " sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()))"))
    assert look.stdout == "['main.py'] [] ['run'] [1]\n", look


@pytest.mark.docker
def test_no_state_leaks_through_shm_mqueue_sysv_or_tmp(attack_sandbox: Sandbox) -> None:
    plant = ("import os, subprocess\nopen('/tmp/left', 'w').write('x')\nopen('/dev/shm/left', 'w').write('x')\n"
             "subprocess.run(['ipcmk', '-M', '4096'], check=True, capture_output=True)\n"
             "subprocess.run(['ipcmk', '-Q'], check=True, capture_output=True)\nos.chmod('.', 0)\nprint('planted')")
    assert attack_sandbox.run(python(plant)).stdout == "planted\n"
    probe_code = ("import os\nprint(os.listdir('/tmp'), os.listdir('/dev/shm'), "
                  "[len(open(f'/proc/sysvipc/{k}').read().splitlines()) - 1 for k in ('shm', 'msg', 'sem')])")
    assert attack_sandbox.run(python(probe_code)).stdout == "[] [] [0, 0, 0]\n"


@pytest.mark.docker
def test_signals_at_the_executor_are_ignored(attack_sandbox: Sandbox) -> None:
    code = ("import os, signal\nfor sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGINT):\n"
            "    os.kill(os.getppid(), sig)\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n"
            "    pass\nprint('still here')")
    result = attack_sandbox.run(python(code))
    assert (result.status, result.stdout) == ("ok", "still here\n")
    shell = attack_sandbox.run(RunRequest(files={"k.sh": "kill -9 -1; kill -9 1; echo done"},
                                          command=("sh", "k.sh"), limits=ATTACK))
    assert shell.status in ("ok", "killed")  # kill -1 also kills the shell itself; the sandbox lives on
    assert_healthy(attack_sandbox)


@pytest.mark.docker
def test_executor_channel_cannot_be_reached_or_traced(attack_sandbox: Sandbox) -> None:
    code = ("import ctypes, json\nresults = {}\nfor path in ('/proc/1/fd/1', '/proc/1/mem', '/proc/1/environ'):\n"
            "    try:\n        open(path, 'wb' if 'fd' in path else 'rb').close()\n        results[path] = 'opened'\n"
            "    except OSError as exc:\n        results[path] = type(exc).__name__\n"
            "libc = ctypes.CDLL(None, use_errno=True)\nresults['ptrace'] = libc.ptrace(16, 1, 0, 0)\n"
            "print(json.dumps(results))")
    results = json.loads(attack_sandbox.run(python(code)).stdout)
    assert results == {"/proc/1/fd/1": "PermissionError", "/proc/1/mem": "PermissionError",
                       "/proc/1/environ": "PermissionError", "ptrace": -1}
    assert_healthy(attack_sandbox)


@pytest.mark.docker
def test_killed_container_is_reported_and_replaced(attack_sandbox: Sandbox) -> None:
    import docker

    before = container_of(attack_sandbox)
    results: list[RunResult] = []
    sleeper = python("import time; time.sleep(30)", limits=dataclasses.replace(ATTACK, timeout_s=20.0))
    runner = threading.Thread(target=lambda: results.append(attack_sandbox.run(sleeper)))
    runner.start()
    time.sleep(0.5)
    docker.from_env().containers.get(before).kill()
    runner.join()
    assert results[0].status == "killed" and "executor died" in results[0].detail, results[0]
    assert_healthy(attack_sandbox)
    assert container_of(attack_sandbox) != before


@pytest.mark.docker
def test_unresponsive_container_times_out_and_is_replaced(attack_sandbox: Sandbox) -> None:
    import docker

    before = container_of(attack_sandbox)
    docker.from_env().containers.get(before).pause()  # the idle executor freezes: no answer within timeout + grace
    result = attack_sandbox.run(python("print('never answered')", limits=dataclasses.replace(ATTACK, timeout_s=0.5)))
    assert result.status == "timeout" and "did not answer" in result.detail, result
    assert_healthy(attack_sandbox)
    assert container_of(attack_sandbox) != before


@pytest.mark.docker
def test_containers_are_recycled_after_max_runs() -> None:
    sandbox = _docker(pool_size=1, limits=ATTACK, max_runs_per_container=2)
    try:
        hosts = [container_of(sandbox) for _ in range(3)]
    finally:
        sandbox.close()
    assert hosts[0] == hosts[1] != hosts[2]


@pytest.mark.docker
def test_cpu_quota_applies(attack_sandbox: Sandbox) -> None:
    half = dataclasses.replace(ATTACK, cpus=0.5, timeout_s=5.0)
    code = ("import threading, time\nstart = time.monotonic()\ndef spin():\n    while time.monotonic() - start < 1.5:\n"
            "        pass\nthreads = [threading.Thread(target=spin) for _ in range(2)]\n[t.start() for t in threads]\n"
            "[t.join() for t in threads]\nprint(time.process_time() / (time.monotonic() - start))")
    result = attack_sandbox.run(python(code, limits=half))
    assert result.status == "ok" and float(result.stdout) < 0.75  # at most half a core, whatever the load


# ---------------------------------------------------------------------------------------------- factory


def test_docker_backend_without_engine_is_a_clear_error_never_a_fallback() -> None:
    pytest.importorskip("docker", reason="the Docker SDK is not installed (pip install 'reasongym[docker]')")
    with pytest.raises(EngineUnavailable, match=r"start_dockerd\.sh"):
        make_sandbox("docker", base_url="unix:///nonexistent/docker.sock")


@pytest.mark.filterwarnings("ignore:the local sandbox backend isolates less")
def test_auto_warns_and_falls_back_to_local() -> None:
    with pytest.warns(WeakIsolationWarning, match="falling back to the local backend"):
        sandbox = make_sandbox("auto", base_url="unix:///nonexistent/docker.sock", pool_size=2)
    try:
        assert isinstance(sandbox, LocalSandbox)
        assert sandbox.run(python("print(7)")).stdout == "7\n"
    finally:
        sandbox.close()


def test_unknown_options_and_backends_are_rejected() -> None:
    with pytest.raises(TypeError, match="unknown sandbox options"):
        make_sandbox("local", pool_sise=2)
    with pytest.raises(ValueError, match="backend must be"):
        make_sandbox("vm")  # type: ignore[arg-type]


@pytest.mark.docker
def test_missing_image_is_a_clear_error(attack_sandbox: Sandbox) -> None:
    with pytest.raises(ImageUnavailable, match="does not exist"):
        make_sandbox("docker", image="reasongym-sandbox:no-such-tag")


def test_host_isolation_probe_is_consistent() -> None:
    isolation = probe()
    argv = isolation.wrap(("python3", "x.py"), uid=62000 if isolation.root else None, memory_mb=64, pids=8,
                          timeout_s=1, file_bytes=1024)
    assert argv[-2:] == ["python3", "x.py"]
    assert bool(isolation.prlimit) == ("--as=67108864" in argv)


# ---------------------------------------------------------------------------------------------- command line


@pytest.mark.docker
def test_cli_check_passes_and_build_is_idempotent(attack_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    from reasongym.runtime.sandbox.cli import build_image, check

    assert check() == 0
    assert "all checks passed" in capsys.readouterr().out
    assert build_image(method="offline") == 0  # the image is current: nothing is rebuilt
