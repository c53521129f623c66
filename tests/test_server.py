"""Starting a server: the site's own scheduler profiles are configuration, checked at start;
several worker processes on one port."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from aicc.config import ConfigError, Settings
from aicc.server import build
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


def test_workers_share_the_port_one_leads_and_one_that_dies_is_replaced(tmp_path: Path) -> None:
    """`workers: 2`: two processes answer on one port (each says whether it leads the loops, and
    only one does), a job runs through them, and a worker killed with SIGKILL is started again
    while the other answers."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("workers: 2\n")
    server = ServerProcess(home, free_port()).start()
    assert server.proc is not None
    try:

        def workers() -> list[psutil.Process]:
            alive = []
            for child in psutil.Process(server.proc.pid).children():
                with contextlib.suppress(psutil.Error):  # a dead one not yet reaped: a zombie
                    if "spawn_main" in " ".join(child.cmdline()):
                        alive.append(child)
            return alive

        assert (
            len(wait("two workers", lambda: (found := workers()) and len(found) == 2 and found))
            == 2
        )

        def leaders() -> set[bool]:  # a new connection each time: the kernel spreads them
            return {httpx.get(server.url + "/healthz").json()["leader"] for _ in range(40)}

        assert wait("one worker to lead, the other not", lambda: leaders() == {True, False})
        with server.client() as api:
            job = api.post("/api/v1/jobs", json={"command": "echo through workers"}).json()
            done = wait_for_state(api, job["id"], "succeeded")
            assert done["state"] == "succeeded"
            first = workers()
            first[0].kill()
            replaced = wait(
                "the dead worker to be replaced",
                lambda: (now := workers()) and len(now) == 2 and now[0].pid != first[0].pid and now,
                timeout=60,
            )
            assert first[1].pid in {p.pid for p in replaced}  # the other one was left alone
            again = api.post("/api/v1/jobs", json={"command": "echo after"}).json()
            assert wait_for_state(api, again["id"], "succeeded")["state"] == "succeeded"
    finally:
        server.close()


def wait_for_state(api: httpx.Client, job_id: str, state: str) -> dict[str, Any]:
    return wait(
        f"job {job_id} to be {state}",
        lambda: (job := api.get(f"/api/v1/jobs/{job_id}").json())["state"] == state and job,
        timeout=60,
    )
