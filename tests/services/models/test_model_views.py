"""One read model per resource (issue 36): a model, a template and their reviews are the classes
the routes declare, the SDK parses the REST answers into those same classes, and the CLI's
`--json` of a model listing prints the REST answer's bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from typer.testing import CliRunner

from aicc.api.routers import models as models_routes
from aicc.api.routers import templates as templates_routes
from aicc.api.state import AppState
from aicc.cli.main import app
from aicc.core.tenancy import Principal
from aicc.sdk.client import Client
from aicc.services.models import catalog, models, reviews, views
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import over_http

Served = tuple[str, str, AppState, Client]


def _declared(router: object, path: str, method: str = "GET") -> object:
    (route,) = [
        r
        for r in router.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.path == path and method in r.methods
    ]
    return route.response_model


def test_routes_declare_the_models_read_models() -> None:
    assert _declared(models_routes.router, "/api/v1/models/{name}") is views.Model
    version = _declared(models_routes.router, "/api/v1/models/{name}/versions/{number}")
    assert version is views.ModelVersion
    assert _declared(models_routes.router, "/api/v1/models/{name}/reviews") is views.Reviews
    assert _declared(templates_routes.router, "/api/v1/templates/{name:path}") is views.Template
    published = _declared(templates_routes.router, "/api/v1/templates", "POST")
    assert published is views.Template


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("model-views") / "home"
    with over_http(home, loops=False) as (url, token, state), Client(url, token) as client:
        yield url, token, state, client


def _admin(state: AppState) -> Principal:
    with state.db.session() as session:
        admin = session.scalars(select(UserRow).where(UserRow.role == "admin")).first()
        assert admin is not None
        return principal_of(session, admin)


def test_a_model_is_one_class_from_service_to_sdk_and_cli(served: Served) -> None:
    url, token, state, client = served
    who = _admin(state)
    with state.db.session() as session:
        made = models.register(
            session, who, state.chunks, "scorer", [("model.bin", b"w" * 100)], metrics={"auc": 1}
        )
    assert isinstance(made, views.ModelVersion) and made.metrics == {"auc": 1.0}
    with state.db.session() as session:
        served_view = models.get(session, who, "scorer")
    fetched = client.models.get("scorer")
    assert type(served_view) is type(fetched) is views.Model
    assert fetched == served_view and client.models.list() == [served_view]
    assert client.models.version("scorer@1") == made

    review = client.models.review("scorer", 4, "fine")
    assert isinstance(review, views.Review)
    with state.db.session() as session:
        about = reviews.target(session, who, "model", "scorer")
        assert client.models.reviews("scorer") == reviews.rated(session, about)
        template = catalog.get(session, who, "credit-risk")
    assert client.templates.get("credit-risk") == template
    assert isinstance(template, views.Template)

    headers = {"Authorization": f"Bearer {token}"}
    page = httpx.get(f"{url}/api/v1/models", headers=headers).json()
    assert list(page["items"][0]) == list(views.Model.model_fields)
    assert page["items"][0] == fetched.model_dump(mode="json")
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    printed = CliRunner().invoke(app, ["model", "list", "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == json.dumps(page, indent=2, ensure_ascii=False) + "\n"
