"""Services hand out read models, never ORM rows: what a route or a page shows is read once, in
the service, and stays readable (and unchanged) after the session ends (issue 17)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

import aicc.services
from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.jobs import census, jobs
from aicc.services.nodes import nodes
from aicc.services.nodes import views as node_views_module
from aicc.services.tenancy import audit, tenancy, tokens, views
from aicc.store import tables as store_tables
from aicc.testing.jobs import submit, wait_state

ROOT = Principal(user_id="", name="system", org_id="", role=Role.ADMIN)


def _public_functions() -> list[tuple[str, object]]:
    found = []
    for info in pkgutil.walk_packages(aicc.services.__path__, "aicc.services."):
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                found.append((f"{info.name.removeprefix('aicc.services.')}.{name}", fn))
    return found


AICC = Path(aicc.services.__file__).resolve().parents[1]


def _used_outside_its_context(name: str) -> bool:
    """Whether any module of aicc outside the function's own services context names it: a row
    a context's modules pass among themselves (a writer finding what it writes) is its own."""
    context, module, function = name.rsplit(".", 2)
    home = AICC / "services" / context.split(".")[0]
    imported = rf"from aicc\.services\.{context}\.{module} import [^\n]*\b{function}\b"
    called = re.compile(rf"\b{module}\.{function}\b|{imported}")
    return any(
        called.search(path.read_text(encoding="utf-8"))
        for path in AICC.rglob("*.py")
        if home not in path.parents
    )


def test_no_service_returns_a_row() -> None:
    tables = set(store_tables.rows())  # the ORM's classes
    returning_rows = [
        name
        for name, fn in _public_functions()
        if tables & set(re.findall(r"\w+", str(inspect.signature(fn).return_annotation)))
        and _used_outside_its_context(name)
    ]
    # models, templates, needs and serving reach data sets through data's lookups (read models)
    assert sorted(set(returning_rows)) == []


def _context_of(module: str) -> str | None:
    """`needs` for aicc.services.needs.challenges (and its names); None outside the services."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["aicc", "services"] else None


def _private_uses(module: str, source: str) -> list[str]:
    """The underscore names of a services context that `module` (whose source it is) uses
    while outside that context: imported by name, or read off an imported module."""
    inside = _context_of(module)
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # a local name -> the services module or name it stands for
    wrong = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aicc.services"):
            for alias in node.names:
                named = f"{node.module}.{alias.name}"
                if _private(alias.name) and _context_of(named) != inside:
                    wrong.append(f"{module}: {named}")
                aliases[alias.asname or alias.name] = named
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("aicc.services") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and _private(node.attr)
            and (read_off := aliases.get(node.value.id)) is not None
            and _context_of(read_off) != inside
        ):
            wrong.append(f"{module}: {read_off}.{node.attr}")
    return wrong


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_a_contexts_private_lookups_stay_inside_it() -> None:
    """The lookups that return rows are a context's own (underscore names, as
    `needs.challenges._find`): no other context, router, page or loop uses one; they get the
    context's read models."""
    aicc_root = Path(aicc.services.__file__).parents[1]
    wrong = []
    for path in sorted(aicc_root.rglob("*.py")):
        module = ".".join(path.relative_to(aicc_root.parent).with_suffix("").parts)
        wrong += _private_uses(module, path.read_text(encoding="utf-8"))
    assert wrong == []
    # the check bites: a model's module reading the needs' lookup, by name or off the module
    models = "aicc.services.models.reviews"
    assert _private_uses(models, "from aicc.services.needs import needs\nneeds._find(s, w, r)")
    assert _private_uses(models, "from aicc.services.needs.needs import _find as find")
    assert not _private_uses(
        "aicc.services.needs.offers", "from aicc.services.needs import needs\nneeds._find(s, w, r)"
    )


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
        node_views = nodes.infos(session, used=census.allocations(session))
    assert all(isinstance(x, BaseModel) and x.model_config.get("frozen") for x in found), [
        type(x) for x in found
    ]
    assert node_views and all(isinstance(n, node_views_module.Node) for n in node_views)
    assert not hasattr(user, "password_hash") and not hasattr(token, "secret_hash")
    assert {"readers", "default"} <= {o.name for o in found if isinstance(o, views.Org)}
