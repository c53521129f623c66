"""The loops run when a change commits, whichever face made it, and not when it is rolled back
(services/changes.py, wired in api/state.py). The server's tick is 30 s here: whatever
happens within a few seconds happened because a commit woke the loop, not because it ticked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.services.center import power
from aicc.services.common import utcnow
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.polling import wait
from aicc.testing.servers import in_process

TICK_S = 30.0  # the loop's interval: never reached by what these tests wait for
SOON_S = 8.0  # what "at once" may take on a loaded machine, well under TICK_S
SLEEP = "sleep 600"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState]]:
    with in_process(
        tmp_path_factory.mktemp("wake") / "home",
        None,
        loop_interval_s=TICK_S,
        limits={"grace_s": 1.0},
    ) as pair:
        yield pair


@pytest.fixture
def api(site: tuple[TestClient, AppState]) -> TestClient:
    return site[0]


@pytest.fixture
def alice(api: TestClient) -> Person:
    n = unique()
    return make_person(api, f"acme-{n}", f"alice-{n}")


def passes(api: TestClient) -> float:
    """How many passes the loop has run (its scheduler cycles), as /metrics says."""
    text = api.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            schedule = sample.labels == {"step": "schedule"}
            if sample.name == "aicc_controller_step_seconds_count" and schedule:
                return sample.value
    return 0.0


def woken(api: TestClient, before: float) -> bool:
    """Whether a pass ran since `before` was read, waiting up to SOON_S for one."""
    deadline = time.monotonic() + SOON_S
    while time.monotonic() < deadline:
        if passes(api) > before:
            return True
        time.sleep(0.1)
    return False


def settled(api: TestClient) -> float:
    """The passes so far, once none ran for a while (a replica launched just before is polled
    at once for a few seconds): the next then comes with a commit, or TICK_S after the last."""
    deadline = time.monotonic() + 3 * SOON_S
    last = passes(api)
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = passes(api)
        if now == last:
            return now
        last = now
    raise AssertionError("the loop never rested")


def set_cap(api: TestClient) -> None:
    made = api.post("/api/v1/center/power-cap/events", json={"cap_kw": 500, "duration_s": 60})
    assert made.status_code == 201, made.text


def test_a_deployment_stopped_from_the_portal_stops_its_replicas_at_once(
    api: TestClient, alice: Person
) -> None:
    made = api.post(
        "/api/v1/deployments", json={"name": "web", "command": SLEEP}, headers=alice.headers
    )
    assert made.status_code == 201, made.text

    def replica() -> str | None:  # the create woke the loop, which started one
        found = api.get("/api/v1/deployments/web", headers=alice.headers).json()
        return found["replicas"][0]["job_id"] if found["replicas"] else None

    job_id = wait("a replica job", replica, timeout=SOON_S, every=0.1)
    page = signed_in(api, alice)
    link = f"/deployments/web?project={alice.project_id}"
    stop = page.post(
        f"/deployments/web/stop?project={alice.project_id}",
        data={"csrf": csrf_of(page, link)},
        follow_redirects=False,
    )
    assert stop.status_code == 303, stop.text
    asked = time.monotonic()

    def ending() -> bool:  # what the pass that ends a stopped deployment's replicas writes
        events = api.get(f"/api/v1/jobs/{job_id}/events", headers=alice.headers).json()
        return any(e["message"] == "deployment web stopped" for e in events["items"])

    # before: the portal's button woke nothing, and the replica ran on until the next tick
    wait("the replica stopping", ending, timeout=SOON_S, every=0.1)
    assert time.monotonic() - asked < SOON_S < TICK_S


def test_a_check_that_is_rolled_back_wakes_nothing_and_a_commit_wakes_once(
    api: TestClient, site: tuple[TestClient, AppState], alice: Person
) -> None:
    before = passes(api)
    set_cap(api)  # a committed change: the loop runs at once
    assert woken(api, before)
    quiet = settled(api)

    # the YAML editor's check: the job is submitted in a savepoint, then rolled back
    page = signed_in(api, alice)
    spec = f"name: checked\ncommand: {SLEEP}\nresources:\n  cpu: 100m\n  memory: 64MiB\n"
    form = {"csrf": csrf_of(page, "/submit/yaml"), "spec": spec, "action": "check"}
    checked = page.post("/submit/yaml", data=form)
    assert checked.status_code == 200, checked.text
    # a service's change in a transaction that then fails (as a route's does on an error)
    _, state = site
    with pytest.raises(RuntimeError), state.db.session() as session:
        admin = session.scalars(select(UserRow).where(UserRow.name == "admin")).one()
        until = utcnow() + timedelta(hours=1)
        cap = power.add_event(session, principal_of(session, admin), 400, None, until, "never")
        raise RuntimeError("the route failed after the change")
    assert not woken(api, quiet)
    kept = api.get("/api/v1/center/power-cap").json()["events"]
    assert kept and all(e["id"] != cap.id for e in kept)  # the first cap only
    assert api.get("/api/v1/jobs", headers=alice.headers).json()["items"] == []

    set_cap(api)  # and a commit still wakes it
    assert woken(api, quiet)


def test_no_route_or_page_wakes_the_loops() -> None:
    """A commit wakes them (services/changes.py); a face that calls `wake` itself wakes them
    before its transaction commits, or forgets to (as the portal's deployment buttons did)."""
    root = Path(__file__).resolve().parents[2] / "aicc"
    found = [
        f"{path.relative_to(root.parent)}:{number}"
        for face in ("api", "portal")
        for path in sorted((root / face).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "controller.wake" in line and path.name != "state.py"  # state.py: the wiring
    ]
    assert found == []
