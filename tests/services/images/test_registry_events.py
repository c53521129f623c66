"""The registry's notifications are hostile input: only the registry's secret header is
believed, an envelope that is not one (or too large) is a 4xx, a path that names no project is
ignored without asking the registry, and a deletion the registry reports leaves the books."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.server import ServerState
from aicc.services.images import embedded, events, keys
from aicc.services.images.distribution import Blob, Manifest
from aicc.testing.servers import in_process

DIGEST = "sha256:" + "c" * 64
URL = "/api/v1/registry/events"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, ServerState]]:
    with in_process(tmp_path / "home", sandbox="auto") as pair:
        yield pair


def envelope(action: str, repository: str, **target: object) -> bytes:
    event = {
        "id": "e1",
        "action": action,
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": DIGEST,
            "repository": repository,
            **target,
        },
        "actor": {"name": "someone"},
    }
    return json.dumps({"events": [event]}).encode()


def test_only_the_registry_is_believed(served: tuple[TestClient, ServerState]) -> None:
    api, state = served
    secret = keys.notify_secret(keys.registry_folder(state.settings.home))
    header = {embedded.SECRET_HEADER: secret, "Authorization": ""}
    body = envelope("push", "default/default/x", tag="1")
    assert api.post(URL, content=body, headers={"Authorization": ""}).status_code == 401
    wrong = {embedded.SECRET_HEADER: "guess", "Authorization": ""}
    assert api.post(URL, content=body, headers=wrong).status_code == 401
    # an admin token is not the registry either
    assert api.post(URL, content=body).status_code == 401

    assert api.post(URL, content=b"{not json", headers=header).status_code == 422
    many = json.dumps({"events": [{"action": "push"}] * 1001}).encode()
    assert api.post(URL, content=many, headers=header).status_code == 422
    huge = b'{"events": [], "pad": "' + b"x" * (2 << 20) + b'"}'
    assert api.post(URL, content=huge, headers=header).status_code == 413
    # a path of no project, or not a repository name at all: nothing booked (the registry,
    # which is not running here, is never asked)
    for repository in ("nobody/nothing/x", "../../etc", "A/B/C"):
        answer = api.post(URL, content=envelope("push", repository, tag="1"), headers=header)
        assert answer.status_code == 200 and answer.json() == {"booked": 0}


def test_a_reported_deletion_leaves_the_books(served: tuple[TestClient, ServerState]) -> None:
    api, state = served
    manifest = Manifest(DIGEST, (Blob("sha256:" + "d" * 64, 4096),))
    with state.db.session() as session:
        events.record_push(
            session, repository="default/default/x", tag="1", manifest=manifest, actor="a"
        )
    assert api.get("/api/v1/registry/storage").json()["bytes"] == 4096
    secret = keys.notify_secret(keys.registry_folder(state.settings.home))
    header = {embedded.SECRET_HEADER: secret, "Authorization": ""}
    answer = api.post(URL, content=envelope("delete", "default/default/x"), headers=header)
    assert answer.json() == {"booked": 1}
    assert api.get("/api/v1/images/x").json()["tags"] == []
    assert api.get("/api/v1/registry/storage").json()["bytes"] == 0
