"""One read model per resource (issue 36): a data set the service returns is the class the route
declares, the SDK parses the REST answer into that same class, and the CLI's `--json` prints the
REST answer's bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from typer.testing import CliRunner

from aicc.api.routers import datasets as datasets_routes
from aicc.api.state import AppState
from aicc.cli.main import app
from aicc.core.tenancy import Principal
from aicc.sdk.client import Client
from aicc.services.data import datasets, views
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import over_http

Served = tuple[str, str, AppState, Client]


def _declared(path: str, method: str = "GET") -> object:
    (route,) = [
        r
        for r in datasets_routes.router.routes
        if isinstance(r, APIRoute) and r.path == path and method in r.methods
    ]
    return route.response_model


def test_routes_declare_the_data_read_models() -> None:
    assert _declared("/api/v1/datasets/{name}") is views.Dataset
    assert _declared("/api/v1/datasets", "POST") is views.Dataset
    assert _declared("/api/v1/datasets/{name}/versions/{number}") is views.DatasetVersion
    assert _declared("/api/v1/datasets/{name}/versions/{number}/manifest") is views.Manifest
    assert _declared("/api/v1/datasets/{name}/versions/{number}/preview") is views.Preview
    assert _declared("/api/v1/datasets/{name}/diff") is views.Diff
    assert _declared("/api/v1/uploads/{upload_id}/commit", "POST") is views.Committed


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("data-views") / "home"
    with over_http(home, loops=False) as (url, token, state), Client(url, token) as client:
        yield url, token, state, client


def _admin(state: AppState) -> Principal:
    with state.db.session() as session:
        admin = session.scalars(select(UserRow).where(UserRow.role == "admin")).first()
        assert admin is not None
        return principal_of(session, admin)


def test_a_data_set_is_one_class_from_service_to_sdk_and_cli(
    served: Served, tmp_path: Path
) -> None:
    url, token, state, client = served
    (tmp_path / "a.csv").write_text("x,y\n1,a\n2,b\n")
    pushed = client.datasets.push("corpus", tmp_path)
    assert isinstance(pushed, views.Committed) and pushed.version.ref == "corpus@1"
    with state.db.session() as session:
        served_view = datasets.get(session, _admin(state), "corpus")
    fetched = client.datasets.get("corpus")
    assert type(served_view) is type(fetched) is views.Dataset
    assert fetched == served_view
    assert client.datasets.versions("corpus") == served_view.versions
    assert client.datasets.list() == [served_view.model_copy(update={"versions": []})]
    preview = client.datasets.preview("corpus", path="a.csv")
    assert isinstance(preview, views.Preview) and preview.rows == [[1, "a"], [2, "b"]]

    headers = {"Authorization": f"Bearer {token}"}
    rest = httpx.get(f"{url}/api/v1/datasets/corpus", headers=headers).json()
    assert list(rest) == list(views.Dataset.model_fields)
    assert rest == fetched.model_dump(mode="json")
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    printed = CliRunner().invoke(app, ["data", "get", "corpus", "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == json.dumps(rest, indent=2, ensure_ascii=False) + "\n"
    page = httpx.get(f"{url}/api/v1/datasets", headers=headers).json()
    listed = CliRunner().invoke(app, ["data", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.stdout == json.dumps(page, indent=2, ensure_ascii=False) + "\n"
