"""Starting a server: the site's own scheduler profiles are configuration, checked at start;
several worker processes on one port."""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aicc.config import ConfigError, Settings
from aicc.executors import serverroute
from aicc.server import build
from aicc.testing import startup
from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import ServerProcess, free_port, in_process

TIGHT = {"queue_sort": ["priority"], "admission": ["lanes", "quota"], "preempt": None}


def test_a_profile_written_in_config_schedules_the_server(tmp_path: Path) -> None:
    with in_process(tmp_path, policy="tight", profiles={"tight": TIGHT}) as (api, state):
        assert state.controller.profile.name == "tight"
        assert state.controller.profile.preempt is None
        job = submit(api, {"command": ["true"], "name": "under-tight"})
        assert wait_state(api, job["id"], {"succeeded"})["state"] == "succeeded"


def test_a_profile_that_does_not_build_stops_the_server_naming_it(tmp_path: Path) -> None:
    bad = {"tight": TIGHT, "typo": {"queue_sort": ["priorty"]}}
    with pytest.raises(ConfigError, match=r"profiles\.typo: .*priorty"):
        build(Settings(home=tmp_path, policy="tight", profiles=bad, sandbox="off"))
    with pytest.raises(ConfigError, match="policy: unknown scheduler profile 'nope'"):
        build(Settings(home=tmp_path, policy="nope", sandbox="off"))


def test_the_operators_aging_is_set_on_the_policys_ladders(tmp_path: Path) -> None:
    """`aging` (issue 63.3) lifts waiting jobs on the policy's service ladders; a policy with
    none is refused at start, naming why."""
    with pytest.raises(ConfigError, match="aging: profile 'fifo' ranks no service levels"):
        build(Settings(home=tmp_path, policy="fifo", aging={"every_s": 60}, sandbox="off"))
    with in_process(tmp_path, aging={"every_s": 1800, "levels": 1}) as (_, state):
        ladders = [p for p, _ in state.controller.profile.queue_sort if hasattr(p, "age_levels")]
        assert ladders and {(p.age_every_s, p.age_levels) for p in ladders} == {(1800.0, 1)}


def test_workers_serve_the_api_while_the_first_process_runs_the_loops(tmp_path: Path) -> None:
    """`workers: 2`: two processes answer on one port; the loops run in the process that
    started them (its lease: every worker says its server leads), a submit to a worker wakes
    them, and a job runs. A worker killed with SIGKILL is started again while the other
    answers; when the first process is killed, the workers end rather than accept jobs that
    nothing would schedule."""
    home = tmp_path / "home"
    home.mkdir()
    # a pass every 30 s at most, unless woken: the job below starts only if the wake arrives
    (home / "config.yaml").write_text("workers: 2\nloop_interval_s: 30\n")
    server = ServerProcess(home, free_port()).start()
    assert server.proc is not None
    first_process = psutil.Process(server.proc.pid)
    seen: list[psutil.Process] = []
    try:

        def workers() -> list[psutil.Process]:
            alive = []
            for child in first_process.children():
                with contextlib.suppress(psutil.Error):  # a dead one not yet reaped: a zombie
                    if "spawn_main" in " ".join(child.cmdline()):
                        alive.append(child)
            seen.extend(alive)
            return alive

        assert (
            len(wait("two workers", lambda: (found := workers()) and len(found) == 2 and found))
            == 2
        )

        def leaders() -> set[bool]:  # a new connection each time: the kernel spreads them
            return {startup.get(server.url + "/healthz").json()["leader"] for _ in range(40)}

        assert wait("the first process to lead", lambda: leaders() == {True})
        assert job_socket_answers_s3_alone(server)  # every worker serves the job socket too
        with server.client() as api:
            job = api.post("/api/v1/jobs", json={"command": "sleep 5"}).json()
            assert wait_for_state(api, job["id"], "running", timeout=15)["state"] == "running"
            scraped = api.get("/metrics").text  # a worker relays the loops' figures
            assert "aicc_controller_leading 1.0" in scraped
            assert 'aicc_controller_step_seconds_count{step="schedule"}' in scraped
            first = workers()
            first[0].kill()
            replaced = wait(
                "the dead worker to be replaced",
                lambda: (now := workers()) and len(now) == 2 and now[0].pid != first[0].pid and now,
                timeout=60,
            )
            assert first[1].pid in {p.pid for p in replaced}  # the other one was left alone
            again = api.post("/api/v1/jobs", json={"command": "sleep 5"}).json()
            assert wait_for_state(api, again["id"], "running", timeout=15)["state"] == "running"

            def submits_counted() -> set[float]:  # a new connection each time, as a scraper's
                found = set()
                for _ in range(10):
                    scraped = startup.get(server.url + "/metrics", headers=api.headers).text
                    for family in text_string_to_metric_families(scraped):
                        found |= {
                            s.value
                            for s in family.samples
                            if s.name == "aicc_http_requests_total"
                            and s.labels
                            == {"method": "POST", "route": "/api/v1/jobs", "status": "201"}
                        }
                return found

            # every worker answers both submits, the dead worker's among them
            assert submits_counted() == {2.0}
        first_process.kill()
        gone = wait(
            "the workers to end with the first process",
            lambda: not any(alive(p) for p in [*seen, *workers_of(first_process.pid)]),
            timeout=30,
        )
        assert gone
    finally:
        server.close()
        for orphan in seen:
            with contextlib.suppress(psutil.Error):
                orphan.kill()


