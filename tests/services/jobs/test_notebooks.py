"""Notebooks with a real JupyterLab, started as `kind: notebook` jobs by the local executor in
its sandbox: it answers only with its token; the owner's persistent home keeps a file across a
stop and a start; an idle notebook is culled (reason `idle_culled`) and its metering ends then.
The test reaches JupyterLab as the server does, through the notebook's Unix socket."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core.tenancy import Principal
from aicc.services.common import utcnow
from aicc.services.jobs import endpoints, notebooks
from aicc.services.tenancy import tenancy
from aicc.store.tables.jobs import ReplicaRow
from aicc.store.tables.telemetry import DeviceSampleRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing.polling import wait
from aicc.testing.servers import in_process

pytest.importorskip("jupyterlab", reason="pip install -e '.[notebooks]'")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState]]:
    home = tmp_path_factory.mktemp("notebooks") / "home"
    with in_process(
        home,
        None,
        limits={"grace_s": 2.0},
        notebooks={"check_interval_s": 0.5},
        simulated_devices=[{"model": "A100-80GB", "count": 1}],
    ) as pair:
        yield pair


def admin(state: AppState) -> Principal:
    with state.db.reader() as session:
        row = session.query(UserRow).filter(UserRow.name == "admin").one()
        return tenancy.principal_of(session, row)


@pytest.fixture
def held() -> Iterator[contextlib.ExitStack]:
    """The clients a test opened to its notebooks, closed when it ends."""
    with contextlib.ExitStack() as stack:
        yield stack


def answering(
    api: TestClient, state: AppState, name: str, held: contextlib.ExitStack
) -> tuple[dict[str, Any], str, str, httpx.Client]:
    """The running notebook, once its JupyterLab answers: (notebook, its API base, its token,
    a client that reaches it as the server does: through its Unix socket)."""

    clients: dict[str, httpx.Client] = {}  # one per socket, however often it is asked

    def ready() -> tuple[dict[str, Any], str, str, httpx.Client] | None:
        found: dict[str, Any] = api.get(f"/api/v1/notebooks/{name}").json()
        assert found["state"] in ("starting", "running"), found
        if found["state"] != "running":
            return None
        with state.db.reader() as session:
            up = notebooks.upstream(session, state.sealer, admin(state), found["job_id"])
        assert up.socket is not None  # sandboxed: no TCP port answers for it
        if up.socket not in clients:
            clients[up.socket] = held.enter_context(endpoints.unix_client(up.socket, 10))
        http = clients[up.socket]
        base = f"{up.url}/notebooks/{found['job_id']}/api"
        try:
            status = http.get(f"{base}/status", headers=token(up.token), timeout=2)
        except httpx.HTTPError:
            return None
        return (found, base, up.token, http) if status.status_code == 200 else None

    return wait(f"notebook {name} to answer", ready, timeout=90)


def token(secret: str) -> dict[str, str]:
    return {"Authorization": f"token {secret}"}


def test_the_home_keeps_its_files_and_jupyterlab_wants_its_token(
    site: tuple[TestClient, AppState], held: contextlib.ExitStack
) -> None:
    api, state = site
    made = api.post(
        "/api/v1/notebooks", json={"name": "lab", "resources": {"cpu": "1", "memory": "2Gi"}}
    )
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "starting" and made.json()["idle_timeout_s"] == 3600
    first, base, secret, http = answering(api, state, "lab", held)
    assert first["url"] == f"/notebooks/{first['job_id']}/lab"

    # The server's account reaches it: without the token, or with another, it is refused.
    assert http.get(f"{base}/contents").status_code == 403
    assert http.get(f"{base}/contents", headers=token("x" * 43)).status_code == 403
    saved = http.put(
        f"{base}/contents/notes.txt",
        json={"type": "file", "format": "text", "content": "written before the stop\n"},
        headers=token(secret),
    )
    assert saved.status_code in (200, 201), saved.text
    # The token is nowhere in what the owner reads back about the notebook or its job.
    job = api.get(f"/api/v1/jobs/{first['job_id']}").json()
    assert secret not in str(job) and secret not in str(first)

    stopped = api.post("/api/v1/notebooks/lab/stop").json()
    assert stopped["job_id"] == first["job_id"]
    wait(
        "the first job to end",
        lambda: api.get(f"/api/v1/jobs/{first['job_id']}").json()["state"] == "cancelled",
        timeout=60,
    )
    assert api.get("/api/v1/notebooks/lab").json()["state"] == "stopped"

    assert api.post("/api/v1/notebooks/lab/start").status_code == 200
    second, base2, secret2, http2 = answering(api, state, "lab", held)
    assert second["job_id"] != first["job_id"] and secret2 != secret
    again = http2.get(f"{base2}/contents/notes.txt", headers=token(secret2))
    assert again.status_code == 200 and again.json()["content"] == "written before the stop\n"
    # The old job's token does not open the new JupyterLab.
    assert http2.get(f"{base2}/contents", headers=token(secret)).status_code == 403
    assert api.delete("/api/v1/notebooks/lab").status_code == 204
    wait(
        "the second job to end",
        lambda: api.get(f"/api/v1/jobs/{second['job_id']}").json()["state"] == "cancelled",
        timeout=60,
    )
    assert api.get("/api/v1/notebooks/lab").status_code == 404


def test_an_idle_notebook_is_culled_and_its_metering_ends_then(
    site: tuple[TestClient, AppState], held: contextlib.ExitStack
) -> None:
    api, state = site
    made = api.post(
        "/api/v1/notebooks",
        json={"name": "idle", "idle_timeout_s": 3, "resources": {"memory": "2Gi"}},
    )
    assert made.status_code == 201, made.text
    found, base, secret, http = answering(api, state, "idle", held)
    job_id = found["job_id"]

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    job = wait("the idle notebook to be culled", ended, timeout=60)
    assert (job["state"], job["reason"]) == ("cancelled", "idle_culled")
    assert "idle" in job["message"] and "idle_timeout 3 s" in job["message"]
    after = api.get("/api/v1/notebooks/idle").json()
    assert after["state"] == "culled" and after["reason"] == "idle_culled" and after["url"] is None

    culled_at = datetime.fromisoformat(after["culled_at"])
    started = datetime.fromisoformat(job["started_at"])
    replica_end = datetime.fromisoformat(job["replicas"][0]["ended_at"])
    assert (culled_at - started).total_seconds() >= 3  # idle for its whole timeout first
    # JupyterLab stops on the SIGTERM the cull sends (within the 2 s grace, plus a poll)
    assert 0 <= (replica_end - culled_at).total_seconds() < 5

    def usage() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = api.get("/api/v1/usage", params={"job": job_id}).json()[
            "items"
        ]
        return items or None

    records = wait("the notebook's usage", usage, timeout=30)
    # Metered to the replica's end, the cull's SIGTERM: nothing after it.
    assert max(datetime.fromisoformat(r["end"]) for r in records) == replica_end
    assert datetime.fromisoformat(job["ended_at"]) == replica_end
    with pytest.raises(httpx.HTTPError):
        http.get(f"{base}/status", headers=token(secret), timeout=2)


def test_a_busy_gpu_keeps_a_notebook_alive(
    site: tuple[TestClient, AppState], held: contextlib.ExitStack
) -> None:
    """NVML samples of the notebook's device count as activity: while they say it works, the
    notebook outlives its idle timeout; once they stop, it is culled."""
    api, state = site
    made = api.post(
        "/api/v1/notebooks",
        json={"name": "gpu", "idle_timeout_s": 3, "resources": {"memory": "2Gi", "gpu": 1}},
    )
    assert made.status_code == 201, made.text
    found, _, _, _ = answering(api, state, "gpu", held)
    with state.db.reader() as session:
        rep = session.query(ReplicaRow).filter(ReplicaRow.job_id == found["job_id"]).one()
        node_id, index = rep.node_id, rep.devices[0]["index"]

    def sample(utilization: float) -> None:
        with state.db.session() as session:
            session.add(
                DeviceSampleRow(node_id=node_id, index=index, at=utcnow(), utilization=utilization)
            )

    until = time.monotonic() + 8  # well past the 3 s timeout
    while time.monotonic() < until:
        sample(0.9)
        time.sleep(0.5)
    job = api.get(f"/api/v1/jobs/{found['job_id']}").json()
    assert job["state"] == "running", job
    sample(0.0)  # idle now: the busy samples age out of the window

    def culled() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{found['job_id']}").json()
        return job if job["state"] == "cancelled" else None

    assert wait("the idle GPU notebook to be culled", culled, timeout=60)["reason"] == "idle_culled"


def test_other_engines_refuse_a_notebook_they_cannot_give_a_home(tmp_path: Path) -> None:
    """Slurm and Ray replicas have no persistent home here: a clear refusal, not a lost home."""
    from aicc.executors.base import ReplicaLaunch
    from aicc.executors.slurm import SlurmCommands, SlurmExecutor

    slurm = SlurmExecutor(
        base_dir=tmp_path / "runs", blobs=None, commands=SlurmCommands(), sandbox=None
    )
    launch = ReplicaLaunch(
        job_id="job_X",
        attempt=0,
        index=0,
        argv=["true"],
        env={},
        node="n1",
        device_indices=(),
        cpu_milli=1000,
        memory_mib=1024,
        max_runtime_s=None,
        home="prj_X/usr_X",
    )
    with pytest.raises(ValueError, match="cannot give a notebook its persistent home"):
        slurm.launch(launch)
