"""What a job spec's `image:` resolves to: a short `NAME:TAG` is in the caller's project, a
center-registry image the caller may not pull is a 422 that reads the same as one nobody
pushed, and another registry's image is left as it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.core.tenancy import Principal
from aicc.server import ServerState
from aicc.services.common import Invalid
from aicc.services.images import events, images
from aicc.services.images.distribution import Blob, Manifest
from aicc.services.tenancy import tenancy
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import in_process
from aicc.testing.tenants import make_tenant

HOST = "127.0.0.1:5000"  # the default embedded registry's


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, ServerState]]:
    with in_process(tmp_path / "home", sandbox="auto") as pair:
        yield pair


def principal(state: ServerState, user_id: str) -> Principal:
    with state.db.reader() as session:
        user = session.get(UserRow, user_id)
        assert user is not None
        return tenancy.principal_of(session, user)


def test_resolve(served: tuple[TestClient, ServerState]) -> None:
    api, state = served
    a, b = make_tenant(api, "alpha"), make_tenant(api, "beta")
    manifest = Manifest("sha256:" + "e" * 64, (Blob("sha256:" + "f" * 64, 10),))
    with state.db.session() as session:
        events.record_push(
            session, repository="alpha/default/torch", tag="2.5", manifest=manifest, actor="a"
        )
    who_a, who_b = principal(state, a.user_id), principal(state, b.user_id)

    def resolve(who: Principal, image: str) -> str:
        with state.db.reader() as session:
            return images.resolve(session, who, image, host=HOST)

    full = f"{HOST}/alpha/default/torch:2.5"
    assert resolve(who_a, "torch:2.5") == full
    assert resolve(who_a, "alpha/default/torch:2.5") == full
    assert resolve(who_a, full) == full
    digest = "sha256:" + "e" * 64
    assert resolve(who_a, f"torch@{digest}") == f"{HOST}/alpha/default/torch@{digest}"
    assert resolve(who_b, "docker.io/library/python:3.11") == "docker.io/library/python:3.11"

    with pytest.raises(Invalid, match="no tag '9'"):
        resolve(who_a, "torch:9")
    with pytest.raises(Invalid, match=r"not an image reference|lowercase"):
        resolve(who_a, "Torch:1")
    refused, missing = [], []
    for image, into in (("alpha/default/torch:2.5", refused), ("alpha/default/none:1", missing)):
        with pytest.raises(Invalid) as err:
            resolve(who_b, image)
        into.append(str(err.value.detail).replace(image, "IMAGE"))
    assert refused == missing  # another tenant's private image reads as one that is not there

    with state.db.session() as session:
        images.set_visibility(
            session, who_a, project=None, name="torch", visibility="public", host=HOST
        )
    assert resolve(who_b, "alpha/default/torch:2.5") == full
