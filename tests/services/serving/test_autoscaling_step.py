"""The controller's autoscaling step: what the gateway counts moves a deployment's `desired`
replicas within its bounds, and a deployment without a minimum goes to zero when idle and
comes back for the next request."""

from __future__ import annotations

import time
from pathlib import Path

from aicc.api.state import AppState
from aicc.services.serving import autoscaling
from aicc.services.serving.autoscaling import Concurrency
from aicc.store.tables.serving import DeploymentRow
from aicc.testing.polling import wait
from aicc.testing.servers import in_process

SERVE = "exec python -m http.server $PORT --bind $AICC_SERVICE_HOST"
FAST = {
    "stable_window_s": 6,
    "panic_window_s": 2,
    "scale_down_delay_s": 0,
    "scale_to_zero_after_s": 3,
    "probe_interval_s": 0.3,
    "drain_s": 0.5,
}


def desired(state: AppState) -> int:
    with state.db.reader() as session:
        return session.query(DeploymentRow).filter_by(name="web").one().desired


def test_load_scales_up_idleness_to_zero_and_a_request_back(tmp_path: Path) -> None:
    with in_process(tmp_path / "home", deployments=FAST, limits={"grace_s": 1.0}) as (api, state):
        body = {"name": "web", "command": SERVE, "min_replicas": 0, "max_replicas": 5}
        made = api.post("/api/v1/deployments", json={**body, "target_concurrency": 2})
        assert made.status_code == 201, made.text
        assert made.json()["target_concurrency"] == 2
        dep = made.json()["id"]
        counts = state.controller.deployments.concurrency  # what the gateway tells
        assert counts is not None

        for _ in range(8):  # 8 requests in flight: 4 replicas at 2 each, within seconds
            counts.begin(dep)
        wait("4 replicas wanted", lambda: desired(state) == 4 or None, timeout=10)
        for _ in range(8):
            counts.end(dep)
        wait("scaled to zero", lambda: desired(state) == 0 or None, timeout=30)
        wait(
            "no replica left",
            lambda: api.get("/api/v1/deployments/web").json()["replicas"] == [] or None,
            timeout=30,
        )
        counts.begin(dep)  # a request arrives and waits: one replica again
        wait("one replica wanted", lambda: desired(state) == 1 or None, timeout=10)
        counts.end(dep)
        # a bound set by hand wins over the load
        assert (
            api.post("/api/v1/deployments/web/scale", json={"max_replicas": 1}).status_code == 200
        )
        for _ in range(20):
            counts.begin(dep)
        time.sleep(3)  # the panic window over, and more
        assert desired(state) == 1


def test_the_load_another_server_took_counts_as_the_leaders_own(tmp_path: Path) -> None:
    """Another server (or worker process) on the same database counts its own requests: it
    shares its seconds through the store, and the leader scales on the sum."""
    with in_process(tmp_path / "home", deployments=FAST, limits={"grace_s": 1.0}) as (api, state):
        body = {"name": "web", "command": SERVE, "min_replicas": 1, "max_replicas": 5}
        made = api.post("/api/v1/deployments", json={**body, "target_concurrency": 2})
        assert made.status_code == 201, made.text
        dep = made.json()["id"]
        other = Concurrency()  # the other server's gateway: this server's sees nothing
        for _ in range(6):
            other.begin(dep)

        def shared_and_scaled() -> bool | None:
            with state.db.session() as session:
                autoscaling.share(session, "other-host:1:abcd", other.unshared())
            return desired(state) == 3 or None

        wait("3 replicas wanted for the other server's 6 requests", shared_and_scaled, timeout=15)
        assert state.controller.deployments.concurrency.inflight(dep) == 0  # type: ignore[union-attr]
        for _ in range(6):
            other.end(dep)
