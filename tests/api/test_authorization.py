"""Tenant isolation over every route of the OpenAPI document (SQLite and PostgreSQL).

Tenant A owns one object of every kind; tenant B (a member, then an org admin) sends each operation
of the API, addressed to A's objects, and must get a 404 (CONTRACTS.md §4: another tenant's object
is a 404, never a 403), with none of A's data in the answer. The walk reads the routes from
`app.openapi()`, so a new route is covered as soon as it exists: a path parameter, query parameter,
header or body this file does not know how to fill fails the test until the tables below learn it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aicc.api.state import AppState
from aicc.core.datasets import cut, digest, frame
from aicc.sdk.workdir import pack_workdir
from aicc.services import deployments, models, templates
from aicc.services.common import new_id, utcnow
from aicc.services.tenancy import principal_of
from aicc.store.tables import TokenRow, UserRow
from aicc.testing.datasets import OCTETS, begin_and_send, push
from aicc.testing.templates import own as own_template

if TYPE_CHECKING:
    from aicc.testing.tenants import Tenant

OK = frozenset({200, 201, 204})
METHODS = ("get", "head", "post", "put", "patch", "delete")

# Routes that are not about one tenant's object: B gets an answer, and the walk asserts that none
# of A's data is in it.
NOT_PER_TENANT: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness of the server: status, version, database kind, leadership",
    ("GET", "/api/v1/me"): "the caller itself, its organization and its projects",
    ("GET", "/api/v1/accelerators"): "the public accelerator catalog, the same for everyone",
    ("GET", "/api/v1/nodes"): "the center's shared hardware; a node belongs to no tenant",
    ("GET", "/api/v1/orgs"): "list: the caller's own organization only (all for center admins)",
    ("GET", "/api/v1/projects"): "list: the projects the caller may read",
    ("GET", "/api/v1/users"): "list: the caller (member) or the caller's organization (org_admin)",
    ("GET", "/api/v1/tokens"): "list: the caller's own tokens",
    ("POST", "/api/v1/workdirs"): "stores bytes the caller sent, recorded for the caller's org",
    ("GET", "/api/v1/subsidies"): "list: programs for every organization or the caller's own",
    ("GET", "/api/v1/budgets"): "list: the budgets of the caller's organization or projects",
}
# Center-admin work: B's answer is a 403 (its role, in its own tenant), never 2xx.
ADMIN_ONLY: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/orgs"): "only center admins create organizations",
    ("POST", "/api/v1/nodes/import"): "only center admins add nodes",
    ("POST", "/api/v1/nodes/{name}/cordon"): "only center admins cordon nodes",
    ("POST", "/api/v1/nodes/{name}/uncordon"): "only center admins uncordon nodes",
    ("POST", "/api/v1/nodes/{name}/drain"): "only center admins drain nodes",
    ("PUT", "/api/v1/orgs/{org_id}/quota"): "only center admins share out the center",
    ("POST", "/api/v1/price-plans"): "only center admins set prices",
    ("POST", "/api/v1/vouchers"): "only center admins issue vouchers",
    ("POST", "/api/v1/subsidies"): "only center admins create subsidy programs",
    ("POST", "/api/v1/bills/issue"): "only center admins issue invoices",
    ("POST", "/api/v1/bills/adjustments"): "only center admins correct invoices",
    ("GET", "/api/v1/kpis/utilization"): "the center's utilization by pool is for operators",
    ("GET", "/api/v1/audit/verify"): "the whole audit chain is for the center's admins",
}
# Org-admin work on the caller's own organization: a member gets 403, an org admin its own
# organization's data (checked for A's data like the lists above).
OWN_ORG_ADMIN: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/audit"): "org admins read their own organization's log; members may not",
    ("GET", "/api/v1/kpis/idle"): "org admins see their own organization's idle allocations",
}
# Routes that answer without a token.
# Objects that are one person's alone, not their project's (A's org admin owns the one walked):
# anyone else in A, its member included, gets the 404 an outsider gets.
OWNER_ONLY: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/notebooks/{notebook}"): "a notebook is its owner's JupyterLab and home",
}
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe for load balancers and `aicc status`",
}


@dataclass(frozen=True)
class Targets:
    """What a request names: tenant A's objects, or made-up ones that do not exist."""

    org_id: str
    project_id: str
    project_name: str
    user_id: str
    token_id: str
    job_id: str
    queue_name: str
    secret_name: str
    sha256: str
    node: str
    idempotency_key: str
    voucher_id: str
    budget_id: str
    dataset: str
    table: str  # a file of the data set
    chunk: str  # a chunk of it
    upload_id: str  # an upload in progress
    manifest_chunk: str  # "digest:size" of that upload's manifest
    model: str
    template: str  # a private published template
    deployment: str  # stopped, at revision 2
    api_key: str  # a key to the project's deployments, by name
    notebook: str  # A's org admin's notebook (a notebook is its owner's alone)


