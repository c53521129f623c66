"""The local executor's replica supervisor, with real processes: no mocks.

Every test launches a detached supervisor in tmp_path and polls status() with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from aicc.executors.local import runtime
from aicc.executors.local.runtime import (
    LaunchSpec,
    ReplicaStatus,
    cancel,
    launch,
    log_size,
    poll,
    process_alive,
    read_log,
    status,
    stop_orphan,
)


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "run"
    yield path
    if path.exists():  # never leave a sleeping replica behind, even one that ignores SIGTERM
        cancel(path)
        for pid in runtime.replica_pids(runtime.read_json(path / "status.json") or {}):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def spec(command: list[str] | str, cwd: Path, **kw: object) -> LaunchSpec:
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else command
    fields: dict[str, object] = {"max_runtime_s": None, "memory_limit_mib": None, **kw}
    return LaunchSpec(argv, str(cwd), {"PATH": os.environ["PATH"]}, **fields)  # type: ignore[arg-type]


def wait_for(run_dir: Path, *phases: str, timeout: float = 10.0) -> ReplicaStatus:
    deadline = time.monotonic() + timeout
    while True:
        current = status(run_dir)
        if current.phase in phases:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"still {current} after {timeout} s, wanted {phases}")
        time.sleep(0.05)


def wait_log(run_dir: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in read_log(run_dir):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in {read_log(run_dir)!r}")
        time.sleep(0.05)


def wait_gone(pid: int, create_time: float | None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while process_alive(pid, create_time):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


def test_success_keeps_both_streams(run_dir: Path, tmp_path: Path) -> None:
    launch(run_dir, spec("echo hello world; echo oops >&2", tmp_path))
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.exit_code) == ("succeeded", 0)
    assert final.pid and final.supervisor_pid and final.started_at and final.ended_at
    assert final.started_at <= final.ended_at
    assert read_log(run_dir) == "hello world\n"
    assert read_log(run_dir, "stderr") == "oops\n"
    assert log_size(run_dir, "stdout") == len("hello world\n")
    assert read_log(run_dir, tail_bytes=6) == "world\n"


def test_nonzero_exit(run_dir: Path, tmp_path: Path) -> None:
    launch(run_dir, spec("exit 3", tmp_path))
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.exit_code) == ("exit_code", 3)


def test_missing_command_is_exit_127(run_dir: Path, tmp_path: Path) -> None:
    launch(run_dir, spec(["/nonexistent/program"], tmp_path))
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.exit_code) == ("exit_code", 127)
    assert final.error and "/nonexistent/program" in read_log(run_dir, "stderr")


def test_env_and_cwd_are_exactly_the_given_ones(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_TEST_LEAK", "server-secret")
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    replica = spec("pwd; env", workdir)
    replica.env["GREETING"] = "bonjour"
    launch(run_dir, replica)
    assert wait_for(run_dir, "exited").reason == "succeeded"
    lines = read_log(run_dir).splitlines()
    assert lines[0] == str(workdir)
    assert "GREETING=bonjour" in lines
    assert not [line for line in lines if line.startswith(("AICC_TEST_LEAK=", "HOME="))]


def test_runtime_limit(run_dir: Path, tmp_path: Path) -> None:
    launch(run_dir, spec(["sleep", "30"], tmp_path, max_runtime_s=1, grace_s=1))
    final = wait_for(run_dir, "exited", timeout=6)
    assert (final.reason, final.exit_code) == ("runtime_exceeded", -signal.SIGTERM)
    assert final.started_at and final.ended_at
    assert 0.9 < final.ended_at - final.started_at < 4


def test_memory_limit(run_dir: Path, tmp_path: Path) -> None:
    hog = (
        "import time\nblocks = []\nfor _ in range(30):\n"
        "    blocks.append(b'x' * (10 << 20))\n    time.sleep(0.03)\n"
        "time.sleep(10)\nprint('survived')\n"
    )
    launch(run_dir, spec([sys.executable, "-c", hog], tmp_path, memory_limit_mib=50))
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.exit_code) == ("oom_killed", -signal.SIGKILL)
    assert "survived" not in read_log(run_dir)
    assert final.peak_rss_mib is not None and 50 < final.peak_rss_mib < 300


def test_cancel_with_trapped_sigterm(run_dir: Path, tmp_path: Path) -> None:
    script = "trap 'echo got-term; exit 0' TERM; echo ready; sleep 30 & wait $!"
    launch(run_dir, spec(script, tmp_path, grace_s=5))
    wait_log(run_dir, "ready")
    cancel(run_dir)
    cancel(run_dir)  # idempotent
    final = wait_for(run_dir, "exited", timeout=4)
    assert (final.reason, final.exit_code) == ("cancelled", 0)
    assert "got-term" in read_log(run_dir)
    cancel(run_dir)  # a no-op once ended
    assert status(run_dir) == final


def test_cancel_escalates_to_sigkill_after_grace(run_dir: Path, tmp_path: Path) -> None:
    launch(run_dir, spec("trap '' TERM; echo ready; sleep 30", tmp_path, grace_s=1))
    wait_log(run_dir, "ready")
    asked = time.time()
    cancel(run_dir)
    final = wait_for(run_dir, "exited", timeout=6)
    assert (final.reason, final.exit_code) == ("cancelled", -signal.SIGKILL)
    assert final.ended_at and 0.9 < final.ended_at - asked < 4


def test_log_cap_keeps_head_and_tail(run_dir: Path, tmp_path: Path) -> None:
    printer = (
        "import sys\nfor i in range(50_000):\n"
        "    sys.stdout.write(f'line {i:07d} ' + 'y' * 86 + '\\n')\n"
    )
    launch(run_dir, spec([sys.executable, "-c", printer], tmp_path, log_limit_bytes=100_000))
    assert wait_for(run_dir, "exited").reason == "succeeded"
    total = 50_000 * 100
    assert log_size(run_dir, "stdout") == total
    on_disk = sum(p.stat().st_size for p in run_dir.glob("stdout.*"))
    assert on_disk <= 100_000 * 1.25
    text = read_log(run_dir)
    assert text.startswith("line 0000000 ")
    assert text.endswith("line 0049999 " + "y" * 86 + "\n")
    head, marker, tail = text.partition("[... ")
    assert marker and len(head) == 50_000 and len(tail) > 50_000
    omitted = int(tail.split(" ", 1)[0])
    assert omitted == total - 50_000 - 50_000
    assert read_log(run_dir, tail_bytes=100) == "line 0049999 " + "y" * 86 + "\n"
    assert log_size(run_dir, "stderr") == 0 and read_log(run_dir, "stderr") == ""


def test_supervisor_outlives_its_launcher(run_dir: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from aicc.executors.local.runtime import LaunchSpec, launch\n"
        "print(launch(Path(sys.argv[1]), LaunchSpec(['/bin/sh', '-c', 'sleep 2; echo done'],"
        " sys.argv[2], {'PATH': '/usr/bin:/bin'}, None, None)))\n"
    )
    launcher = subprocess.run(
        [sys.executable, "-c", code, str(run_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    supervisor_pid = int(launcher.stdout)
    assert status(run_dir).phase in ("starting", "running")
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.supervisor_pid) == ("succeeded", supervisor_pid)
    assert read_log(run_dir) == "done\n"


def test_end_read_back_from_files_alone(run_dir: Path, tmp_path: Path) -> None:
    supervisor_pid = launch(run_dir, spec("echo bye; exit 0", tmp_path))
    wait_gone(supervisor_pid, None)  # nobody looked while it ran and ended
    code = (
        "import dataclasses, json, sys\nfrom aicc.executors.local import runtime\n"
        "print(json.dumps([dataclasses.asdict(runtime.status(sys.argv[1])),"
        " runtime.read_log(sys.argv[1])]))\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    seen, log = json.loads(fresh.stdout)
    assert (seen["phase"], seen["reason"], seen["exit_code"]) == ("exited", "succeeded", 0)
    assert seen["supervisor_pid"] == supervisor_pid and log == "bye\n"


# A replica that leaves a process behind its leader, and beats a heartbeat file while it runs.
ORPHANING = "sleep 300 & echo $! > bg.pid; while :; do date +%s%N > hb; sleep 0.1; done"


def kill_supervisor(run_dir: Path, tmp_path: Path, command: str) -> list[tuple[int, float]]:
    """Launch `command`, SIGKILL its supervisor once it runs; (pid, create time) of the leader
    and of the background process it wrote to bg.pid."""
    supervisor_pid = launch(run_dir, spec(command, tmp_path, grace_s=1.0))
    running = wait_for(run_dir, "running")
    deadline = time.monotonic() + 10
    while not (tmp_path / "bg.pid").exists() or not (tmp_path / "hb").exists():
        assert time.monotonic() < deadline, "the replica never started its background process"
        time.sleep(0.05)
    assert running.pid is not None
    pids = [running.pid, int((tmp_path / "bg.pid").read_text())]
    procs = [(pid, psutil.Process(pid).create_time()) for pid in pids]
    os.kill(supervisor_pid, signal.SIGKILL)
    wait_gone(supervisor_pid, None)
    return procs


def stop_until_gone(run_dir: Path, timeout: float) -> float:
    """Poll as the local executor does until the replica reads as ended; how long it took."""
    started = time.monotonic()
    while (current := poll(run_dir)).orphaned:
        assert current.phase == "running", current  # never ended while a process of it lives
        assert time.monotonic() - started < timeout, f"still {current}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_killed_supervisor_replica_is_found_and_stopped(run_dir: Path, tmp_path: Path) -> None:
    procs = kill_supervisor(run_dir, tmp_path, ORPHANING)
    orphan = status(run_dir)
    # The leader got SIGTERM with its supervisor; its background sleep did not, and is found.
    assert (orphan.phase, orphan.orphaned, orphan.reason) == ("running", True, None), orphan
    stop_until_gone(run_dir, timeout=5)
    for pid, created in procs:
        assert not process_alive(pid, created), f"process {pid} of the replica still runs"
    lost = status(run_dir)
    assert (lost.phase, lost.reason, lost.exit_code) == ("lost", "supervisor_lost", None)
    beat = (tmp_path / "hb").read_text()
    time.sleep(0.5)
    assert (tmp_path / "hb").read_text() == beat  # nothing of it runs on
    assert launch(run_dir, spec(ORPHANING, tmp_path)) == lost.supervisor_pid  # not restarted
    cgroup = (runtime.read_json(run_dir / "status.json") or {}).get("cgroup")
    assert cgroup is None or not Path(cgroup).exists()  # its cgroup, if it had one, is removed


def test_orphan_ignoring_sigterm_is_killed_after_the_grace(run_dir: Path, tmp_path: Path) -> None:
    procs = kill_supervisor(run_dir, tmp_path, f"trap '' TERM; {ORPHANING}")
    assert stop_orphan(run_dir) is False  # SIGTERM sent: ignored
    time.sleep(0.5)
    assert all(process_alive(pid, created) for pid, created in procs)
    assert status(run_dir).orphaned
    took = stop_until_gone(run_dir, timeout=5)
    assert 0.3 < took < 3, took  # SIGKILL once grace_s (1 s) passed since the SIGTERM
    assert not any(process_alive(pid, created) for pid, created in procs)
    assert status(run_dir).reason == "supervisor_lost"


def test_orphan_that_left_its_process_group_is_stopped_with_a_cgroup(
    run_dir: Path, tmp_path: Path
) -> None:
    """Only a cgroup holds a process that called setsid; where cgroup v2 is not writable the
    replica runs without one (status.json names none) and this test has nothing to check."""
    procs = kill_supervisor(run_dir, tmp_path, ORPHANING.replace("sleep 300", "setsid sleep 300"))
    if not (runtime.read_json(run_dir / "status.json") or {}).get("cgroup"):
        pytest.skip("no writable cgroup v2 here: a process that calls setsid can escape")
    assert status(run_dir).orphaned
    stop_until_gone(run_dir, timeout=5)
    assert not any(process_alive(pid, created) for pid, created in procs)


def test_a_command_that_kills_its_supervisor_at_once_is_found_by_its_process_group(
    run_dir: Path, tmp_path: Path
) -> None:
    """The command kills its supervisor before the supervisor could note its pid, and ignores
    the SIGTERM it gets for it. Its pid was recorded before it ran; and where there is no cgroup
    (here: status.json made to name none) its process group alone finds what is left."""
    command = f"trap '' TERM; kill -9 $PPID; {ORPHANING}"
    supervisor_pid = launch(run_dir, spec(command, tmp_path, grace_s=0.5))
    wait_gone(supervisor_pid, None)
    data = runtime.read_json(run_dir / "status.json") or {}
    assert data.get("pid") and data.get("replica_create_time"), data
    cgroup = data.pop("cgroup", None)
    runtime.write_json_atomic(run_dir / "status.json", data)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "bg.pid").exists():
            assert time.monotonic() < deadline, "the replica never started its background process"
            time.sleep(0.05)
        pids = [data["pid"], int((tmp_path / "bg.pid").read_text())]
        assert status(run_dir).orphaned
        stop_until_gone(run_dir, timeout=5)
        assert not any(process_alive(pid, None) for pid in pids)
        assert status(run_dir).reason == "supervisor_lost"
    finally:
        if cgroup is not None:
            (Path(cgroup) / "cgroup.kill").write_text("1")
            time.sleep(0.1)
            Path(cgroup).rmdir()


def test_killed_supervisor_with_nothing_left_reads_as_lost(run_dir: Path, tmp_path: Path) -> None:
    supervisor_pid = launch(run_dir, spec(["sleep", "30"], tmp_path))
    running = wait_for(run_dir, "running")
    assert running.pid is not None
    os.kill(supervisor_pid, signal.SIGKILL)
    lost = wait_for(run_dir, "lost", timeout=5)  # the sleep died with its supervisor
    assert (lost.reason, lost.pid, lost.exit_code) == ("supervisor_lost", running.pid, None)


def test_launch_twice_starts_one_supervisor(run_dir: Path, tmp_path: Path) -> None:
    replica = spec(["sleep", "30"], tmp_path)
    with ThreadPoolExecutor(4) as pool:
        pids = set(pool.map(lambda _: launch(run_dir, replica), range(4)))
    assert len(pids) == 1
    assert launch(run_dir, replica) in pids
    assert wait_for(run_dir, "running").supervisor_pid in pids
    supervisors = [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if "aicc.executors.local.supervisor" in (p.info["cmdline"] or [])
        and str(run_dir) in (p.info["cmdline"] or [])
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert [p.pid for p in supervisors] == list(pids)


def test_a_launcher_killed_mid_launch_leaves_one_supervisor(run_dir: Path, tmp_path: Path) -> None:
    """A server killed right after it started the supervisor's first process (a leader's
    failover): the next server's launch must find that supervisor, never start a second one
    on the launch file the first has already rewritten."""
    code = (
        "import os, signal, subprocess, sys\nfrom pathlib import Path\n"
        "from aicc.executors.local.runtime import LaunchSpec, launch\n"
        "real = subprocess.Popen\n"
        "class Dying(real):\n"
        "    def __init__(self, *a, **kw):\n"
        "        super().__init__(*a, **kw)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "subprocess.Popen = Dying\n"
        "launch(Path(sys.argv[1]), LaunchSpec(['/bin/sh', '-c', 'echo ran >> ' + sys.argv[3]],"
        " sys.argv[2], {'PATH': '/usr/bin:/bin'}, None, None))\n"
    )
    ran = tmp_path / "ran"
    killed = subprocess.run(
        [sys.executable, "-c", code, str(run_dir), str(tmp_path), str(ran)], timeout=30
    )
    assert killed.returncode == -signal.SIGKILL
    replica = spec(f"echo ran >> {ran}", tmp_path)
    with ThreadPoolExecutor(3) as pool:
        pids = set(pool.map(lambda _: launch(run_dir, replica), range(3)))
    assert len(pids) == 1
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.supervisor_pid) == ("succeeded", pids.pop())
    assert ran.read_text() == "ran\n"


@pytest.mark.parametrize("kind", ["symlink", "hard link", "fifo"])
def test_a_supervisor_log_left_as_a_link_or_fifo_fails_the_launch_and_writes_nothing(
    run_dir: Path, tmp_path: Path, kind: str
) -> None:
    """Issue 35: `launch` opened `supervisor.log` by name to append. A link there made the server
    append to a file of someone's choosing; a FIFO blocked the launch (and the loop) until
    someone read it. Now the launch fails at once, naming the file and what it is, and starts
    no supervisor; the file pointed at is untouched."""
    run_dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    log = run_dir / runtime.SUPERVISOR_LOG
    if kind == "symlink":
        log.symlink_to(victim)
    elif kind == "hard link":
        os.link(victim, log)
    else:
        os.mkfifo(log)
    noisy = spec("echo hi", tmp_path)
    with ThreadPoolExecutor(1) as pool:
        launched = pool.submit(launch, run_dir, noisy)
        try:
            with pytest.raises(runtime.UnsafeFile) as refused:
                launched.result(timeout=10)
        finally:
            if kind == "fifo" and not launched.done():  # the old code waits for a reader
                os.close(os.open(log, os.O_RDONLY | os.O_NONBLOCK))
    what = {"symlink": "symbolic link", "hard link": "hard link", "fifo": "FIFO"}[kind]
    assert "supervisor.log" in str(refused.value) and what in str(refused.value)
    assert victim.read_text() == "precious\n"
    assert runtime.read_json(run_dir / runtime.SUPERVISOR_FILE) is None  # nothing started
    assert status(run_dir).phase == "lost"


def test_logs_left_as_links_are_replaced_not_written_through(run_dir: Path, tmp_path: Path) -> None:
    """The supervisor made its logs with O_TRUNC through whatever name was there: a link to
    another file had that file emptied and filled with the replica's output. Now the name is
    replaced by a new file of the replica's own."""
    run_dir.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (run_dir / "stdout.log").symlink_to(victim)
    os.link(victim, run_dir / "stderr.log")
    pid = launch(run_dir, spec("echo out; echo err >&2", tmp_path))
    final = wait_for(run_dir, "exited")
    assert (final.reason, final.supervisor_pid) == ("succeeded", pid), final
    assert victim.read_text() == "precious\n"
    assert read_log(run_dir, "stdout") == "out\n" and read_log(run_dir, "stderr") == "err\n"
    assert not (run_dir / "stdout.log").is_symlink()


