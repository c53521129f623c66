"""One read model per resource (issue 36, point 2) for tenancy, billing and the center: what the
services return is the class the routes declare and the class the SDK parses the answer into,
equal field for field; the CLI's `--json` is the REST answer, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.api.state import AppState
from aicc.cli.main import app
from aicc.core.tenancy import Principal, Role
from aicc.sdk.client import Client
from aicc.services.billing import invoices
from aicc.services.billing import views as books
from aicc.services.center import views as center
from aicc.services.common import utcnow
from aicc.services.reports import views as reports
from aicc.services.tenancy import audit, secrets, tenancy, tokens, views
from aicc.testing.servers import over_http

ROOT = Principal(user_id="", name="system", org_id="", role=Role.ADMIN)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, AppState]]:
    home: Path = tmp_path_factory.mktemp("views") / "home"
    with over_http(home, loops=False) as (url, token, state):
        yield url, token, state


def test_the_sdk_returns_the_view_the_service_returns(
    served: tuple[str, str, AppState],
) -> None:
    url, token, state = served
    with Client(url, token) as api:
        org = api.orgs.create("viewers", display_name="Viewers", kind="university")
        project = api.projects.create("optics", org_id=org.id)
        user = api.users.create("ada", role="member", org_id=org.id, projects=[project.id])
        made = api.tokens.create("ci", user_id=user.id)
        queue = api.queues.create("fast", project.id, priority=7)
        secret = api.secrets.set("hf-token", "s3cr3t")
        sdk = {
            "org": api.orgs.get(org.id),
            "orgs": api.orgs.list(),
            "project": api.projects.get(project.id),
            "projects": api.projects.list(),
            "user": api.users.get(user.id),
            "queues": api.queues.list(project=project.id),
            "tokens": api.tokens.list(),
            "secrets": api.secrets.list(),
        }
    admin = _admin(state)
    with state.db.session() as session:
        service = {
            "org": tenancy.get_org(session, admin, org.id),
            "orgs": tenancy.list_orgs(session, admin),
            "project": tenancy.visible_project(session, admin, project.id),
            "projects": tenancy.list_projects(session, admin),
            "user": tenancy.get_user(session, admin, user.id),
            "queues": tenancy.list_queues(session, admin, project.id),
            "tokens": tokens.list_tokens(session, admin),
            "secrets": secrets.names(session, admin, project=None),
        }
        entries = audit.entries(session, ROOT, limit=5, before_id=None, action=None)
    assert type(sdk["org"]) is type(service["org"]) is views.Org
    assert type(sdk["project"]) is views.Project and type(sdk["user"]) is views.User
    assert {type(t) for t in sdk["tokens"]} == {views.Token}
    assert {type(q) for q in sdk["queues"]} == {views.Queue} and queue in sdk["queues"]
    assert isinstance(made, views.Token) and made.secret and made.id not in {"", None}
    assert isinstance(secret, views.Secret) and entries and isinstance(entries[0], views.AuditEntry)
    for key, ours in sdk.items():  # a queue's created_at stays in the service, not the answer
        assert _same(ours, service[key]), key
    assert sdk["org"].kind == "university" and org in sdk["orgs"]


def test_the_books_and_the_center_answer_their_views(served: tuple[str, str, AppState]) -> None:
    url, token, state = served
    settings = state.settings
    month = "2026-10"
    with Client(url, token) as api:
        bill = api.bills.get(month)
        power = api.power_cap.show()
        report = api.reports.monthly(month)
        verified = api.audit.verify()
    with state.db.session() as session:
        admin = _admin(state)
        theirs = invoices.read(
            session,
            admin,
            month=month,
            org_id=None,
            project=None,
            zone=settings.site.timezone,
            default=settings.pricing,
        ).bill()
    assert type(bill) is type(theirs) is books.Bill and _same(bill, theirs)
    assert isinstance(power, center.PowerStatus) and power.at <= utcnow()
    assert isinstance(report, reports.MonthlyReport) and report.month == month
    assert isinstance(verified, views.AuditVerification) and verified.intact


def test_the_cli_prints_the_rest_answer_as_it_was(served: tuple[str, str, AppState]) -> None:
    url, token, _ = served
    headers = {"Authorization": f"Bearer {token}"}
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    for route, command in [
        ("orgs", ["org", "list"]),
        ("tokens", ["token", "list"]),
        ("bills?month=2026-10", ["bill", "--month", "2026-10"]),
    ]:
        rest = httpx.get(f"{url}/api/v1/{route}", headers=headers).json()
        printed = CliRunner().invoke(app, [*command, "--json"], env=env)
        assert printed.exit_code == 0, printed.output
        assert printed.stdout == json.dumps(rest, indent=2, ensure_ascii=False) + "\n", route


def _same(ours: Any, theirs: Any) -> bool:
    """Equal as the API shows them (a database may hand back a naive datetime)."""
    if isinstance(ours, list):
        return [o.model_dump(mode="json") for o in ours] == [
            t.model_dump(mode="json") for t in theirs
        ]
    return bool(ours.model_dump(mode="json") == theirs.model_dump(mode="json"))


def _admin(state: AppState) -> Principal:
    with state.db.session() as session:
        (found,) = [u for u in tenancy.list_users(session, ROOT) if u.name == "admin"]
        return tenancy.principal_of(session, found)
