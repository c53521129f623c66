"""Burn-in before service through the API and the CLI (issue 40, docs/burn-in.md): a server
with `nodes.burn_in.enabled` brings its own node up in `burn_in`, runs the real burn-in program
there as a job, and serves once it passes; a node whose kind's floor no node can reach is
quarantined with its figures shown (`GET /api/v1/nodes/{name}`, `aicc node get --json` and as
text, the portal's node card in English and Chinese), nothing is placed on it, and an operator
releases it. One server behind a real socket for the module, so that the CLI reaches it too (the
burn-ins are short: `duration_s` 0.2, a few MiB of disk and network)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

BURN_IN = {
    "enabled": True,
    # a second burn-in is judged against the first's median: on a shared, loaded test machine
    # figures vary widely from one run to the next (CI, 2026-11-28: a disk write of 1,048 MB/s,
    # then 29 MB/s), so the share asked is tiny; the verdict's arithmetic is tested on its own
    # in tests/services/center/test_burn_in_verdict.py
    "tolerance": 0.001,
    "duration_s": 0.2,
    "disk_mib": 8,
    "network_mib": 8,
    # no machine computes a billion GFLOP/s: a node of this kind always fails
    "floors": [{"kind": "impossible", "cpu_gflops": 1e9}],
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# one A100 an operator declared (not simulated): the burn-in is granted it whole
BAD = {
    "name": "bad-1",
    "cpu": 2,
    "memory": "4GiB",
    "labels": {"kind": "impossible"},
    "devices": [{"model": "A100-80GB", "count": 1}],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("burn-in") / "home"
    settings = {"nodes": {"burn_in": BURN_IN}, "limits": {"grace_s": 2.0}}
    with over_http(home, **settings) as (url, token, _):
        yield url, token


@pytest.fixture(scope="module")
def api(served: tuple[str, str]) -> Iterator[httpx.Client]:
    url, token = served
    with httpx.Client(
        timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def cli(served: tuple[str, str], *args: str) -> Any:
    url, token = served
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), env=env)


def _node(api: httpx.Client, name: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/nodes/{name}")
    assert answer.status_code == 200, answer.text
    node: dict[str, Any] = answer.json()
    return node


def _local(api: httpx.Client) -> str:
    names = [n["name"] for n in api.get("/api/v1/nodes").json()["items"]]
    return next(n for n in names if n != BAD["name"])


def _judged(api: httpx.Client, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        node = _node(api, name)
        burn = node.get("burn_in") or {}
        return node if burn.get("state") in ("passed", "failed") else None

    return wait(f"node {name}'s burn-in judged", probe, timeout=60)


def test_the_node_joins_in_burn_in_and_serves_once_it_passes(api: httpx.Client) -> None:
    name = _local(api)
    early = submit(api, {"command": "true"})  # submitted while the node burns in
    node = _judged(api, name)
    burn = node["burn_in"]
    assert burn["state"] == "passed", burn
    assert node["state"] == "ready"
    assert burn["kind"] == "cpu"  # no `kind` label, no accelerator
    figures = burn["figures"]
    assert figures["cpu_gflops"]["unit"] == "GFLOP/s" and figures["cpu_gflops"]["value"] > 0
    assert figures["memory_gbs"]["unit"] == "GB/s" and figures["memory_gbs"]["value"] > 0
    assert figures["disk_write_mbs"]["unit"] == "MB/s"
    # the server's sink on 127.0.0.1 is out of a sandboxed job's reach: skipped, saying why
    # (tests/burnin/test_program.py measures it against the sink from outside a sandbox)
    assert "out of reach" in burn["skipped"]["network_mbs"]
    assert burn["gpu"]["state"] == "skipped" and "no accelerator" in burn["gpu"]["detail"]
    job = api.get(f"/api/v1/jobs/{burn['job_id']}").json()
    assert job["state"] == "succeeded" and job["replicas"][0]["node"] == name
    # the job submitted meanwhile was placed only once the burn-in had ended
    done = wait_state(api, early["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    bound = datetime.fromisoformat(done["started_at"])
    assert bound >= datetime.fromisoformat(burn["ended_at"])


def test_a_node_below_its_kinds_floor_is_quarantined_with_its_figures(
    api: httpx.Client, served: tuple[str, str]
) -> None:
    _judged(api, _local(api))  # the first burn-in is over: the local node serves
    assert api.post("/api/v1/nodes/import", json={"nodes": [BAD]}).status_code == 200
    started = api.post(f"/api/v1/nodes/{BAD['name']}/burn-in")
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "burn_in"
    node = _judged(api, BAD["name"])
    assert node["state"] == "quarantined"
    burn = node["burn_in"]
    assert burn["state"] == "failed" and burn["kind"] == "impossible"
    cpu = burn["figures"]["cpu_gflops"]
    assert cpu["passed"] is False and cpu["reference"] == 1e9 and cpu["value"] > 0
    assert "cpu_gflops" in burn["reason"] and "cpu_gflops" in node["state_reason"]
    # its accelerator was the burn-in's, whole; no DCGM (nor nvidia-smi) here: skipped, saying so
    job = api.get(f"/api/v1/jobs/{burn['job_id']}").json()
    assert [d["index"] for d in job["replicas"][0]["devices"]] == [0]
    assert burn["gpu"] == {
        "state": "skipped",
        "tool": "",
        "detail": "skipped: no DCGM on this node",
    }
    _the_portal_shows_the_figures(api)
    _the_cli_shows_the_figures(served)
    # nothing is placed on it while it is quarantined: a job that fits only there waits
    spec = {"command": "true", "resources": {"cpu": "1"}}
    api.post(f"/api/v1/nodes/{_local(api)}/cordon")
    try:
        waiting = submit(api, spec)
        shown = wait(
            "the job's wait explained",
            lambda: (
                (j := api.get(f"/api/v1/jobs/{waiting['id']}").json())["message"]
                and j["state"] in ("pending", "admitted")
                and j
            ),
            timeout=15,
        )
        assert shown["replicas"] == []
        # an operator releases it: it serves at once, and the waiting job runs there
        released = cli(served, "node", "uncordon", BAD["name"])
        assert released.exit_code == 0 and "ready" in released.stderr
        done = wait_state(api, waiting["id"], {"succeeded", "failed"})
        assert done["replicas"][0]["node"] == BAD["name"]
    finally:
        api.post(f"/api/v1/nodes/{_local(api)}/uncordon")


def _the_cli_shows_the_figures(served: tuple[str, str]) -> None:
    """`aicc node get --json` answers what the API does; as text the figures, the one below
    its reference marked; `aicc node list` the verdict."""
    shown = json.loads(cli(served, "node", "get", BAD["name"], "--json").stdout)
    assert shown["state"] == "quarantined" and shown["burn_in"]["state"] == "failed"
    assert shown["burn_in"]["figures"]["cpu_gflops"]["passed"] is False
    text = cli(served, "node", "get", BAD["name"])
    assert text.exit_code == 0, text.output
    assert "cpu_gflops" in text.stdout and "GFLOP/s" in text.stdout and "below" in text.stdout
    assert "gpu skipped" in text.stdout and "out of reach" in text.stdout
    listed = cli(served, "node", "list").stdout
    assert "failed" in listed and "quarantined" in listed  # the BURN-IN and STATE columns
    missing = cli(served, "node", "get", "no-such-node")
    assert missing.exit_code == 1 and "aicc node list" in missing.stderr


def _the_portal_shows_the_figures(api: httpx.Client) -> None:
    """The nodes page's card of the quarantined node shows its verdict and the figure that
    fell short, in English and in Chinese (an operator signed in with the admin token)."""
    browser = httpx.Client(timeout=60, base_url=str(api.base_url))
    browser.get("/sign-in")
    token = api.headers["Authorization"].removeprefix("Bearer ")
    form = {"csrf": browser.cookies.get("aicc_csrf") or "", "token": token}
    assert browser.post("/sign-in", data=form, follow_redirects=False).status_code == 303
    page = browser.get("/nodes").text
    card = page[page.index(f">{BAD['name']}<") :]
    assert "Quarantined" in card and "Burn-in failed" in card
    assert "cpu_gflops" in card and "at least 1e+09" in card and "below" in card
    csrf = CSRF.search(page)
    assert csrf is not None
    browser.post("/language", data={"csrf": csrf.group(1), "language": "zh-CN"})
    chinese = browser.get("/nodes").text
    assert "已隔离" in chinese and "上线前检测未通过" in chinese and "低于要求" in chinese


def test_only_center_admins_start_a_burn_in(api: httpx.Client) -> None:
    tenant = make_tenant(api, "burn-b")
    refused = api.post(f"/api/v1/nodes/{_local(api)}/burn-in", headers=tenant.headers)
    assert refused.status_code == 403
    assert "only center admins" in refused.json()["detail"]
    missing = api.post("/api/v1/nodes/no-such-node/burn-in")
    assert missing.status_code == 404 and "aicc node list" in missing.json()["detail"]
    assert api.get("/api/v1/nodes/no-such-node").status_code == 404


def test_a_second_burn_in_while_one_runs_is_a_conflict(
    api: httpx.Client, served: tuple[str, str]
) -> None:
    name = _local(api)
    _judged(api, name)
    started = cli(served, "node", "burn-in", name)  # an operator's, from the CLI
    assert started.exit_code == 0 and "burn_in" in started.stderr, started.output
    wait(
        "the burn-in running",
        lambda: (_node(api, name).get("burn_in") or {}).get("state") == "running",
        timeout=30,
    )
    again = api.post(f"/api/v1/nodes/{name}/burn-in")
    assert again.status_code in (200, 409)  # 200 only when the first ended in between
    if again.status_code == 409:
        assert "running its burn-in already" in again.json()["detail"]
    node = _judged(api, name)
    assert node["state"] in ("ready", "burn_in"), node["burn_in"]["reason"]
    # judged against the first pass of its kind now: tolerance times its median
    first = api.get(f"/api/v1/jobs/{node['burn_in']['job_id']}").json()
    assert first["state"] == "succeeded"
    cpu = node["burn_in"]["figures"]["cpu_gflops"]
    assert cpu["reference"] is not None and cpu["passed"] is True
