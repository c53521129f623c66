"""The serving context has one read model per resource (services/serving/views.py): the class a
service returns is the one its route declares and the SDK hands back, and what the route
answers and `aicc deploy list --json` prints are that model's JSON, key for key."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from aicc.api.routers import deployments as deployment_routes
from aicc.api.routers import keys as key_routes
from aicc.cli.main import app
from aicc.core.tenancy import Principal
from aicc.sdk.client import Client
from aicc.sdk.deployments import Deployments
from aicc.sdk.keys import Keys, Requests
from aicc.services.serving import api_keys, deployments, gateway, views
from aicc.services.tenancy import tenancy
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import over_http

# route -> (the service function it calls, the SDK method that calls it)
ONE_MODEL: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "deployments_list": (deployments.list_deployments, Deployments.list),
    "deployments_create": (deployments.create, Deployments.create),
    "deployments_get": (deployments.get, Deployments.get),
    "deployments_update": (deployments.update, Deployments.update),
    "deployments_revisions": (deployments.revisions, Deployments.revisions),
    "deployments_rollback": (deployments.rollback, Deployments.rollback),
    "deployments_scale": (deployments.scale, Deployments.scale),
    "deployments_stop": (deployments.stop, Deployments.stop),
    "deployments_start": (deployments.start, Deployments.start),
    "keys_list": (api_keys.list_keys, Keys.list),
    "keys_create": (api_keys.create, Keys.create),
    "keys_revoke": (api_keys.revoke, Keys.revoke),
    "requests_list": (gateway.recent, Requests.list),
}
# the SDK, the server's state (its database), the CLI's environment
Served = tuple[Client, Any, dict[str, str]]


def _model(annotation: Any) -> Any:
    """The read model inside `Page[X]`, `list[X]` or `X`."""
    generic = getattr(annotation, "__pydantic_generic_metadata__", None)
    if generic and generic["args"]:
        (item,) = generic["args"]
        return item
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return item
    return annotation


def test_the_service_the_route_and_the_sdk_share_one_class() -> None:
    routes = {
        r.name: r
        for r in [*deployment_routes.router.routes, *key_routes.router.routes]
        if isinstance(r, APIRoute)
    }
    for name, (service, sdk) in ONE_MODEL.items():
        declared = _model(routes[name].response_model)
        returned = _model(typing.get_type_hints(service)["return"])
        parsed = _model(typing.get_type_hints(sdk)["return"])
        assert declared is returned is parsed, name
        assert declared.__module__ == views.__name__, name


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Client, Any, dict[str, str]]]:
    home: Path = tmp_path_factory.mktemp("views") / "home"
    with over_http(home, loops=False) as (url, token, state), Client(url, token) as client:
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "AICC_HOME": str(home / "client")}
        yield client, state, env


def _admin(session: Any) -> Principal:
    user = session.query(UserRow).filter_by(name="admin").one()
    return tenancy.principal_of(session, user)


def test_the_sdk_returns_the_services_view_and_the_json_is_the_views(
    served: Served,
) -> None:
    client, state, env = served
    made = client.deployments.create("web", command="sleep 600", env={"V": "1"}, max_replicas=2)
    client.deployments.update("web", env={"V": "2"})
    key = client.keys.create("k1", deployments=["web"], rpm=5)
    assert isinstance(made, views.Deployment) and isinstance(key, views.ApiKey)
    assert key.secret is not None and key.secret.startswith(api_keys.PREFIX)
    with state.db.session() as session:
        who = _admin(session)
        seen = deployments.get(session, who, "web")
        history = deployments.revisions(session, who, "web")
        keys = api_keys.list_keys(session, who, project=None)
    assert client.deployments.get("web") == seen and client.deployments.list() == [seen]
    assert client.deployments.revisions("web") == history
    assert client.keys.list() == keys and keys[0].secret is None

    rest = client.request("GET", "/api/v1/deployments").json()
    assert rest == {"items": [seen.model_dump(mode="json")], "next_cursor": None}
    assert list(rest["items"][0]) == list(views.Deployment.model_fields)  # the order too
    printed = CliRunner().invoke(app, ["deploy", "list", "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == json.dumps(rest, indent=2, ensure_ascii=False) + "\n"
    shown = CliRunner().invoke(app, ["key", "list", "--json"], env=env)
    assert json.loads(shown.stdout) == client.request("GET", "/api/v1/keys").json()
