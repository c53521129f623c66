"""One read model per resource (issue 36): the job the service returns is the class the route
declares, the SDK parses the REST answer into that same class, and the CLI's `--json` prints the
REST answer's bytes. The same for nodes and notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from typer.testing import CliRunner

from aicc.api.routers import jobs as jobs_routes
from aicc.api.routers import nodes as nodes_routes
from aicc.api.routers import notebooks as notebooks_routes
from aicc.cli.main import app
from aicc.core.tenancy import Principal, Role
from aicc.sdk.client import Client
from aicc.services.jobs import census, jobs, notebooks
from aicc.services.jobs import views as job_views
from aicc.services.nodes import nodes
from aicc.services.nodes import views as node_views
from aicc.services.tenancy import tenancy
from aicc.store.tables.tenancy import UserRow
from aicc.testing.servers import over_http

ROOT = Principal(user_id="", name="system", org_id="", role=Role.ADMIN)
INVENTORY = {
    "nodes": [
        {
            "name": "mig-a",
            "cpu": 8,
            "memory": "32GiB",
            "devices": [{"model": "A100-80GB", "simulated": True, "mig": ["1g.10gb", "1g.10gb"]}],
        }
    ]
}


def _declared(router: object, path: str, method: str = "GET") -> object:
    (route,) = [
        r
        for r in router.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and r.path == path and method in r.methods
    ]
    return route.response_model


def test_routes_declare_the_services_read_models() -> None:
    assert _declared(jobs_routes.router, "/api/v1/jobs/{job_id}") is job_views.Job
    assert _declared(jobs_routes.router, "/api/v1/jobs", "POST") is job_views.Job
    assert _declared(jobs_routes.router, "/api/v1/jobs/{job_id}/explain") is job_views.Explain
    assert _declared(jobs_routes.router, "/api/v1/jobs/{job_id}/metrics") is job_views.Metrics
    assert _declared(nodes_routes.router, "/api/v1/nodes/{name}/cordon", "POST") is node_views.Node
    notebook = _declared(notebooks_routes.router, "/api/v1/notebooks/{notebook}")
    assert notebook is job_views.Notebook


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home: Path = tmp_path_factory.mktemp("views") / "home"
    with over_http(home) as (url, token, state), Client(url, token) as client:
        yield url, token, state, client


def test_a_job_is_one_class_from_service_to_sdk(served) -> None:  # type: ignore[no-untyped-def]
    url, token, state, client = served
    submitted = client.jobs.submit({"name": "one-model", "command": "echo hi"})
    assert isinstance(submitted, job_views.Job)
    done = client.jobs.wait(submitted.id, timeout=120, poll=0.2)
    assert done.state == "succeeded"
    with state.db.session() as session:
        served_view = jobs.get(session, ROOT, done.id)
        events = jobs.events(session, ROOT, done.id)
    fetched = client.jobs.get(done.id)
    assert type(served_view) is type(fetched) is job_views.Job
    # the server's own fields (queue and user ids, replica handles) never leave it
    assert served_view.queue_id and served_view.replicas[0].handle
    assert fetched.queue_id is None and fetched.replicas[0].handle is None
    assert fetched == job_views.Job.model_validate(served_view.model_dump())
    assert client.jobs.events(done.id) == [
        job_views.Event.model_validate(e.model_dump()) for e in events
    ]
    assert [j.id for j in client.jobs.list(limit=5)] == [done.id]

    headers = {"Authorization": f"Bearer {token}"}
    rest = httpx.get(f"{url}/api/v1/jobs/{done.id}", headers=headers).json()
    assert list(rest) == [
        name for name, field in job_views.Job.model_fields.items() if not field.exclude
    ]
    assert rest == fetched.model_dump(mode="json")
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    printed = CliRunner().invoke(app, ["job", "get", done.id, "--json"], env=env)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == json.dumps(rest, indent=2, ensure_ascii=False) + "\n"


def test_nodes_and_notebooks_are_one_class_from_service_to_sdk(served) -> None:  # type: ignore[no-untyped-def]
    _url, _token, state, client = served
    imported = client.nodes.import_inventory(INVENTORY)
    assert [n.name for n in imported] == ["mig-a"]
    with state.db.session() as session:
        served_nodes = nodes.infos(session, used=census.allocations(session))
    listed = client.nodes.list()
    assert all(isinstance(n, node_views.Node) for n in listed)
    assert listed == served_nodes
    cordoned = client.nodes.cordon("mig-a")
    assert (cordoned.state, cordoned.devices[0].mig[0].profile) == ("cordoned", "1g.10gb")
    assert client.nodes.uncordon("mig-a").state == "ready"

    made = client.notebooks.create("lab", start=False)
    assert isinstance(made, job_views.Notebook) and made.state == "stopped"
    with state.db.session() as session:
        admin = session.scalar(select(UserRow).where(UserRow.name == "admin"))
        assert admin is not None
        who = tenancy.principal_of(session, admin)
        (served_notebook,) = notebooks.list_notebooks(session, who)
    assert served_notebook.user_id and client.notebooks.get("lab").user_id is None
    assert client.notebooks.list() == [
        job_views.Notebook.model_validate(served_notebook.model_dump())
    ]