def made_up(node: str) -> Targets:
    return Targets(
        org_id=new_id("org"),
        project_id=new_id("prj"),
        project_name="no-such-project",
        user_id=new_id("usr"),
        token_id=new_id("tok"),
        job_id=new_id("job"),
        queue_name="no-such-lane",
        secret_name="NO_SUCH_KEY",
        sha256=hashlib.sha256(b"never uploaded").hexdigest(),
        node=node,
        idempotency_key="never-used-key",
        voucher_id=new_id("vch"),
        budget_id=new_id("bud"),
        dataset="no-such-data",
        table="no-such-table.csv",
        chunk=digest(b"never pushed"),
        upload_id=new_id("upl"),
        manifest_chunk=f"{digest(b'never a manifest')}:16",
        model="no-such-model",
        template="no-such-template",
        deployment="no-such-deployment",
        api_key="no-such-api-key",
        notebook="no-such-notebook",
    )


@functools.cache
def upload_bytes() -> bytes:
    """A small workdir of B's own (not A's bytes), packed like `aicc job submit` packs one."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "probe.txt").write_text("a probe of tenant B\n")
        packed = pack_workdir(Path(tmp))
        try:
            return packed.path.read_bytes()
        finally:
            packed.path.unlink()


# A path parameter is filled by (the path segment before it, its name): `name` is a node's name
# under /nodes and a secret's under /secrets.
PATH_FILLS: dict[tuple[str, str], Callable[[Targets], str]] = {
    ("orgs", "org_id"): lambda t: t.org_id,
    ("projects", "project_id"): lambda t: t.project_id,
    ("users", "user_id"): lambda t: t.user_id,
    ("tokens", "token_id"): lambda t: t.token_id,
    ("jobs", "job_id"): lambda t: t.job_id,
    ("secrets", "name"): lambda t: t.secret_name,
    ("workdirs", "sha256"): lambda t: t.sha256,
    ("nodes", "name"): lambda t: t.node,
    ("vouchers", "voucher_id"): lambda t: t.voucher_id,
    ("budgets", "budget_id"): lambda t: t.budget_id,
    ("datasets", "name"): lambda t: t.dataset,
    ("versions", "number"): lambda t: "1",
    ("chunks", "digest"): lambda t: t.chunk,
    ("data", "name"): lambda t: t.dataset,
    ("models", "name"): lambda t: t.model,
    ("templates", "name"): lambda t: t.template,
    ("deployments", "name"): lambda t: t.deployment,
    ("uploads", "upload_id"): lambda t: t.upload_id,
    ("keys", "ref"): lambda t: t.api_key,
    ("notebooks", "notebook"): lambda t: t.notebook,
}
# Query and header parameters that name a tenant's object are filled with A's; the others are
# known filters, paging or presentation and are left out.
QUERY_FILLS: dict[str, Callable[[Targets], str]] = {
    "project": lambda t: t.project_id,
    "org": lambda t: t.org_id,
    "job": lambda t: t.job_id,
    "path": lambda t: t.table,
    "old": lambda t: "1",
    "new": lambda t: "1",
    "data": lambda t: t.dataset,
}
HEADER_FILLS: dict[str, Callable[[Targets], str]] = {
    "idempotency-key": lambda t: t.idempotency_key,
    "x-content-sha256": lambda t: hashlib.sha256(upload_bytes()).hexdigest(),
}
LEFT_OUT = {"state", "limit", "cursor", "action", "replica", "stream", "tail", "follow", "evict"}
LEFT_OUT |= {"at", "month", "by", "day", "days", "scope", "folder", "industry", "task", "q"}
LEFT_OUT |= {"since", "max_points", "revoked", "deployment"}


# Request bodies, per operation: each a list of variants, each naming A's objects a different way.
# Every one is valid for its schema (an invalid body would answer 422, which fails the walk).
BODIES: dict[tuple[str, str], Callable[[Targets], list[dict[str, Any]]]] = {
    ("PATCH", "/api/v1/models/{name}"): lambda t: [{"json": {"description": "b was here"}}],
    ("POST", "/api/v1/models/{name}/versions"): lambda t: [{"json": {"job_id": t.job_id}}],
    ("PUT", "/api/v1/models/{name}/versions/{number}/stage"): lambda t: [
        {"json": {"stage": "staging"}}
    ],
    ("POST", "/api/v1/templates/{name}/runs"): lambda t: [{"json": {"project": t.project_id}}],
    ("POST", "/api/v1/templates/{name}/estimate"): lambda t: [{"json": {"project": t.project_id}}],
    ("POST", "/api/v1/templates"): lambda t: [
        {"json": {"files": own_template("b-probe-template"), "project": t.project_id}}
    ],
    ("PUT", "/api/v1/templates/{name}/reviews"): lambda t: [{"json": {"rating": 3}}],
    ("POST", "/api/v1/deployments"): lambda t: [
        {"json": {"name": "b-probe-deploy", "command": "sleep 60", "project": t.project_id}}
    ],
    ("PATCH", "/api/v1/deployments/{name}"): lambda t: [{"json": {"env": {"PROBE": "b"}}}],
    ("POST", "/api/v1/deployments/{name}/scale"): lambda t: [{"json": {"max_replicas": 2}}],
    ("PUT", "/api/v1/models/{name}/reviews"): lambda t: [{"json": {"rating": 3, "text": "b"}}],
    ("POST", "/api/v1/orgs"): lambda t: [{"json": {"name": "b-probe-org"}}],
    ("POST", "/api/v1/projects"): lambda t: [
        {"json": {"name": "b-probe-project", "org_id": t.org_id}}
    ],
    ("POST", "/api/v1/projects/{project_id}/members"): lambda t: [{"json": {"user_id": t.user_id}}],
    ("PUT", "/api/v1/orgs/{org_id}/quota"): lambda t: [{"json": {"max": {"cpu_milli": 64000}}}],
    ("PUT", "/api/v1/projects/{project_id}/quota"): lambda t: [
        {"json": {"max": {"cpu_milli": 8000}}}
    ],
    ("POST", "/api/v1/users"): lambda t: [
        {
            "json": {
                "name": "b-probe-user",
                "role": "member",
                "org_id": t.org_id,
                "projects": [t.project_id],
            }
        }
    ],
    ("PATCH", "/api/v1/users/{user_id}"): lambda t: [
        {"json": {"disabled": True}},
        {"json": {"disabled": False}},
    ],
    ("POST", "/api/v1/queues"): lambda t: [
        {"json": {"name": "b-probe-lane", "project": t.project_id}},
        {"json": {"name": "b-probe-lane-2", "project": t.project_name, "max_runtime": "1h"}},
    ],
    ("POST", "/api/v1/tokens"): lambda t: [{"json": {"name": "b-probe", "user_id": t.user_id}}],
    ("PUT", "/api/v1/secrets/{name}"): lambda t: [{"json": {"value": "b-probe-value"}}],
    ("POST", "/api/v1/keys"): lambda t: [{"json": {"name": "b-probe-key", "rpm": 5}}],
    ("POST", "/api/v1/nodes/import"): lambda t: [
        {"json": {"nodes": [{"name": "b-probe-node", "cpu": 1, "memory": "1GiB"}]}}
    ],
    ("POST", "/api/v1/workdirs"): lambda t: [
        {"content": upload_bytes(), "headers": {"Content-Type": "application/gzip"}}
    ],
    ("POST", "/api/v1/jobs"): lambda t: [
        {"json": {"command": "true", "project": t.project_id}},
        {
            "json": {
                "command": "cat hello.txt",
                "project": t.project_id,
                "queue": t.queue_name,
                "secrets": [t.secret_name],
                "workdir_sha256": t.sha256,
            }
        },
        {"json": {"command": "true", "project": t.project_name}},
    ],
    ("POST", "/api/v1/estimate"): lambda t: [
        {"json": {"scenario": SCENARIO, "project": t.project_id, "accelerator": ["A100"]}},
        {"json": {"scenario": SCENARIO, "project": t.project_name, "count": 1}},
    ],
    ("POST", "/api/v1/price-plans"): lambda t: [
        {"json": {"org_id": t.org_id, "effective_from": "2026-01-01T00:00:00Z", "discount": "0.1"}}
    ],
    ("POST", "/api/v1/vouchers"): lambda t: [
        {"json": {"org_id": t.org_id, "name": "b-probe", "amount": "1"}}
    ],
    ("POST", "/api/v1/subsidies"): lambda t: [
        {"json": {"name": "b-probe", "org_id": t.org_id, "rate": "0.5"}}
    ],
    ("PUT", "/api/v1/projects/{project_id}/budget"): lambda t: [{"json": {"limit": "100"}}],
    ("PUT", "/api/v1/orgs/{org_id}/budget"): lambda t: [{"json": {"limit": "1000"}}],
    ("POST", "/api/v1/bills/issue"): lambda t: [{"json": {"org_id": t.org_id, "month": "2025-01"}}],
    ("POST", "/api/v1/bills/adjustments"): lambda t: [
        {
            "json": {
                "org_id": t.org_id,
                "month": "2099-12",
                "amount": "-1",
                "description": "b-probe",
                "project_id": t.project_id,
            }
        }
    ],
}
SCENARIO = {"scenario": "llm-pretrain", "params": "1B", "tokens": "1B"}
PROBE = b"a chunk of tenant B's own"


def manifest_chunk(t: Targets) -> list[Any]:
    name, size = t.manifest_chunk.split(":")
    return [name, int(size)]


BODIES |= {
    ("POST", "/api/v1/datasets"): lambda t: [
        {"json": {"name": "b-probe-data", "project": t.project_id}}
    ],
    ("PATCH", "/api/v1/datasets/{name}"): lambda t: [{"json": {"description": "b-probe"}}],
    ("POST", "/api/v1/datasets/{name}/uploads"): lambda t: [
        {"json": {"chunks": [t.chunk], "project": t.project_id}}
    ],
    ("POST", "/api/v1/uploads/{upload_id}/chunks"): lambda t: [
        {"content": b"".join(frame([(digest(PROBE), PROBE)])), "headers": OCTETS}
    ],
    ("POST", "/api/v1/uploads/{upload_id}/commit"): lambda t: [
        {"json": {"manifest_chunks": [manifest_chunk(t)]}}
    ],
    ("POST", "/api/v1/datasets/{name}/versions/{number}/query"): lambda t: [
        {"json": {"sql": "SELECT count(*) FROM alpha"}}
    ],
    ("POST", "/api/v1/datasets/{name}/clean"): lambda t: [
        {"json": {"into": "b-probe-clean", "project": t.project_id, "steps": "pii"}}
    ],
}
BODIES |= {
    ("POST", "/api/v1/notebooks"): lambda t: [
        # not started: A's own control request would run JupyterLab for nothing
        {"json": {"name": "b-probe-notebook", "project": t.project_id, "start": False}}
    ],
}
# Routes that take a body the OpenAPI document does not describe (read from the raw stream).
RAW_BODY = {("POST", "/api/v1/workdirs"), ("POST", "/api/v1/uploads/{upload_id}/chunks")}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def sent(self) -> str:
        """Everything the caller put in the request, as text (an answer may echo it)."""
        parts = (self.url, self.params, self.headers, self.body.get("json"))
        return " ".join(json.dumps(part) for part in parts)


def operations(app: Any) -> list[Op]:
    return [
        Op(method.upper(), path, spec)
        for path, item in app.openapi()["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    ]


def calls(op: Op, t: Targets) -> list[Call]:
    """The requests for `op` that name the objects of `t`; fails on anything it cannot fill."""

    def fill(match: re.Match[str]) -> str:
        before = op.path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        key = (before, match.group(1))
        assert key in PATH_FILLS, f"{op}: add path parameter {key} to PATH_FILLS"
        return PATH_FILLS[key](t)

    url = re.sub(r"\{(\w+)\}", fill, op.path)
    params: dict[str, str] = {}
    headers: dict[str, str] = {}
    for param in op.spec.get("parameters", []):
        name, where = param["name"], param["in"]
        if where == "query" and name in QUERY_FILLS:
            params[name] = QUERY_FILLS[name](t)
        elif where == "header" and name in HEADER_FILLS:
            headers[name] = HEADER_FILLS[name](t)
        elif where != "path":
            assert name in LEFT_OUT and not param.get("required"), (
                f"{op}: {where} parameter {name!r} is new; fill it (QUERY_FILLS, HEADER_FILLS) "
                "if it names a tenant's object, else add it to LEFT_OUT"
            )
    has_body = "requestBody" in op.spec or op.key in RAW_BODY
    assert has_body == (op.key in BODIES), f"{op}: BODIES and the route's request body disagree"
    bodies = BODIES[op.key](t) if has_body else [{}]
    return [Call(op.method, url, params, headers, body) for body in bodies]


def send(client: TestClient, call: Call, auth: dict[str, str] | None) -> httpx.Response:
    headers = {**call.headers, **call.body.get("headers", {}), **(auth or {})}
    answer: httpx.Response = client.request(
        call.method,
        call.url,
        params=call.params,
        headers=headers,
        json=call.body.get("json"),
        content=call.body.get("content"),
    )
    return answer


def text_of(answer: httpx.Response) -> str:
    raw = answer.content
    if raw[:2] == b"\x1f\x8b":  # the outputs tar.gz, or a workdir: look inside
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail"))
    except ValueError:
        return answer.text


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@dataclass
class World:
    api: TestClient  # the center admin
    state: AppState
    a: Targets
    fake: Targets
    a_admin: dict[str, str]
    a_member: dict[str, str]
    a_victim: dict[str, str]  # a second token of A's member, the one DELETE /tokens/{id} names
    a_research_id: str
    b: Tenant
    b_admin: dict[str, str]
    b_user_ids: set[str]
    markers: frozenset[str]  # strings that only A's data contains
    secrets: set[str]  # secret values no answer may ever carry

    def check_answer(
        self, answer: httpx.Response, call: Call, who: str, *, outsider: bool = True
    ) -> None:
        """No secret value, ever; and for a caller outside A, none of A's data it did not send."""
        body = text_of(answer)
        for value in self.secrets:
            assert value not in body, f"{who}: {call.method} {call.url} returned a secret value"
        if outsider:
            leaked = [m for m in self.markers if m in body and m not in call.sent]
            assert not leaked, f"{who}: {call.method} {call.url} leaked {leaked}: {body[:500]}"


