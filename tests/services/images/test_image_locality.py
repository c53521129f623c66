"""The scheduler prefers nodes that already hold a job's image (issue 39, "nothing pulled at
start that could be cached"), as it prefers those whose cache holds its data sets: through a
real server, real podman and two nodes, a job in an image lands where an earlier job in it ran,
and a job in an image no node holds has no preference. The snapshot's share counts data sets
and image together: what the node holds of all a replica must fetch; an image every node holds
is no preference either."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.server import ServerState
from aicc.services.common import utcnow
from aicc.services.data import mounts
from aicc.services.images import cached, events
from aicc.services.images.distribution import Blob, Manifest
from aicc.services.jobs import snapshots
from aicc.services.serving import lifecycle
from aicc.store.tables.images import NodeImageRow
from aicc.store.tables.jobs import JobRow
from aicc.store.tables.nodes import NodeRow
from aicc.testing.datasets import push
from aicc.testing.images import cleaned, make_image, podman_or_skip
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process, over_http
from aicc.testing.tenants import make_tenant

NODES = ("img-n1", "img-n2")
SMALL = {"cpu": 0.5, "memory": "64MiB"}
ENDED = {"succeeded", "failed", "cancelled"}


@dataclass
class Site:
    api: TestClient
    state: ServerState
    podman: str
    images: dict[str, str]  # "x", "y", "z" -> reference
    jobs: list[str]

    def run(self, image: str) -> dict[str, Any]:
        """A job in the image, to its end; it must succeed."""
        job = submit(self.api, {"command": "cat /etc/which", "image": image, "resources": SMALL})
        self.jobs.append(job["id"])
        done = wait_state(self.api, job["id"], ENDED, timeout=120)
        assert done["state"] == "succeeded", done
        return done

    def only(self, *open_: str) -> None:
        """Every node but these cordoned: the server's own and ours not named."""
        for node in self.api.get("/api/v1/nodes", params={"limit": 100}).json()["items"]:
            verb = "uncordon" if node["name"] in open_ else "cordon"
            answer = self.api.post(f"/api/v1/nodes/{node['name']}/{verb}")
            assert answer.status_code == 200, answer.text


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    box = podman_or_skip()
    made: list[str] = []  # removed by `cleaned` whatever happens, as made
    jobs: list[str] = []
    with cleaned(box.podman, made, jobs):
        for name in ("x", "y", "z"):
            made.append(make_image(box.podman, tmp_path, name, {"etc/which": name.encode()}))
        images = dict(zip(("x", "y", "z"), made, strict=True))
        with in_process(tmp_path / "home", limits={"grace_s": 2}) as (api, state):
            nodes = [{"name": n, "cpu": 4, "memory": "8GiB"} for n in NODES]
            answer = api.post("/api/v1/nodes/import", json={"nodes": nodes})
            assert answer.status_code == 200, answer.text
            yield Site(api, state, box.podman, images, jobs)


def node_of(job: dict[str, Any]) -> str:
    [replica] = job["replicas"]
    return str(replica["node"])


def test_a_job_lands_on_the_node_that_holds_its_image(site: Site) -> None:
    # x is pulled on n2 alone and y on n1 alone ...
    site.only("img-n2")
    assert node_of(site.run(site.images["x"])) == "img-n2"
    site.only("img-n1")
    assert node_of(site.run(site.images["y"])) == "img-n1"
    with site.state.db.reader() as session:
        held = {
            (node, row.reference)
            for row, node in session.execute(
                select(NodeImageRow, NodeRow.name).join(NodeRow, NodeRow.id == NodeImageRow.node_id)
            )
        }
    assert held == {("img-n2", site.images["x"]), ("img-n1", site.images["y"])}
    # ... then, both nodes free, each image's next job goes where it is: whichever node a tie
    # would pick, one of the two is placed against it
    site.only(*NODES)
    assert node_of(site.run(site.images["x"])) == "img-n2"
    assert node_of(site.run(site.images["y"])) == "img-n1"

    site.state.controller.stop()  # what the next pass would see, with these jobs waiting
    again = submit(site.api, {"command": "true", "image": site.images["x"], "resources": SMALL})
    fresh = submit(site.api, {"command": "true", "image": site.images["z"], "resources": SMALL})
    site.jobs += [again["id"], fresh["id"]]
    with site.state.db.reader() as session:
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
    assert views[again["id"]].request.data == (("img-n2", 1.0),)
    assert views[fresh["id"]].request.data == ()  # nobody holds z: no preference


HOST = "127.0.0.1:5000"  # the default embedded registry's


@pytest.fixture
def center(tmp_path: Path) -> Iterator[tuple[httpx.Client, ServerState]]:
    with over_http(tmp_path / "home", loops=False) as (url, token, state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as admin:
            nodes = [{"name": n, "cpu": 4, "memory": "8GiB"} for n in NODES]
            answer = admin.post("/api/v1/nodes/import", json={"nodes": nodes})
            assert answer.status_code == 200, answer.text
            yield admin, state


def test_the_share_counts_the_data_sets_and_the_image_together(
    center: tuple[httpx.Client, ServerState],
) -> None:
    admin, state = center
    alpha = make_tenant(admin, "alpha")  # type: ignore[arg-type]
    push(admin, "corpus", {"a.txt": b"x" * 30}, alpha.headers)
    manifest = Manifest("sha256:" + "e" * 64, (Blob("sha256:" + "f" * 64, 10),))
    with state.db.session() as session:
        events.record_push(
            session, repository="alpha/default/torch", tag="2.5", manifest=manifest, actor="a"
        )
    spec = {"command": "true", "image": "torch:2.5", "datasets": ["corpus"]}
    job_id = submit(admin, spec, **alpha.headers)["id"]
    bare = submit(admin, {"command": "true", "image": "torch:2.5"}, **alpha.headers)["id"]
    with state.db.session() as session:
        job = session.get(JobRow, job_id)
        assert job is not None
        image = job.spec["image"]
        assert image == f"{HOST}/alpha/default/torch:2.5"
        ids = {name: id_ for name, id_ in session.execute(select(NodeRow.name, NodeRow.id))}
        # n1 pulled the image (10 of the 40 bytes a replica needs), n2 has the data (30)
        cached.launched(session, ids["img-n1"], image, utcnow())
        mounts.held(session, ids["img-n2"], job.datasets, utcnow())
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
        assert views[job_id].request.data == (("img-n1", 0.25), ("img-n2", 0.75))
        assert views[bare].request.data == (("img-n1", 1.0),)  # the image is all it fetches
        row = session.get(NodeImageRow, (ids["img-n1"], image))
        assert row is not None and (row.digest, row.bytes) == (manifest.digest, 10)
        cached.launched(session, ids["img-n2"], image, utcnow())  # now n2 holds both
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
        assert views[job_id].request.data == (("img-n1", 0.25), ("img-n2", 1.0))
        assert views[bare].request.data == (("img-n1", 1.0), ("img-n2", 1.0))
        for node_id in ids.values():  # the server's own node too
            cached.launched(session, node_id, image, utcnow())
        views = {
            v.id: v for v in snapshots.build(session, utcnow(), protect=lifecycle.protected).pending
        }
        assert views[bare].request.data == ()  # every node holds it: no preference
        session.rollback()
