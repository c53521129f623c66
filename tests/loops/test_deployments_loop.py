"""The deployments' control loop with a real local executor: a deployment of a plain command
comes up ready, a dead replica is replaced, an update rolls to the next revision with a ready
replica at every moment, a rollback returns to the revision before, a crash loop fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.jobs import endpoints, snapshots
from aicc.services.models import models
from aicc.services.serving import lifecycle
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.serving import DeploymentRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing.polling import wait
from aicc.testing.servers import in_process

# A tiny HTTP server: /health answers 200, /version says which revision's env it runs with.
SERVE = (
    "mkdir -p site && echo ok > site/health && echo $VERSION > site/version && "
    "exec python -m http.server $PORT --bind $AICC_SERVICE_HOST --directory site"
)
FAST = {
    "probe_interval_s": 0.2,
    "probe_timeout_s": 1.0,
    "unready_after": 2,
    "dead_after": 4,
    "drain_s": 0.5,
    "backoff_s": 0.1,
    "failures_to_fail": 2,
}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[TestClient, AppState]]:
    with in_process(tmp_path / "home", None, limits={"grace_s": 1.0}, deployments=FAST) as pair:
        yield pair


def _get(api: TestClient, name: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/deployments/{name}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _ready(api: TestClient, name: str, revision: int) -> dict[str, Any] | None:
    found = _get(api, name)
    wanted = [r for r in found["replicas"] if r["revision"] == revision and r["ready"]]
    others = [r for r in found["replicas"] if r["revision"] != revision]
    done = found["state"] == "ready" and wanted and not others
    return found if done else None


def _ready_endpoints(state: AppState, name: str) -> list[endpoints.Endpoint]:
    with state.db.reader() as session:
        row = session.query(DeploymentRow).filter_by(name=name).one()
        return [e for e in lifecycle.endpoints_of(session, row.id) if e.ready]


def _through(state: AppState, replica: dict[str, Any], path: str) -> httpx.Response:
    """GET `path` of a replica as the server reaches it: through its Unix socket (sandboxed,
    no TCP port answers for it), else on TCP."""
    with state.db.reader() as session:
        (found,) = [e for e in endpoints.of_job(session, replica["job_id"]) if e.running]
    if found.socket is None:
        return httpx.get(found.url + path, timeout=5)
    with endpoints.unix_client(found.socket, 5) as http:
        return http.get(found.url + path)


def test_a_deployment_comes_up_heals_rolls_and_rolls_back(
    live: tuple[TestClient, AppState],
) -> None:
    api, state = live
    body = {"name": "web", "command": SERVE, "env": {"VERSION": "v1"}, "resources": {"cpu": "0.2"}}
    made = api.post("/api/v1/deployments", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "pending" and made.json()["revision"] == 1

    up = wait("the deployment to be ready", lambda: _ready(api, "web", 1), timeout=60)
    (first,) = up["replicas"]
    assert _through(state, first, "/version").text == "v1\n"

    # its replica dies: a replacement comes up, the deployment is ready again
    assert api.post(f"/api/v1/jobs/{first['job_id']}/cancel").status_code == 200
    healed = wait(
        "a replacement",
        lambda: (f := _ready(api, "web", 1)) and f["replicas"][0]["job_id"] != first["job_id"],
        timeout=60,
    )
    assert healed

    # an update rolls to revision 2; at every moment a replica is ready
    changed = api.patch("/api/v1/deployments/web", json={"env": {"VERSION": "v2"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["revision"] == 2 and changed.json()["state"] == "updating"
    seen: set[int | None] = set()

    def rolled() -> bool:
        ready = _ready_endpoints(state, "web")
        assert ready, "no ready replica during the rolling update"
        seen.update(e.revision for e in ready)
        return _ready(api, "web", 2) is not None

    wait("the update to roll out", rolled, timeout=60, every=0.05)
    assert seen == {1, 2}
    (now,) = _get(api, "web")["replicas"]
    assert _through(state, now, "/version").text == "v2\n"

    # a rollback makes revision 3 with revision 1's spec
    back = api.post("/api/v1/deployments/web/rollback")
    assert back.status_code == 200, back.text
    assert back.json()["revision"] == 3 and back.json()["env"] == {"VERSION": "v1"}
    wait("the rollback to roll out", lambda: _ready(api, "web", 3), timeout=60)
    (then,) = _get(api, "web")["replicas"]
    assert _through(state, then, "/version").text == "v1\n"
    revisions = api.get("/api/v1/deployments/web/revisions").json()
    assert [r["revision"] for r in revisions] == [3, 2, 1]

    # stopped: no replica left running
    assert api.post("/api/v1/deployments/web/stop").json()["state"] == "stopped"
    wait("the replicas to end", lambda: not _get(api, "web")["replicas"], timeout=30)


def test_a_crash_loop_fails_the_deployment_with_the_reason(
    live: tuple[TestClient, AppState],
) -> None:
    api, _ = live
    made = api.post("/api/v1/deployments", json={"name": "broken", "command": "exit 3"})
    assert made.status_code == 201, made.text
    failed = wait(
        "the deployment to fail",
        lambda: (f := _get(api, "broken"))["state"] == "failed" and f,
        timeout=60,
    )
    assert "never became ready" in failed["message"] and "exit" in failed["message"]
    # started again, it tries again from zero
    assert api.post("/api/v1/deployments/broken/start").json()["state"] == "pending"


def test_the_replicas_within_the_minimum_are_protected_from_preemption(
    live: tuple[TestClient, AppState],
) -> None:
    """The scheduler's snapshot marks a deployment's oldest `min_replicas` running replica jobs
    `protected` (never a victim); the ones above the minimum stay preemptible."""
    api, state = live
    body = {"name": "two", "command": SERVE, "min_replicas": 2, "max_replicas": 2}
    assert api.post("/api/v1/deployments", json=body).status_code == 201
    up = wait("two ready replicas", lambda: _ready(api, "two", 1), timeout=60)
    assert len(up["replicas"]) == 2
    state.controller.stop()  # else, idle, the autoscaler may drain one down to the new minimum
    scaled = api.post("/api/v1/deployments/two/scale", json={"min_replicas": 1})
    assert scaled.json()["desired"] == 2 and scaled.json()["min_replicas"] == 1
    with state.db.reader() as session:
        running = snapshots.build(session, utcnow(), protect=lifecycle.protected).running
    flags = {v.id: v.protected for v in running}
    oldest, newest = (r["job_id"] for r in up["replicas"])
    assert (flags[oldest], flags[newest]) == (True, False)


def test_a_replica_that_stops_answering_is_taken_out_then_replaced(
    live: tuple[TestClient, AppState],
) -> None:
    """Liveness: a running replica whose readiness path fails `unready_after` probes in a row
    gets no more requests; after `dead_after` it is cancelled, and a new one takes its place."""
    api, state = live
    wedges = "(sleep 2; rm site/health) & " + SERVE  # answers /health for 2 s, then 404
    made = api.post("/api/v1/deployments", json={"name": "wedge", "command": wedges})
    assert made.status_code == 201, made.text
    up = wait("the first replica ready", lambda: _ready(api, "wedge", 1), timeout=60)
    first = up["replicas"][0]["job_id"]
    wait(
        "the first replica out of routing",
        lambda: all(e.job_id != first for e in _ready_endpoints(state, "wedge")),
        timeout=30,
        every=0.05,
    )
    ended = wait(
        "the first replica cancelled",
        lambda: (j := api.get(f"/api/v1/jobs/{first}").json())["state"] == "cancelled" and j,
        timeout=30,
    )
    events = api.get(f"/api/v1/jobs/{first}/events").json()["items"]
    assert any(e["message"] == "deployment wedge: failed 4 probes" for e in events), events
    assert ended["state"] == "cancelled"
    replaced = wait(
        "a replacement",
        lambda: [r for r in _get(api, "wedge")["replicas"] if r["job_id"] != first],
        timeout=30,
    )
    assert replaced and _get(api, "wedge")["state"] != "failed"


def test_replicas_count_against_the_projects_quota(live: tuple[TestClient, AppState]) -> None:
    """Replicas are jobs: a project whose quota holds one replica runs one, and the other waits
    for quota like any job (the deployment stays pending)."""
    api, _ = live
    me = api.get("/api/v1/me").json()
    project = me["projects"][0]["id"]
    quota = api.put(f"/api/v1/projects/{project}/quota", json={"max": {"cpu_milli": 1500}})
    assert quota.status_code == 200, quota.text
    body = {"name": "big", "command": SERVE, "min_replicas": 2, "max_replicas": 2}
    body["resources"] = {"cpu": "1"}
    assert api.post("/api/v1/deployments", json=body).status_code == 201

    def one_ready_one_waiting() -> list[dict[str, Any]] | None:
        replicas = _get(api, "big")["replicas"]
        ready = [r for r in replicas if r["ready"]]
        waiting = [r for r in replicas if r["state"] in ("pending", "admitted")]
        return waiting if len(ready) == 1 and len(waiting) == 1 else None

    (waiting,) = wait("one replica ready, one waiting", one_ready_one_waiting, timeout=60)
    reasons = api.get(f"/api/v1/jobs/{waiting['job_id']}/explain").json()["reasons"]
    assert [r["code"] for r in reasons][:1] == ["quota"], reasons
    found = _get(api, "big")
    assert (found["state"], found["message"]) == ("pending", "1 of 2 replicas ready")


def test_a_model_version_deployed_comes_up_ready_and_predicts(
    live: tuple[TestClient, AppState], tmp_path: Path
) -> None:
    """A template-trained model version (credit-risk): the replica mounts it at
    `$AICC_MODEL_DIR`, runs the serving program shipped as its working directory, and
    answers `/predict` once ready."""
    serving = pytest.importorskip("aicc.testing.serving", reason="aicc/serving not merged yet")
    from aicc.testing import templates

    api, state = live
    trained = templates.train_example("credit-risk", tmp_path / "work")
    version = serving.model_version("credit-risk", trained.model, tmp_path / "version")
    with state.db.session() as session:
        admin = session.scalar(select(UserRow).where(UserRow.name == "admin"))
        assert admin is not None
        who = principal_of(session, admin)
        models.register_directory(session, who, state.chunks, "risk", version)
    body = {"name": "loans", "model": "risk", "resources": {"cpu": "1", "memory": "2Gi"}}
    made = api.post("/api/v1/deployments", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["model"].endswith("/risk@1")
    up = wait("the model's replica ready", lambda: _ready(api, "loans", 1), timeout=120)
    (replica,) = up["replicas"]
    health = _through(state, replica, "/health")
    assert health.status_code == 200 and health.json()["model"] == "loans"