def alive(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    return False


def workers_of(first: int) -> list[psutil.Process]:
    """Worker processes started by the process `first`, even after it is gone (one that was
    still starting when it died included)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("AICC_LOOPS_PID") == str(first):
                found.append(process)
    return found


def wait_for_state(
    api: httpx.Client, job_id: str, state: str, timeout: float = 60
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        last.update(api.get(f"/api/v1/jobs/{job_id}").json())
        return dict(last) if last["state"] == state else None

    try:
        return wait(f"job {job_id} to be {state}", reached, timeout=timeout)
    except AssertionError as err:  # say where it stopped: a CI run once saw only the time-out
        raise AssertionError(f"{err}; it is {last.get('state')}: {last.get('message')}") from None


def test_the_cli_finds_a_local_server_by_its_home_and_its_job_socket_answers_s3_alone(
    tmp_path: Path,
) -> None:
    """One server for two promises of `aicc serve` (a start is seconds of a loaded machine):

    Issue 58: on a port other than 8080 the CLI needed AICC_SERVER, which the README's tour
    never said. The server writes its URL beside admin.token; the CLI with AICC_HOME alone
    finds both, and a server that stopped takes its URL with it.

    It listens for jobs on its job socket too (the local executor's route to the S3 endpoint,
    0600): there `/healthz` and the API are 404 and `/s3` is S3's own 403 to an unsigned
    request, while TCP serves everything as ever; stopped (SIGTERM), the server leaves no
    socket behind. (With workers: the test above.)"""
    home = tmp_path / "home"
    server = ServerProcess(home, free_port()).start()
    env = {k: v for k, v in server.env().items() if k not in ("AICC_SERVER", "AICC_TOKEN")}
    aicc = str(Path(sys.executable).parent / "aicc")
    path = serverroute.socket_path(home, server.port)
    try:
        assert (home / "server.url").read_text().strip() == server.url
        listed = subprocess.run(
            [aicc, "node", "list", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["items"], listed.stdout

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert job_socket_answers_s3_alone(server)
        assert httpx.get(server.url + "/healthz").status_code == 200
        server.stop()
        assert not path.exists()
    finally:
        server.close()
    assert not (home / "server.url").exists()
    gone = subprocess.run([aicc, "node", "list"], env=env, capture_output=True, text=True)
    assert gone.returncode == 1 and "http://127.0.0.1:8080" in gone.stderr


def job_socket_answers_s3_alone(server: ServerProcess) -> bool:
    """Through the server's job socket, on new connections (any worker answers alike): 404
    for `/healthz` and the API (with the admin's token), S3's 403 for an unsigned `/s3` GET."""
    path = serverroute.socket_path(server.home, server.port)
    transport = httpx.HTTPTransport(uds=str(path))
    admin = {"Authorization": f"Bearer {server.token}", "Connection": "close"}
    with httpx.Client(transport=transport, base_url=server.url, timeout=30) as jobs:
        for _ in range(4):
            assert jobs.get("/healthz", headers=admin).status_code == 404
            assert jobs.get("/api/v1/jobs", headers=admin).status_code == 404
            unsigned = jobs.get("/s3/default/x", headers={"Connection": "close"})
            assert unsigned.status_code == 403 and "AccessDenied" in unsigned.text
    return True