def test_broken_launch_file_is_supervisor_error(run_dir: Path) -> None:
    run_dir.mkdir()
    (run_dir / "launch.json").write_text(json.dumps({"command": ["true"]}))
    subprocess.run(
        [sys.executable, "-m", "aicc.executors.local.supervisor", str(run_dir)],
        check=True,
        timeout=30,
    )
    final = wait_for(run_dir, "exited")
    assert final.reason == "supervisor_error" and final.error and "TypeError" in final.error


def test_empty_run_dir_is_lost(tmp_path: Path) -> None:
    assert status(tmp_path).phase == "lost"
    assert status(tmp_path).reason == "supervisor_lost"
    cancel(tmp_path / "missing")  # nothing to cancel, no error


def test_a_full_disk_under_the_logs_neither_kills_the_replica_nor_hides_its_end(
    run_dir: Path, tmp_path: Path
) -> None:
    """Output that cannot be written (ENOSPC: here /dev/full stands for the full disk) is
    dropped, not fatal: the replica runs to its end and its true exit is recorded. Before, the
    supervisor died on the write, killed the replica, and the job was retried as lost
    (benchmarks/chaos.py --disk-fills)."""
    run_dir.mkdir()
    (run_dir / "stdout.log").symlink_to("/dev/full")
    marker = tmp_path / "ended"
    launch(run_dir, spec(f"echo lost; sleep 0.3; echo kept >&2; touch {marker}; exit 3", tmp_path))
    done = wait_for(run_dir, "exited", "lost")
    assert (done.phase, done.reason, done.exit_code) == ("exited", "exit_code", 3), done
    assert marker.exists()
    assert (run_dir / "stderr.log").read_text() == "kept\n"


def test_a_supervisor_starts_without_the_sdk() -> None:
    """Each launch waits for a new Python to import the supervisor: with the SDK's read models
    behind `import aicc` that took 0.36 s, and a center of short jobs started two a second."""
    code = "import sys, aicc.executors.local.supervisor; print(sorted(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = [name for name in done.stdout.strip("[]\n").replace("'", "").split(", ")]
    assert not [name for name in loaded if name.startswith(("aicc.sdk", "aicc.services"))]
    import aicc

    assert aicc.Client.__module__ == "aicc.sdk.client"  # the SDK is still one import away
