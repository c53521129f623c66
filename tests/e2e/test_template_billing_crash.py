"""A run of another organization's paid template is billed exactly once, across a `kill -9` of
the server in the middle of the job: the charge on the runner's invoice and the credit on the
publisher's are written with the submit, and neither the restart nor the job's end (which
registers the model from the template's stored files) adds another."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Servers, wait_for, wait_state

from aicc.testing import templates
from aicc.testing.servers import ServerProcess
from aicc.testing.tenants import make_tenant

pytestmark = pytest.mark.slow


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with Servers(tmp_path) as started:
        yield started


def adjustments(admin: httpx.Client, org_id: str) -> list[Decimal]:
    bill = admin.get("/api/v1/bills", params={"org": org_id})
    assert bill.status_code == 200, bill.text
    return [Decimal(x["net"]) for x in bill.json()["lines"] if x["kind"] == "adjustment"]


def books(server: ServerProcess, buyer_org: str, seller_org: str) -> tuple[Any, Any]:
    with server.client() as admin:
        return adjustments(admin, buyer_org), adjustments(admin, seller_org)


def test_a_paid_run_is_billed_once_across_a_kill_9(servers: Servers, tmp_path: Path) -> None:
    server = servers.start()
    cli = servers.cli(server)
    folder = tmp_path / "mean-gated"
    folder.mkdir()
    for path, text in templates.own("mean-gated").items():
        (folder / path).write_text(text)
    # The center's admin publishes it for everyone, at 8.80 CNY a run, in one command.
    args = ("template", "publish", str(folder), "--visibility", "public", "--price", "8.8")
    published = json.loads(cli(*args, "--json").stdout)
    assert published["price"] == "8.80" and published["visibility"] == "public"
    with server.client() as admin:
        seller = admin.get("/api/v1/me").json()["org"]["id"]
        buyer = make_tenant(admin, "buyer")  # type: ignore[arg-type]
    with httpx.Client(base_url=server.url, headers=buyer.headers, timeout=30) as api:
        run = api.post("/api/v1/templates/mean-gated/runs", json={"params": {"gated": True}})
        assert run.status_code == 201, run.text
        job_id = run.json()["id"]
        wait_state(api, job_id, {"running"}, timeout=120)
    assert books(server, buyer.org_id, seller) == ([Decimal("8.80")], [Decimal("-8.80")])

    server.kill9()  # mid-job: the training waits for its gate
    server.start()
    assert books(server, buyer.org_id, seller) == ([Decimal("8.80")], [Decimal("-8.80")])

    (server.home / "runs" / job_id / "outputs" / "gate").touch()
    with httpx.Client(base_url=server.url, headers=buyer.headers, timeout=30) as api:
        done = wait_state(api, job_id, {"succeeded", "failed"}, timeout=180)
        assert done["state"] == "succeeded", api.get(f"/api/v1/jobs/{job_id}/logs").text

        def registered() -> Any:
            model = api.get("/api/v1/models/mean-gated-model")
            return model.status_code == 200 and model.json()["versions"] and model.json()

        model = wait_for(registered, 60, "the model's registration")
        (version,) = model["versions"]
        # The tenant's stored train.py ran (its report is the card's summary), and the lineage
        # names the published version it came from.
        assert "MARKER: a tenant's own mean model" in version["card"]
        assert version["lineage"]["template"] == published["ref"]
        entry = api.get("/api/v1/templates/mean-gated").json()
        assert entry["uses"] == 1
    assert books(server, buyer.org_id, seller) == ([Decimal("8.80")], [Decimal("-8.80")])