def wait_state(
    api: TestClient, job_id: str, states: set[str], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job stayed {job['state']} ({job['message']})")


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def world(server: tuple[TestClient, AppState], tenant_b: Tenant, tmp_path: Path) -> Iterator[World]:
    api, state = server
    org = created(api.post("/api/v1/orgs", json={"name": "org-alpha"}))
    boss = created(
        api.post(
            "/api/v1/users", json={"name": "alpha-admin", "role": "org_admin", "org_id": org["id"]}
        )
    )
    boss_token = created(api.post("/api/v1/tokens", json={"name": "t", "user_id": boss["id"]}))
    a_admin = bearer(boss_token["secret"])
    # From here on A's org admin builds A, through the API, as a customer would.
    member = created(
        api.post("/api/v1/users", json={"name": "alpha-member", "role": "member"}, headers=a_admin)
    )
    tokens = [
        created(
            api.post("/api/v1/tokens", json={"name": n, "user_id": member["id"]}, headers=a_admin)
        )
        for n in ("main", "victim")
    ]
    a_member = bearer(tokens[0]["secret"])
    project_id = member["default_project_id"]
    research = created(
        api.post("/api/v1/projects", json={"name": "alpha-research"}, headers=a_admin)
    )
    queue = created(
        api.post(
            "/api/v1/queues", json={"name": "alpha-lane", "project": project_id}, headers=a_admin
        )
    )
    value = f"s3cret-{secrets.token_hex(8)}"
    put = api.put("/api/v1/secrets/ALPHA_KEY", json={"value": value}, headers=a_member)
    assert put.status_code == 200 and value not in put.text
    api_key = created(api.post("/api/v1/keys", json={"name": "alpha-api-key"}, headers=a_member))
    (tmp_path / "wd").mkdir()
    (tmp_path / "wd" / "hello.txt").write_text("hello from alpha\n")
    packed = pack_workdir(tmp_path / "wd")
    upload = api.post(
        "/api/v1/workdirs",
        content=packed.path.read_bytes(),
        headers={**a_member, "X-Content-SHA256": packed.sha256},
    )
    packed.path.unlink()
    assert created(upload)["sha256"] == packed.sha256
    table = b"id,marker\n1,alpha-row-marker\n2,alpha-row-marker\n"
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(picture, "PNG")
    files = {"alpha.csv": table, "photos/cat/1.png": picture.getvalue()}
    pushed = push(api, "alpha-data", files, a_member)
    assert pushed["version"]["ref"] == "alpha-data@1"
    spec = {
        "name": "alpha-job",
        "command": "cat hello.txt; echo hi > $AICC_OUTPUT_DIR/x; "
        'echo \'{"step": 1, "alpha_metric_marker": 0.5}\' > $AICC_OUTPUT_DIR/metrics.jsonl',
        "queue": "alpha-lane",
        "workdir_sha256": packed.sha256,
        "secrets": ["ALPHA_KEY"],
        "datasets": ["alpha-data"],
    }
    key = "alpha-submit-1"
    job = created(api.post("/api/v1/jobs", json=spec, headers={**a_member, "Idempotency-Key": key}))
    done = wait_state(api, job["id"], {"succeeded", "failed", "cancelled"})
    assert done["state"] == "succeeded", done
    assert done["replicas"], "a finished job has replicas"
    logs = api.get(f"/api/v1/jobs/{job['id']}/logs", headers=a_member)
    assert logs.text.strip() == "hello from alpha"

    b_admin_user = created(
        api.post(
            "/api/v1/users",
            json={"name": "tenant-b-admin", "role": "org_admin", "org_id": tenant_b.org_id},
        )
    )
    b_token = created(api.post("/api/v1/tokens", json={"name": "t", "user_id": b_admin_user["id"]}))
    b_value = f"b-s3cret-{secrets.token_hex(8)}"
    b_put = api.put("/api/v1/secrets/BETA_KEY", json={"value": b_value}, headers=tenant_b.headers)
    assert b_put.status_code == 200

    node = api.get("/api/v1/nodes").json()["items"][0]["name"]
    voucher = created(
        api.post(
            "/api/v1/vouchers", json={"org_id": org["id"], "name": "alpha-voucher", "amount": "9"}
        )
    )
    budget = created(
        api.put(f"/api/v1/projects/{project_id}/budget", json={"limit": "77"}, headers=a_admin)
    )
    (chunk,) = cut(table)
    # A's org admin has begun a push of the same files to it and sent its manifest: in progress
    upload, (manifest_chunk,) = begin_and_send(
        api, "alpha-data", files, a_admin, project=project_id
    )
    with state.db.session() as session:
        who = principal_of(session, session.get(UserRow, member["id"]))
        models.register(
            session,
            who,
            state.chunks,
            "alpha-model",
            # the table's bytes too: the model then holds A's chunk (`chunk` names both)
            [("model/weights.bin", b"alpha-weights-marker"), ("data/alpha.csv", table)],
            project=project_id,
            format="raw",
            metrics={"accuracy": 0.5},
        )
        files = own_template("alpha-template").items()
        templates.publish(
            session, who, state.chunks, {k: v.encode() for k, v in files}, project=project_id
        )
        # stopped in the transaction that makes it: no replica job ever runs; at revision 2,
        # so A may roll it back
        deployments.create(
            session, who, state.blobs, name="alpha-deploy", command="sleep 60", project=project_id
        )
        deployments.stop(session, who, "alpha-deploy", project=project_id)
        changes = {"env": {"ALPHA": "1"}}
        deployments.update(session, who, state.blobs, "alpha-deploy", changes, project=project_id)
    notebook = api.post(
        "/api/v1/notebooks",
        json={"name": "alpha-notebook", "project": project_id, "start": False},
        headers=a_admin,
    )
    assert created(notebook)["state"] == "stopped"
    a = Targets(
        org_id=org["id"],
        project_id=project_id,
        project_name="alpha-research",
        user_id=member["id"],
        token_id=tokens[1]["id"],
        job_id=job["id"],
        queue_name="alpha-lane",
        secret_name="ALPHA_KEY",
        sha256=packed.sha256,
        node=node,
        idempotency_key=key,
        voucher_id=voucher["id"],
        budget_id=budget["id"],
        dataset="alpha-data",
        table="alpha.csv",
        chunk=chunk.digest,
        upload_id=upload,
        manifest_chunk=f"{manifest_chunk[0]}:{manifest_chunk[1]}",
        model="alpha-model",
        template="alpha-template",
        deployment="alpha-deploy",
        api_key="alpha-api-key",
        notebook="alpha-notebook",
    )
    markers = {getattr(a, f.name) for f in fields(a)} - {node}
    markers |= {
        "org-alpha",
        boss["id"],
        "alpha-admin",
        "alpha-member",
        research["id"],
        queue["id"],
        boss_token["id"],
        tokens[0]["id"],
        api_key["id"],
        api_key["secret"],
        "alpha-job",
        "hello from alpha",
        value,
        "alpha-voucher",
        "alpha-row-marker",
        "alpha-weights-marker",
        "alpha_metric_marker",
    }
    yield World(
        api=api,
        state=state,
        a=a,
        fake=made_up(node),
        a_admin=a_admin,
        a_member=a_member,
        a_victim=bearer(tokens[1]["secret"]),
        a_research_id=research["id"],
        b=tenant_b,
        b_admin=bearer(b_token["secret"]),
        b_user_ids={tenant_b.user_id, b_admin_user["id"]},
        markers=frozenset(markers),
        secrets={value, b_value, "b-probe-value"},
    )


def b_expects(op: Op, role: str) -> frozenset[int]:
    if op.key in NOT_PER_TENANT:
        return OK
    if op.key in ADMIN_ONLY:
        return frozenset({403, 404})
    if op.key in OWN_ORG_ADMIN:
        return OK if role == "org_admin" else frozenset({403})
    return frozenset({404})


def test_the_tables_name_only_routes_that_exist(api: TestClient) -> None:
    keys = {op.key for op in operations(api.app)}
    for table in (NOT_PER_TENANT, ADMIN_ONLY, OWN_ORG_ADMIN, PUBLIC, BODIES, OWNER_ONLY):
        stale = set(table) - keys
        assert not stale, f"routes no longer in the OpenAPI document: {stale}"


def test_another_tenant_gets_404_on_every_route(world: World) -> None:
    api, a, fake = world.api, world.a, world.fake
    ops = operations(api.app)
    assert len(ops) >= 36
    swap = {getattr(fake, f.name): getattr(a, f.name) for f in fields(fake)}
    walked = 0
    for role, auth in (("member", world.b.headers), ("org_admin", world.b_admin)):
        who = f"B's {role}"
        for op in ops:
            want = b_expects(op, role)
            for call, twin in zip(calls(op, a), calls(op, fake), strict=True):
                walked += 1
                got = send(api, call, auth)
                assert got.status_code in want, (
                    f"{who}: {op} on A's objects answered {got.status_code}, "
                    f"expected {sorted(want)}: {got.text[:500]}"
                )
                world.check_answer(got, call, who)
                if got.status_code in OK:
                    continue
                # A's object and one that does not exist must look the same from outside.
                other = send(api, twin, auth)
                seen = detail(other)
                for made, real in swap.items():
                    seen = seen.replace(made, real)
                assert (other.status_code, seen) == (got.status_code, detail(got)), (
                    f"{who}: {op} tells A's objects from missing ones"
                )
        # Lists (every GET without path parameters), unfiltered: B's own things, none of A's.
        for op in ops:
            if op.method == "GET" and "{" not in op.path:
                call = Call("GET", op.path, {}, {}, {})
                got = send(api, call, auth)
                assert got.status_code in OK | {403}, f"{who}: {op} bare: {got.status_code}"
                world.check_answer(got, call, who)
    assert walked >= 2 * len(ops)

    # B's attempts changed nothing of A: its tokens work, its job and secret are as they were.
    assert api.get("/api/v1/me", headers=world.a_victim).status_code == 200
    job = api.get(f"/api/v1/jobs/{a.job_id}", headers=world.a_member).json()
    assert job["state"] == "succeeded"
    names = api.get("/api/v1/secrets", headers=world.a_member).json()["items"]
    assert [s["name"] for s in names] == ["ALPHA_KEY"]
    audit = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    by_b = [e for e in audit if e["user_id"] in world.b_user_ids]
    assert [e["action"] for e in by_b] == ["secret.put"]  # its own, made by the fixture
    assert {e["org_id"] for e in by_b} == {world.b.org_id}
    users = {u["name"] for u in api.get("/api/v1/users").json()["items"]}
    assert not users & {"b-probe-user"}

    # B cannot put a user of its own into A's project (and the refused user is not half-made),
    # add itself to A's project, nor reach A's upload or secret from its own project.
    sneaky = api.post(
        "/api/v1/users",
        json={"name": "b-sneaky", "projects": [a.project_id]},
        headers=world.b_admin,
    )
    assert sneaky.status_code == 404
    assert "b-sneaky" not in api.get("/api/v1/users").text
    add = api.post(
        f"/api/v1/projects/{a.project_id}/members",
        json={"user_id": world.b.user_id},
        headers=world.b_admin,
    )
    assert add.status_code == 404
    for field, value in (("workdir_sha256", a.sha256), ("secrets", [a.secret_name])):
        answer = api.post(
            "/api/v1/jobs", json={"command": "true", field: value}, headers=world.b.headers
        )
        assert answer.status_code == 422 and field in answer.text
    assert api.get("/api/v1/jobs", headers=world.b.headers).json()["items"] == []

    # The same requests from A's own org admin (a center admin for admin-only routes) succeed,
    # so B's 404s are about who asks, not about a wrong id. Deletions last.
    for op in sorted(ops, key=lambda o: (o.method == "DELETE", o.key in ADMIN_ONLY)):
        owner = None if op.key in ADMIN_ONLY else world.a_admin
        for number, call in enumerate(calls(op, a)):
            if "idempotency-key" in call.headers:  # each of A's own submits is a new job
                call.headers["idempotency-key"] = f"a-control-{op.path}-{number}"
            got = send(api, call, owner)
            assert got.status_code in OK, f"A: {op} answered {got.status_code}: {got.text[:500]}"
            world.check_answer(got, call, "A", outsider=False)
    assert api.get("/api/v1/me", headers=world.a_victim).status_code == 401


def test_every_api_route_needs_a_valid_token(world: World) -> None:
    api, state = world.api, world.state
    anonymous = TestClient(api.app)
    ops = operations(api.app)
    for op in ops:
        if op.key in PUBLIC:
            call = calls(op, world.a)[0]
            got = send(anonymous, call, None)
            assert got.status_code == 200
            world.check_answer(got, call, "B (anonymous)")
        else:
            assert op.path.startswith("/api/v1/"), f"{op} is outside /api/v1 and not PUBLIC"

    # A revoked token and an expired one: each worked before, and neither works after.
    revoked = created(api.post("/api/v1/tokens", json={"name": "r"}, headers=world.a_member))
    expired = created(
        api.post(
            "/api/v1/tokens",
            json={"name": "e", "user_id": world.a.user_id, "expires_in_days": 1},
            headers=world.a_admin,
        )
    )
    for token in (revoked, expired):
        assert api.get("/api/v1/me", headers=bearer(token["secret"])).status_code == 200
    gone = api.delete(f"/api/v1/tokens/{revoked['id']}", headers=world.a_member)
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    with state.db.session() as session:
        row = session.get(TokenRow, expired["id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(minutes=1)

    auths: dict[str, dict[str, str] | None] = {
        "no token": None,
        "a revoked token": bearer(revoked["secret"]),
        "an expired token": bearer(expired["secret"]),
        "an unknown token": bearer("aicc_" + "x" * 43),
        "another scheme": {"Authorization": f"Basic {revoked['secret']}"},
    }
    for what, auth in auths.items():
        for op in ops:
            if op.key in PUBLIC:
                continue
            for call in calls(op, world.a):
                got = send(anonymous, call, auth)
                assert got.status_code == 401, f"{op} with {what}: {got.status_code} {got.text}"
                assert got.headers.get("www-authenticate") == "Bearer"
                world.check_answer(got, call, f"B ({what})")


def test_roles_inside_one_tenant(world: World) -> None:
    api, a = world.api, world.a
    viewer = created(
        api.post(
            "/api/v1/users", json={"name": "alpha-viewer", "role": "viewer"}, headers=world.a_admin
        )
    )
    token = created(
        api.post(
            "/api/v1/tokens", json={"name": "v", "user_id": viewer["id"]}, headers=world.a_admin
        )
    )
    look = bearer(token["secret"])
    # A viewer reads A's job, its events, logs and outputs; it may not change anything.
    for suffix in ("", "/events", "/logs", "/outputs", "/metrics", "/explain"):
        assert api.get(f"/api/v1/jobs/{a.job_id}{suffix}", headers=look).status_code == 200
    assert api.post(f"/api/v1/jobs/{a.job_id}/cancel", headers=look).status_code == 403
    assert api.post("/api/v1/jobs", json={"command": "true"}, headers=look).status_code == 403
    put = api.put(f"/api/v1/secrets/{a.secret_name}", json={"value": "v"}, headers=look)
    assert put.status_code == 403
    assert api.delete(f"/api/v1/secrets/{a.secret_name}", headers=look).status_code == 403
    # A notebook is its owner's alone: a viewer may not make one, nor see the org admin's.
    notebook = {"name": "viewer-notebook", "start": False}
    assert api.post("/api/v1/notebooks", json=notebook, headers=look).status_code == 403
    assert api.get(f"/api/v1/notebooks/{a.notebook}", headers=look).status_code == 404
    assert api.get(f"/api/v1/notebooks/{a.notebook}", headers=world.a_member).status_code == 404
    assert api.get("/api/v1/notebooks", headers=world.a_member).json()["items"] == []

    # A project of A that A's member does not belong to: its jobs are invisible to the member.
    research = world.a_research_id
    job = created(
        api.post(
            "/api/v1/jobs", json={"command": "true", "project": research}, headers=world.a_admin
        )
    )
    # (a fresh Idempotency-Key: the member's own key would replay the member's own job)
    inside = replace(a, job_id=job["id"], project_id=research, idempotency_key="k-research")
    for op in operations(api.app):
        for call, there in zip(calls(op, a), calls(op, inside), strict=True):
            if call == there:
                continue  # the operation names neither the job nor the project
            got = send(api, there, world.a_member)
            # A job or project named in the URL is a 404; one named in a body may meet a role
            # check first (a member creating users), but never succeeds.
            named_in_url = (call.url, call.params) != (there.url, there.params)
            want = {404} if named_in_url else {403, 404}
            assert got.status_code in want, f"A's member: {op} answered {got.status_code}"
    assert api.get(f"/api/v1/projects/{research}", headers=world.a_member).status_code == 404
    listed = api.get("/api/v1/jobs", headers=world.a_member).json()["items"]
    assert [j["id"] for j in listed] == [a.job_id]
    # A's org admin sees it; once a member of the project, so does the member.
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=world.a_admin).status_code == 200
    mine = api.get("/api/v1/jobs", headers=world.a_admin).json()["items"]
    assert {j["id"] for j in mine} == {a.job_id, job["id"]}
    joined = api.post(
        f"/api/v1/projects/{research}/members",
        json={"user_id": a.user_id},
        headers=world.a_admin,
    )
    assert joined.status_code == 200
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=world.a_member).status_code == 200


def test_no_answer_carries_a_secret_value(world: World) -> None:
    """Secrets are write-only: no read route, for any reader of A, answers with the value."""
    api = world.api
    readers = {
        "the center admin": None,
        "A's org admin": world.a_admin,
        "A's member": world.a_member,
    }
    for who, auth in readers.items():
        for op in operations(api.app):
            if op.method not in ("GET", "HEAD"):
                continue
            for call in calls(op, world.a):
                got = send(api, call, auth)
                if auth is None:  # uploads are per organization: not the admin's (docs/api.md)
                    assert got.status_code < 500, f"{who}: {op} answered {got.status_code}"
                else:
                    member_403 = op.key in OWN_ORG_ADMIN and who == "A's member"
                    allowed = OK | ({403} if member_403 or op.key in ADMIN_ONLY else set())
                    if op.key in OWNER_ONLY and who != "A's org admin":
                        allowed = frozenset({404})
                    assert got.status_code in allowed, f"{who}: {op} answered {got.status_code}"
                world.check_answer(got, call, who, outsider=False)
    # The job that used the secret shows its name only.
    job = api.get(f"/api/v1/jobs/{world.a.job_id}").json()
    assert job["spec"]["secrets"] == ["ALPHA_KEY"]
