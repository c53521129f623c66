"""What a test session leaves alive is found by its marker and killed (aicc/testing/leftovers.py),
and a server start that fails leaves nothing running (aicc/testing/servers.py): real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.testing import leftovers
from aicc.testing.servers import ServerProcess, free_port, start_all

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A session of this test's own: what it starts carries this token, not the run's (whose
    check would not see it); what a failing test left is killed at the end all the same."""
    token = leftovers.new_token()
    monkeypatch.setenv(leftovers.MARKER, token)
    try:
        yield token
    finally:
        leftovers.check(token, settle_s=0)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def spawn(started: list[subprocess.Popen[bytes]], argv: list[str], env: dict[str, str]) -> int:
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    started.append(proc)
    return proc.pid


def test_a_marked_process_and_its_unmarked_child_are_found_and_killed(
    token: str, started: list[subprocess.Popen[bytes]]
) -> None:
    marked = {**os.environ, leftovers.MARKER: token}
    unmarked = {k: v for k, v in os.environ.items() if k != leftovers.MARKER}
    other = {**os.environ, leftovers.MARKER: "another-run"}
    server = spawn(started, [*SLEEP, "a-server"], marked)
    # a marked parent whose child dropped the marker (as a PostgreSQL backend overwrites it)
    parent = spawn(started, ["sh", "-c", f"env -u {leftovers.MARKER} sleep 120 & wait"], marked)
    developers = spawn(started, [*SLEEP, "make-run"], unmarked)
    another_run = spawn(started, [*SLEEP, "another-run"], other)

    def found() -> set[int]:
        return {p.pid for p in leftovers.find(token)}

    deadline = time.monotonic() + 10
    while len(found()) < 3 and time.monotonic() < deadline:  # the child is on its way
        time.sleep(0.05)
    assert server in found() and parent in found()
    [child] = [p for p in leftovers.find(token) if p.pid not in (server, parent)]
    assert developers not in found() and another_run not in found()

    report = leftovers.check(token, settle_s=0)
    assert report is not None
    assert f"3 process(es) of test session {token}" in report
    assert "a-server" in report and "sleep 120" in report
    assert started[0].wait(timeout=10) == -9 and started[1].wait(timeout=10) == -9
    assert not found() and not leftovers.still_alive([child])  # dead, or a zombie
    # the others live on
    assert started[2].poll() is None and started[3].poll() is None


def test_the_command_exits_1_and_prints_them_when_any_was_left(
    token: str, started: list[subprocess.Popen[bytes]]
) -> None:
    checker = [sys.executable, "-m", "aicc.testing.leftovers", "--session", token]
    clean = {k: v for k, v in os.environ.items() if k != leftovers.MARKER}
    spawn(started, [*SLEEP, "left-behind"], {**os.environ, leftovers.MARKER: token})
    done = subprocess.run([*checker, "--settle-s", "0"], env=clean, capture_output=True, text=True)
    assert done.returncode == 1, done
    assert "left-behind" in done.stderr and f"test session {token}" in done.stderr
    assert started[0].wait(timeout=10) == -9
    again = subprocess.run(checker, env=clean, capture_output=True, text=True)
    assert again.returncode == 0, again
    assert "no process of test session" in again.stdout


def test_a_start_that_runs_out_of_time_leaves_no_server(token: str, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", free_port())
    with pytest.raises(TimeoutError, match="did not answer within 0 s"):
        server.start(timeout=0.01)
    assert server.proc is not None and server.proc.returncode is not None
    assert leftovers.find(token) == []


def test_one_of_three_failing_to_start_stops_all_three(token: str, tmp_path: Path) -> None:
    """The federation fixture's case: server 2 of 3 fails, and 1 and 3 stop too."""
    servers = [ServerProcess(tmp_path / name / "home", free_port()) for name in "abc"]
    servers[1].home.mkdir(parents=True)
    (servers[1].home / "config.yaml").write_text("loop_interval_s: never\n")
    with pytest.raises(RuntimeError, match="exited with"):
        start_all(servers)
    assert all(s.proc is not None and s.proc.returncode is not None for s in servers)
    assert leftovers.find(token) == []


def test_the_migrated_copy_is_gone_when_its_process_ends_and_a_stray_one_is_reported(
    token: str, tmp_path: Path
) -> None:
    """`seeded`'s migrated database lives in a folder named with the session's token: removed
    at the process's exit; one a worker killed hard left is removed and reported by the check."""
    script = (
        "import sys; from pathlib import Path; from aicc.testing import servers; "
        "servers.seeded(Path(sys.argv[1]), None); print(servers._MIGRATED)"
    )
    env = {**os.environ, leftovers.MARKER: token, "TMPDIR": str(tmp_path)}
    ran = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "home")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    copy = Path(ran.stdout.strip())
    assert copy.parent.parent == tmp_path and token in copy.parent.name
    assert (tmp_path / "home" / "aicc.db").is_file() and not copy.parent.exists()
    assert leftovers.folders(token, tmp_path) == []

    killed = [sys.executable, "-c", script + "; import os; os._exit(0)", str(tmp_path / "h2")]
    left = Path(subprocess.run(killed, env=env, capture_output=True, text=True).stdout.strip())
    assert left.parent.exists() and leftovers.folders(token, tmp_path) == [left.parent]
    report = leftovers.check(token, settle_s=0, where=tmp_path)
    assert report is not None and f"1 folder(s) of test session {token}" in report
    assert str(left.parent) in report and not left.parent.exists()
