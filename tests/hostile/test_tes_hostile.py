"""A hostile tenant's GA4GH TES tasks (issue 60): what a task names runs inside its job's sandbox,
never on the server. On a center that gives jobs the internet (egress `internet`), an input URL
aimed at the server's own port or at a listener on the machine's loopback is fetched from the
job's own network namespace, where 127.0.0.1 is the job's: nothing on the machine is reached
(the listener accepts 0 connections) and the task ends SYSTEM_ERROR saying what it could not
fetch. And what a task leaves where the server reads its logs (a link to the admin token, a
FIFO) is refused by the job-files guard: the answer comes at once, without the token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.testing.isolation import listening
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

TES = "/ga4gh/tes/v1"
ENDED = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Tenant]]:
    home = tmp_path_factory.mktemp("tes-hostile") / "home"
    with over_http(home, egress="internet", limits={"grace_s": 1.0}) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        try:
            yield url, home, make_tenant(admin, "tes-mallory")
        finally:
            admin.close()


def run(http: httpx.Client, task: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    created = http.post(f"{TES}/tasks", json=task)
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = http.get(f"{TES}/tasks/{task_id}").json()["state"]
        if state in ENDED:
            answer: dict[str, Any] = http.get(
                f"{TES}/tasks/{task_id}", params={"view": "FULL"}
            ).json()
            return answer
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} stayed {state}")


def test_an_input_url_at_the_machine_reaches_nothing(center: tuple[str, Path, Tenant]) -> None:
    url, _home, mallory = center
    port = int(url.rsplit(":", 1)[1])
    with (
        listening() as listener,
        httpx.Client(base_url=url, headers=mallory.headers, timeout=30) as http,
    ):
        for target in (f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{listener.port}/"):
            task = run(
                http,
                {
                    "inputs": [{"path": "/data/stolen", "url": target}],
                    "executors": [{"image": "alpine", "command": ["cat", "/data/stolen"]}],
                },
            )
            assert task["state"] == "SYSTEM_ERROR", task
            said = "\n".join(task["logs"][0]["system_logs"])
            assert f"could not fetch {target} from inside the job" in said
            assert task["logs"][0]["logs"] == []  # the executor never ran
        assert listener.accepted == 0


def test_what_a_task_leaves_for_its_logs_is_read_through_the_guard(
    center: tuple[str, Path, Tenant],
) -> None:
    url, home, mallory = center
    token = (home / "admin.token").read_text().strip()
    plant = (
        'ln -sf {token} "$AICC_OUTPUT_DIR/.tes/0.stdout"; '
        'mkfifo "$AICC_OUTPUT_DIR/.tes/system_error" "$AICC_OUTPUT_DIR/fifo"; '
        'ln -s {token} "$AICC_OUTPUT_DIR/leak"; exit 5'
    ).format(token=home / "admin.token")
    with httpx.Client(base_url=url, headers=mallory.headers, timeout=20) as http:
        started = time.monotonic()
        task = run(
            http,
            {
                "executors": [
                    {"image": "alpine", "command": ["sh", "-c", plant], "ignore_error": True}
                ],
                "outputs": [{"path": "/data/none", "url": "aicc://outputs/none"}],
            },
        )
        assert time.monotonic() - started < 60
        assert token not in str(task)
        # the runner wrote its own system_error (not into the FIFO the executor left)
        assert task["state"] == "SYSTEM_ERROR", task
        said = "\n".join(task["logs"][0]["system_logs"])
        assert "output 0: /data/none is not there" in said
        assert ".tes/0.stdout" in said and "outputs could not be listed" in said, said
        (executor,) = task["logs"][0]["logs"]
        assert executor["exit_code"] == 5 and "stdout" not in executor
        listed = http.get(f"{TES}/tasks", params={"view": "FULL"})
        assert listed.status_code == 200 and token not in listed.text
