"""A job's `datasets` at submit, on SQLite and PostgreSQL: each resolves for the submitter or the
submit is refused naming it, and is pinned to the exact version found then, so a later push
never changes a queued job's data. The server's data as the node caches read them, by the
pinned version. Jobs are queued only (no loops): what is checked is what was stored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aicc.sdk.client import Client
from aicc.server import ServerState
from aicc.services.common import utcnow
from aicc.services.data import mounts
from aicc.services.data.mounts import StoredData
from aicc.services.jobs import snapshots
from aicc.services.models import models
from aicc.services.serving import lifecycle
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.jobs import JobRow
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import over_http


@dataclass
class Who:
    sdk: Client
    http: httpx.Client


@dataclass
class Center:
    url: str
    admin: httpx.Client
    state: ServerState

    def tenant(self, name: str, role: str = "member") -> Who:
        org = self.admin.post("/api/v1/orgs", json={"name": name}).json()
        user = self.admin.post(
            "/api/v1/users", json={"name": f"{name}-user", "role": role, "org_id": org["id"]}
        ).json()
        token = self.admin.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]})
        secret = token.json()["secret"]
        http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        )
        return Who(Client(self.url, secret), http)

    def pinned(self, job_id: str) -> list[dict[str, Any]]:
        with self.state.db.session() as session:
            job = session.get(JobRow, job_id)
            assert job is not None
            return list(job.datasets)


@pytest.fixture
def center(db_url: str | None, tmp_path: Path) -> Iterator[Center]:
    with over_http(tmp_path / "home", db_url, loops=False) as (url, token, state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as admin:
            yield Center(url, admin, state)


def version(root: Path, text: str) -> Path:
    root.mkdir(parents=True)
    (root / "train.txt").write_text(text)
    return root


def test_a_queued_job_keeps_the_version_it_was_submitted_with(
    center: Center, tmp_path: Path
) -> None:
    alice = center.tenant("tenant-a")
    alice.sdk.datasets.push("corpus", version(tmp_path / "v1", "first\n"))
    job = alice.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["corpus"]})
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["datasets"] == ["corpus@1"]

    alice.sdk.datasets.push("corpus", version(tmp_path / "v2", "second, longer\n"))
    again = alice.http.get(f"/api/v1/jobs/{job.json()['id']}").json()
    assert again["spec"]["datasets"] == ["corpus@1"]
    [pin] = center.pinned(job.json()["id"])
    assert pin["name"] == "corpus" and pin["ref"] == "corpus@1" and pin["bytes"] == 6
    # What a node's cache reads for this job is still version 1.
    data = StoredData(center.state.db, center.state.chunks)
    manifest = data.manifest(pin["version_id"])
    [entry] = manifest.files
    assert entry.path == "train.txt" and entry.size == len("first\n")
    chunk = data.chunk(entry.chunks[0].digest)
    assert chunk == b"first\n"

    later = alice.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["corpus"]})
    assert later.json()["spec"]["datasets"] == ["corpus@2"]
    assert center.pinned(later.json()["id"])[0]["version_id"] != pin["version_id"]


# References that are looked up, on both databases; malformed ones are refused by
# core.parse_ref before any query: SQLite alone.
LOOKED_UP = [
    (["corpus@9"], 404, "corpus@9"),
    (["nothing"], 404, "nothing"),
    (["corpus@1", "corpus"], 422, "corpus is named twice"),
]
MALFORMED = [
    (["Bad Name"], 422, "Bad Name"),
    (["corpus@0"], 422, "corpus@0"),
]


@pytest.mark.parametrize(
    ("db_url", "refs", "status", "named"),
    [
        pytest.param(db, *case, id=f"{db}-{case[2]}")
        for cases, dbs in ((LOOKED_UP, ("sqlite", "postgresql")), (MALFORMED, ("sqlite",)))
        for case in cases
        for db in dbs
    ],
    indirect=["db_url"],
)
def test_a_reference_that_does_not_resolve_is_refused_naming_it(
    center: Center, tmp_path: Path, refs: list[str], status: int, named: str
) -> None:
    alice = center.tenant("tenant-a")
    alice.sdk.datasets.push("corpus", version(tmp_path / "v1", "first\n"))
    answer = alice.http.post("/api/v1/jobs", json={"command": "true", "datasets": refs})
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"], answer.text
    assert alice.http.get("/api/v1/jobs").json()["items"] == []


def test_another_tenants_set_is_a_404_until_it_is_shared_then_pinned_by_its_full_name(
    center: Center, tmp_path: Path
) -> None:
    alice, bob = center.tenant("tenant-a", role="org_admin"), center.tenant("tenant-b")
    alice.sdk.datasets.push("corpus", version(tmp_path / "v1", "first\n"))
    for ref in ("corpus", "tenant-a/default/corpus@1"):
        answer = bob.http.post("/api/v1/jobs", json={"command": "true", "datasets": [ref]})
        assert answer.status_code == 404 and ref in answer.json()["detail"], answer.text

    public = alice.http.patch("/api/v1/datasets/corpus", json={"visibility": "public"})
    assert public.status_code == 200, public.text
    job = bob.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["corpus"]})
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["datasets"] == ["tenant-a/default/corpus@1"]
    # Bob's own set of the same name comes first in his project.
    assert bob.http.post("/api/v1/datasets", json={"name": "corpus"}).status_code == 201
    bob.sdk.datasets.push("corpus", version(tmp_path / "b", "bob's\n"))
    own = bob.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["corpus"]})
    assert own.json()["spec"]["datasets"] == ["corpus@1"]
    assert center.pinned(own.json()["id"])[0]["bytes"] == len("bob's\n")


def test_the_snapshot_carries_the_share_of_a_jobs_data_each_node_holds(
    center: Center, tmp_path: Path
) -> None:
    alice = center.tenant("tenant-a")
    alice.sdk.datasets.push("corpus", version(tmp_path / "c", "0123456789"))
    alice.sdk.datasets.push("extra", version(tmp_path / "e", "0123456789" * 3))
    data_job = alice.http.post(
        "/api/v1/jobs", json={"command": "true", "datasets": ["corpus", "extra"]}
    ).json()
    plain = alice.http.post("/api/v1/jobs", json={"command": "true"}).json()
    with center.state.db.session() as session:
        [node] = session.scalars(select(NodeRow)).all()
        job = session.get(JobRow, data_job["id"])
        assert job is not None
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
        assert views[data_job["id"]].request.data == ()  # no node holds it yet
        # A node's cache was filled with corpus alone (10 of the job's 40 bytes) ...
        mounts.held(session, node.id, job.datasets[:1], utcnow())
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
        assert views[data_job["id"]].request.data == ((node.name, 0.25),)
        # ... then with both.
        mounts.held(session, node.id, job.datasets, utcnow())
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
        assert views[data_job["id"]].request.data == ((node.name, 1.0),)
        assert views[plain["id"]].request.data == ()
        session.rollback()


def test_a_model_version_is_mounted_as_a_data_set_version_is(center: Center) -> None:
    """A deployment's replica mounts its model version: `datasets` pins a model's version the
    same way (read by the submitter; another tenant's private model is a 404)."""
    alice, bob = center.tenant("tenant-a"), center.tenant("tenant-b")
    with center.state.db.session() as session:
        user = session.get(UserRow, alice.sdk.me().user.id)
        assert user is not None
        who = principal_of(session, user)
        models.register(session, who, center.state.chunks, "weights", [("w.bin", b"v1")])
    job = alice.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["weights"]})
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["datasets"] == ["weights@1"]
    [pin] = center.pinned(job.json()["id"])
    assert pin["name"] == "weights" and pin["bytes"] == 2
    [entry] = StoredData(center.state.db, center.state.chunks).manifest(pin["version_id"]).files
    assert entry.path == "w.bin"
    theirs = bob.http.post("/api/v1/jobs", json={"command": "true", "datasets": ["weights"]})
    assert theirs.status_code == 404 and "data set weights not found" in theirs.text
