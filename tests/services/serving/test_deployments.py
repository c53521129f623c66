"""The deployments service, on SQLite and PostgreSQL: its rules (sizes, names, one of model or
command), roles (members change, viewers read), another tenant's deployment and private model
are 404s, bad input a 422 naming the field, and revisions for update and rollback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.tenancy import Principal
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, ServiceError
from aicc.services.models import models
from aicc.services.serving import deployments
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.jobs import JobRow
from aicc.store.tables.serving import DeploymentRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing.tenants import Tenant, make_tenant

Call = Callable[[Session, Principal], Any]

# A deployment's own fields are checked before anything is stored: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class World:
    """Tenant A (a member and a viewer of one project) and tenant B, as service callers."""

    def __init__(self, api: TestClient, state: AppState) -> None:
        self.state = state
        self.a: Tenant = make_tenant(api, "tenant-a")
        self.b: Tenant = make_tenant(api, "tenant-b")
        viewer = api.post(
            "/api/v1/users",
            json={
                "name": "a-viewer",
                "role": "viewer",
                "org_id": self.a.org_id,
                "projects": [self.a.project_id],
            },
        )
        assert viewer.status_code == 201, viewer.text
        self.viewer_id = viewer.json()["id"]

    @contextmanager
    def as_(self, user_id: str) -> Iterator[tuple[Session, Principal]]:
        with self.state.db.session() as session:
            user = session.get(UserRow, user_id)
            assert user is not None
            yield session, principal_of(session, user)

    def call(self, user_id: str, do: Call) -> Any:
        with self.as_(user_id) as (session, who):
            return do(session, who)

    def refused(self, user_id: str, do: Call) -> ServiceError:
        with pytest.raises(ServiceError) as caught:
            self.call(user_id, do)
        return caught.value


@pytest.fixture
def world(server: tuple[TestClient, AppState]) -> World:
    return World(*server)


def stopped(world: World, name: str, **fields: Any) -> deployments.Deployment:
    """A deployment made stopped, in one transaction: the control loop starts nothing."""
    blobs = world.state.blobs

    def make(session: Session, who: Principal) -> deployments.Deployment:
        deployments.create(session, who, blobs, name=name, command="sleep 600", **fields)
        return deployments.stop(session, who, name)

    made: deployments.Deployment = world.call(world.a.user_id, make)
    return made


@sqlite_only
def test_bad_input_is_a_422_naming_the_field(world: World) -> None:
    a, blobs = world.a.user_id, world.state.blobs
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "Bad Name"}, "name"),
        ({"name": "x", "min_replicas": 3, "max_replicas": 2}, "min_replicas"),
        ({"name": "x", "max_replicas": 0, "min_replicas": 0}, "max_replicas"),
        ({"name": "x", "max_replicas": 10_000}, "max_replicas"),
        ({"name": "x", "min_replicas": -1}, "min_replicas"),
        ({"name": "x", "model": "m@1", "command": "serve"}, "model"),
        ({"name": "x", "command": "  "}, "command"),
        ({"name": "x", "engine": "tgi"}, "engine"),
        ({"name": "x", "readiness_path": "health"}, "readiness_path"),
        ({"name": "x", "env": {"PORT": "1"}}, "env"),
        ({"name": "x", "resources": {"cpu": "lots"}}, "resources"),
        ({"name": "x", "resources": {"cpu": 100_000}}, "resources"),
        ({"name": "x", "workdir_sha256": "0" * 64}, "workdir_sha256"),
        ({"name": "x", "model": "bad@ref@2", "command": None}, "model"),
    ]
    for fields, field in cases:
        given = {"command": "sleep 600", **fields}
        err = world.refused(a, lambda s, w, f=given: deployments.create(s, w, blobs, **f))
        assert isinstance(err, Invalid) and err.status == 422, (fields, err)
        assert err.detail.startswith(field), (fields, err.detail)
    with world.state.db.reader() as session:
        assert session.query(DeploymentRow).count() == 0


def test_members_change_viewers_read_another_tenant_gets_404(world: World) -> None:
    made = stopped(world, "web")
    assert (made.state, made.revision, made.desired) == ("stopped", 1, 0)
    assert made.project.endswith("/default") or made.project.count("/") == 1
    viewer, b = world.viewer_id, world.b.user_id
    seen = world.call(viewer, lambda s, w: deployments.get(s, w, "web"))
    assert seen.id == made.id and seen.command == "sleep 600"
    assert [d.name for d in world.call(viewer, deployments.list_deployments)] == ["web"]
    blobs = world.state.blobs
    changes: list[Call] = [
        lambda s, w: deployments.update(s, w, blobs, "web", {"env": {"A": "1"}}),
        lambda s, w: deployments.rollback(s, w, "web"),
        lambda s, w: deployments.scale(s, w, "web", max_replicas=2),
        lambda s, w: deployments.stop(s, w, "web"),
        lambda s, w: deployments.start(s, w, "web"),
        lambda s, w: deployments.delete_deployment(s, w, "web"),
    ]
    for change in changes:
        assert isinstance(world.refused(viewer, change), Forbidden)
    reads: list[Call] = [
        lambda s, w: deployments.get(s, w, "web"),
        lambda s, w: deployments.get(s, w, made.id),
        lambda s, w: deployments.get(s, w, "web", project=world.a.project_id),
        lambda s, w: deployments.revisions(s, w, "web", project=world.a.project_id),
    ]
    for call in [*reads, *changes]:
        err = world.refused(b, call)
        assert isinstance(err, NotFound) and err.status == 404, err
    assert world.call(b, deployments.list_deployments) == []
    again = world.refused(
        world.a.user_id, lambda s, w: deployments.create(s, w, blobs, name="web", command="x")
    )
    assert isinstance(again, Conflict)


def test_update_makes_a_revision_and_rollback_returns_to_the_one_before(world: World) -> None:
    made = stopped(world, "web", env={"V": "1"}, resources={"cpu": "0.5"})
    a, blobs = world.a.user_id, world.state.blobs
    none = world.refused(a, lambda s, w: deployments.rollback(s, w, "web"))
    assert isinstance(none, Conflict) and "no revision before 1" in none.detail
    same = world.call(a, lambda s, w: deployments.update(s, w, blobs, "web", {"env": {"V": "1"}}))
    assert same.revision == 1  # nothing changed: no new revision
    two = world.call(a, lambda s, w: deployments.update(s, w, blobs, "web", {"env": {"V": "2"}}))
    assert (two.revision, two.env, two.state) == (2, {"V": "2"}, "stopped")
    assert two.resources == made.resources == {"cpu": "0.5"}
    three = world.call(a, lambda s, w: deployments.rollback(s, w, "web"))
    assert (three.revision, three.env) == (3, {"V": "1"})
    listed = world.call(a, lambda s, w: deployments.revisions(s, w, "web"))
    assert [r.revision for r in listed] == [3, 2, 1]
    with world.state.db.reader() as session:
        row = session.query(DeploymentRow).one()
        assert row.spec["env"] == {"V": "1"} and row.spec["kind"] == "service"
        assert row.spec["labels"] == {"aicc.io/deployment": "web"}
    bad = world.refused(a, lambda s, w: deployments.update(s, w, blobs, "web", {"size": 1}))
    assert isinstance(bad, Invalid) and bad.detail.startswith("size")


def test_scale_stop_and_start_move_what_is_wanted(world: World) -> None:
    stopped(world, "web", min_replicas=0, max_replicas=3)
    a = world.a.user_id
    scaled = world.call(a, lambda s, w: deployments.scale(s, w, "web", min_replicas=2))
    assert (scaled.min_replicas, scaled.max_replicas, scaled.desired) == (2, 3, 0)  # stopped
    started = world.call(a, lambda s, w: deployments.start(s, w, "web"))
    assert (started.state, started.desired) == ("pending", 2)
    low = world.refused(a, lambda s, w: deployments.scale(s, w, "web", max_replicas=1))
    assert isinstance(low, Invalid) and low.detail.startswith("min_replicas")
    world.call(a, lambda s, w: deployments.delete_deployment(s, w, "web"))
    with world.state.db.reader() as session:
        assert session.query(DeploymentRow).count() == 0
        live = session.query(JobRow).filter(JobRow.state.in_(("pending", "running"))).all()
        assert all(j.cancel_requested for j in live)


def test_another_tenants_private_model_is_a_404(world: World) -> None:
    def register(session: Session, who: Principal) -> Any:
        return models.register(
            session, who, world.state.chunks, "secret-model", [("w.bin", b"weights")]
        )

    world.call(world.b.user_id, register)
    err = world.refused(
        world.a.user_id,
        lambda s, w: deployments.create(s, w, world.state.blobs, name="x", model="secret-model"),
    )
    assert isinstance(err, NotFound) and "secret-model" in err.detail


def test_a_model_deployment_mounts_its_version_and_runs_the_serving_program(world: World) -> None:
    pytest.importorskip("aicc.serving", reason="the serving engines (aicc/serving) not merged yet")

    def register(session: Session, who: Principal) -> Any:
        models.register(session, who, world.state.chunks, "tiny", [("w.bin", b"v1")])
        return models.register(session, who, world.state.chunks, "tiny", [("w.bin", b"v2")])

    world.call(world.a.user_id, register)
    made = stopped_model(world)
    assert made.model is not None and made.model.endswith("/tiny@2")
    with world.state.db.reader() as session:
        spec = session.query(DeploymentRow).one().spec
    assert spec["datasets"] == [made.model] and spec["workdir_sha256"]
    assert '--model "$AICC_MODEL_DIR"' in spec["command"] and "--name tiny-api" in spec["command"]
    assert 'AICC_MODEL_DIR="$AICC_DATA_DIR/tiny"' in spec["command"]


def stopped_model(world: World) -> deployments.Deployment:
    blobs = world.state.blobs

    def make(session: Session, who: Principal) -> deployments.Deployment:
        deployments.create(session, who, blobs, name="tiny-api", model="tiny")
        return deployments.stop(session, who, "tiny-api")

    made: deployments.Deployment = world.call(world.a.user_id, make)
    return made
