"""Services hand out read models, never ORM rows: what a route or a page shows is read once, in
the service, and stays readable (and unchanged) after the session ends (issue 17)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

import aicc.services
from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.jobs import jobs
from aicc.services.nodes import nodes
from aicc.services.nodes import views as node_views_module
from aicc.services.tenancy import audit, tenancy, tokens, views
from aicc.store import tables as store_tables
from aicc.testing.jobs import submit, wait_state

# Rows the books settle invoices with (voucher and subsidy balances), read only inside
# services/billing; what leaves the package is `billing.views`. Nothing here may grow.
INSIDE_THE_BOOKS = {"billing.credits.org_vouchers", "billing.credits.org_subsidies"}
# Lookups the data service's modules share (a set and its project, a version) before they make
# read models; the routes and pages get `Dataset` and `DatasetVersion`.
INSIDE_THE_DATA_SERVICE = {
    "data.datasets.find",
    "data.datasets.find_writable",
    "data.datasets.latest_row",
    "data.datasets.numbered_row",
    "data.datasets.version_row",
}
# The lease a caller may see, which the SLA report (leases/sla.py) reads before its read model.
INSIDE_THE_LEASES = {"leases.leases.owned"}
# The needs context's lookups (a need, a challenge with its need, a team, the hidden set) that its
# modules share before they make read models.
INSIDE_THE_NEEDS = {
    "needs.needs.find",
    "needs.needs.locked",
    "needs.challenges.find",
    "needs.challenges.team_of",
    "needs.scoring.hidden_table",
}
# An MLflow run the tracking modules (models/tracking.py, tracking_files.py) both look up, the
# caller's right to it checked, before their read models and files.
INSIDE_THE_TRACKING = {"models.tracking.run_row"}
ROOT = Principal(user_id="", name="system", org_id="", role=Role.ADMIN)


def _public_functions() -> list[tuple[str, object]]:
    found = []
    for info in pkgutil.walk_packages(aicc.services.__path__, "aicc.services."):
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                found.append((f"{info.name.removeprefix('aicc.services.')}.{name}", fn))
    return found


def test_no_service_returns_a_row() -> None:
    tables = {name for name in dir(store_tables) if name.endswith("Row")}  # the ORM's classes
    returning_rows = [
        name
        for name, fn in _public_functions()
        if tables & set(re.findall(r"\w+", str(inspect.signature(fn).return_annotation)))
    ]
    inside = INSIDE_THE_BOOKS | INSIDE_THE_DATA_SERVICE | INSIDE_THE_LEASES | INSIDE_THE_NEEDS
    inside |= INSIDE_THE_TRACKING
    assert sorted(set(returning_rows) - inside) == []
    assert set(returning_rows) == inside  # one converted: take it off the list


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_job_read_after_its_session_names_its_user_project_and_nodes(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    job = submit(api, {"command": ["true"], "name": "read-model"})
    wait_state(api, job["id"], {"succeeded"})
    with state.db.session() as session:
        read = jobs.get(session, ROOT, job["id"])
        events = jobs.events(session, ROOT, job["id"])
    assert (read.user, read.project, read.queue) == ("admin", "default", "default")
    (replica,) = read.replicas
    node_names = {n["name"] for n in api.get("/api/v1/nodes").json()["items"]}
    assert replica.node in node_names and replica.state == "exited"
    assert [e.to_state for e in events][-1] == "succeeded"
    with pytest.raises(ValidationError):  # frozen: a read model is never written back
        read.state = "pending"  # type: ignore[misc]
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "succeeded"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_tenancy_tokens_audit_and_nodes_come_out_as_read_models(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    root = ROOT
    with state.db.session() as session:
        org = tenancy.create_org(session, root, name="readers")
        user = tenancy.create_user(session, root, name="reader", role=Role.MEMBER, org_id=org.id)
        token, _secret = tokens.issue(session, root, user_id=user.id, name="ci")
        found = [
            *tenancy.list_orgs(session, root),
            *tenancy.list_projects(session, root),
            *tenancy.list_queues(session, root, None),
            *tenancy.list_users(session, root),
            token,
            *audit.entries(session, root, limit=5, before_id=None, action=None),
        ]
        node_views = nodes.infos(session)
    assert all(isinstance(x, BaseModel) and x.model_config.get("frozen") for x in found), [
        type(x) for x in found
    ]
    assert node_views and all(isinstance(n, node_views_module.Node) for n in node_views)
    assert not hasattr(user, "password_hash") and not hasattr(token, "secret_hash")
    assert {"readers", "default"} <= {o.name for o in found if isinstance(o, views.Org)}
