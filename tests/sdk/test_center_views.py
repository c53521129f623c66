"""One read model per answer (issue 36, point 2) for what the SDK still answered as untyped JSON:
the caller (`client.me()`), the audit log's page, the meter's usage, the accelerator catalog and
the two estimates. Each is the class the route declares (a service's view, or the estimator's
own pydantic model), parsed by the SDK equal to the REST answer, and the CLI's `--json` is that
answer byte for byte."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from aicc.api.state import AppState
from aicc.cli.main import app
from aicc.core.tenancy import Principal, Role
from aicc.estimate import Estimate
from aicc.estimate.templates import TemplateEstimate
from aicc.sdk.client import Client
from aicc.services.billing import views as books
from aicc.services.nodes import views as nodes
from aicc.services.tenancy import audit, tenancy, views
from aicc.testing.servers import over_http

ROOT = Principal(user_id="", name="system", org_id="", role=Role.ADMIN)
SCENARIO = {"scenario": "llm-pretrain", "params": "1B", "tokens": "1B"}
TEMPLATE = "product-recommendation"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, AppState]]:
    home: Path = tmp_path_factory.mktemp("center-views") / "home"
    with over_http(home, loops=False) as (url, token, state):
        yield url, token, state


def test_the_sdk_answers_the_views_the_routes_declare(served: tuple[str, str, AppState]) -> None:
    url, token, state = served
    with Client(url, token) as api:
        api.orgs.create("auditors", display_name="Auditors")  # an audit entry or two
        me = api.me()
        page = api.audit.list(limit=1)
        older = api.audit.list(limit=1, cursor=page.next_cursor)
        usage = api.usage.get(month="2026-10")
        catalog = api.accelerators.list()
        priced = api.estimates.create(SCENARIO, accelerators=["A100"])
        fit = api.templates.estimate(TEMPLATE, params={"epochs": 2})
    with state.db.session() as session:
        admin = tenancy.principal_of(
            session, next(u for u in tenancy.list_users(session, ROOT) if u.name == "admin")
        )
        theirs = tenancy.me(session, admin)
        entries = audit.entries(session, admin, limit=2, before_id=None, action=None)
    assert type(me) is type(theirs) is views.Me
    assert me.model_dump(mode="json") == theirs.model_dump(mode="json")
    assert isinstance(page, views.AuditEntries) and page.next_cursor == str(page.items[0].id)
    assert [*page.items, *older.items] == entries and {type(e) for e in entries} == {
        views.AuditEntry
    }
    assert isinstance(usage, books.UsageRecords) and usage.items == []
    assert catalog and {type(model) for model in catalog} == {nodes.Accelerator}
    assert isinstance(priced, Estimate) and priced.options
    assert isinstance(fit, TemplateEstimate) and fit.template == TEMPLATE


def test_the_typed_answer_is_the_rest_answer(served: tuple[str, str, AppState]) -> None:
    url, token, _ = served
    with (
        Client(url, token) as api,
        httpx.Client(timeout=60, base_url=url, headers=_auth(token)) as rest,
    ):
        pairs = [
            (api.me(), rest.get("/api/v1/me")),
            (api.audit.list(limit=3), rest.get("/api/v1/audit", params={"limit": 3})),
            (api.usage.get(), rest.get("/api/v1/usage")),
            (api.estimates.create(SCENARIO), rest.post("/api/v1/estimate", json=_body())),
            (
                api.templates.estimate(TEMPLATE),
                rest.post(f"/api/v1/templates/{TEMPLATE}/estimate", json={}),
            ),
        ]
        catalog = [model.model_dump(mode="json") for model in api.accelerators.list()]
        assert catalog == rest.get("/api/v1/accelerators").json()["items"]
    for ours, answer in pairs:
        assert answer.status_code == 200, answer.text
        assert json.dumps(ours.model_dump(mode="json")) == json.dumps(answer.json()), answer.url


def test_the_cli_prints_the_rest_answer_as_it_was(served: tuple[str, str, AppState]) -> None:
    url, token, _ = served
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    with httpx.Client(timeout=60, base_url=url, headers=_auth(token)) as rest:
        for answer, command in [
            (rest.get("/api/v1/audit", params={"limit": 4}), ["audit", "--limit", "4"]),
            (rest.get("/api/v1/accelerators"), ["accelerator", "list"]),
            (
                rest.post("/api/v1/estimate", json=_body()),
                ["estimate", "--scenario", "llm-pretrain", "--params", "1B", "--tokens", "1B"],
            ),
            (
                rest.post(f"/api/v1/templates/{TEMPLATE}/estimate", json={}),
                ["template", "run", TEMPLATE, "--estimate"],
            ),
        ]:
            printed = CliRunner().invoke(app, [*command, "--json"], env=env)
            assert printed.exit_code == 0, printed.output
            expected = json.dumps(answer.json(), indent=2, ensure_ascii=False) + "\n"
            assert printed.stdout == expected, command


def _body() -> dict[str, object]:
    return {"scenario": SCENARIO, "sort": "time"}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
