"""Without a sandbox a job runs as the server's user and may replace its own log files in its
run directory (issue 35): a FIFO there would block the reader until someone writes, a symbolic
link would hand it another tenant's log. `aicc job logs` and `GET /jobs/{id}/logs` (with and
without `follow`) answer at once with a 422 naming the file, and nothing of the other file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

SECRET = "tenant-a-secret-7f3e"
# The replica's run directory is .../runs/JOB/ATTEMPT/REPLICA; its outputs .../runs/JOB/outputs.
RUN_DIR = 'r=$(dirname "$(ls "$AICC_OUTPUT_DIR"/../*/*/stdout.log | head -1)")'
HOLD = 'touch "$AICC_OUTPUT_DIR/ready"; while [ ! -e "$AICC_OUTPUT_DIR/gate" ]; do sleep 0.2; done'
# "At once", on a loaded machine: a reader that blocked on the FIFO would hold until the gate
# opens, which these tests do only after the answers (CI saw the CLI take 7 s under load).
QUICK_S = 30


@pytest.fixture
def center(tmp_path: Path) -> Iterator[tuple[httpx.Client, str, str, Path]]:
    home = tmp_path / "home"
    with over_http(home, sandbox="off") as (url, token, _state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            yield client, url, token, home


def until_ready(home: Path, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while not (home / "runs" / job_id / "outputs" / "ready").exists():
        assert time.monotonic() < deadline, "the job never got ready"
        time.sleep(0.2)


def logs_of(client: httpx.Client, job_id: str, **params: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = client.get(f"/api/v1/jobs/{job_id}/logs", params=params, timeout=2 * QUICK_S)
    return answer, time.monotonic() - started


def test_a_log_replaced_by_a_fifo_or_a_link_is_a_quick_422(
    center: tuple[httpx.Client, str, str, Path],
) -> None:
    client, url, token, home = center
    victim = submit(client, {"command": f"echo {SECRET}", "max_runtime": "5m"})
    wait_state(client, victim["id"], {"succeeded"})
    victim_log = next((home / "runs" / victim["id"]).glob("*/*/stdout.log"))
    fifo = submit(
        client,
        {
            "command": f'{RUN_DIR}; rm "$r/stdout.log"; mkfifo "$r/stdout.log"; {HOLD}',
            "max_runtime": "5m",
        },
    )
    link = submit(
        client,
        {
            "command": f'{RUN_DIR}; ln -sf {victim_log} "$r/stdout.log"; {HOLD}',
            "max_runtime": "5m",
        },
    )
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    try:
        for job, kind in ((fifo, "is a FIFO"), (link, "is a symbolic link")):
            until_ready(home, job["id"])
            wait_state(client, job["id"], {"running"})  # its replica's handle recorded
            for params in ({}, {"tail": 100}, {"follow": "true"}):
                answer, took = logs_of(client, job["id"], **params)
                assert answer.status_code == 422, (params, answer.status_code, answer.text)
                assert "stdout.log " + kind in answer.json()["detail"], answer.text
                assert SECRET not in answer.text and took < QUICK_S, (params, took)
            started = time.monotonic()
            result = CliRunner().invoke(app, ["job", "logs", job["id"]], env=env)
            assert result.exit_code == 1 and "stdout.log " + kind in result.stderr, result.output
            assert SECRET not in result.output
            assert time.monotonic() - started < QUICK_S
            events = client.get(f"/api/v1/jobs/{job['id']}/events")
            assert events.status_code == 200  # the server answers everything else meanwhile
    finally:
        for job in (fifo, link):
            (home / "runs" / job["id"] / "outputs" / "gate").touch()
    for job in (fifo, link):
        assert wait_state(client, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
        answer, took = logs_of(client, job["id"])
        assert answer.status_code == 422 and took < QUICK_S, answer.text
