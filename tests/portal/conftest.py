"""The portal modules' server and people: one server per module, new people per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, make_person, unique

from aicc.api.state import AppState
from aicc.testing.servers import in_process


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState]]:
    """A whole server on SQLite, with two simulated A100s on this machine's node, shared by the
    tests of a module; each test makes its own people."""
    with in_process(
        tmp_path_factory.mktemp("portal") / "home",
        None,
        limits={"grace_s": 1.0},
        simulated_devices=[{"model": "A100-80GB", "count": 2}],
    ) as pair:
        yield pair


@pytest.fixture
def api(site: tuple[TestClient, AppState]) -> TestClient:
    return site[0]


@pytest.fixture
def alice(api: TestClient) -> Person:
    n = unique()
    return make_person(api, f"acme-{n}", f"alice-{n}")


@pytest.fixture
def bob(api: TestClient) -> Person:
    n = unique()
    return make_person(api, f"globex-{n}", f"bob-{n}")
