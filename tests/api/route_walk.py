"""The route walk shared by tests that call every operation of the API (tests/api).

Tenant A owns one object of every kind (`world`), and `calls(op, targets)` builds the requests of
an operation that name A's objects (or made-up ones). The walk reads the routes from
`app.openapi()`, so a new route is covered as soon as it exists: a path parameter, query parameter,
header or body these tables do not know how to fill fails the walk until they learn it.
test_authorization.py walks them as another tenant, test_audit_walk.py as their owner.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
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
from sqlalchemy import update
from sqlalchemy.engine import make_url

from aicc.api.state import AppState
from aicc.core import openadr
from aicc.core.datasets import cut, digest, frame
from aicc.sdk.workdir import pack_workdir
from aicc.services.center import demand
from aicc.services.common import new_id, utcnow
from aicc.services.images import events as images_events
from aicc.services.images.distribution import Blob, Manifest
from aicc.services.models import models, templates
from aicc.services.serving import adapters, deployments
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.db import database_url, make_engine
from aicc.store.tables.federation import SettlementRow
from aicc.store.tables.jobs import LeaseRow
from aicc.store.tables.tenancy import ProjectRow, TokenRow, UserRow
from aicc.testing.datasets import OCTETS, begin_and_send, push
from aicc.testing.postgres import PostgresServer
from aicc.testing.servers import in_process
from aicc.testing.templates import own as own_template
from aicc.testing.tenants import make_tenant

if TYPE_CHECKING:
    from aicc.testing.tenants import Tenant

OK = frozenset({200, 201, 202, 204})  # 202: a test message queued
METHODS = ("get", "head", "post", "put", "patch", "delete")


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
    lm_deployment: str  # of a model, stopped, serving a LoRA adapter (ADAPTER)
    api_key: str  # a key to the project's deployments, by name
    notebook: str  # A's org admin's notebook (a notebook is its owner's alone)
    power_cap_event: str  # a demand-response cap the center's admin set (center admins only)
    settlement_id: str  # what the center owes a peer site for A's job (center admins settle)
    image: str  # an image of A's project, booked as the registry's notification books one
    channel_id: str  # a notification channel of A's project (services/notify)
    test_id: str  # a test message queued to that channel (its result is polled)
    lease_id: str  # a lease of A's organization (services/leases)
    window_id: str  # a maintenance window: the center's, not A's (every tenant reads it)
    need: str  # A's need, a challenge on A's hidden set (every tenant reads the catalog)
    question_id: str  # A's own question on it, unanswered (its asker's and the poster's)
    offer_id: str  # an open offer on A's need, by the center's own organization
    s3_key: str  # A's member's access key to the S3 endpoint, by id
    tes_task: str  # A's GA4GH TES task, ended (its job's id: /ga4gh/tes/v1, issue 60)


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
        lm_deployment="no-such-lm-deployment",
        api_key="no-such-api-key",
        notebook="no-such-notebook",
        power_cap_event=new_id("pcap"),
        settlement_id="999999",
        image="no-such-image",
        channel_id=new_id("nch"),
        test_id=new_id("ndl"),
        lease_id=new_id("lse"),
        window_id=new_id("mnt"),
        need="no-such-need",
        question_id=new_id("nqa"),
        offer_id=new_id("nof"),
        s3_key=new_id("s3k"),
        tes_task=new_id("job"),
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


# A's deployment of a model (`alpha-base`, stopped), serving A's LoRA adapter `alpha-lora` as
# ADAPTER: the adapter routes' own (`Targets.deployment` runs a command, which serves none)
LM_DEPLOYMENT = "alpha-lm"
ADAPTER = "alpha-adapter"

# The adapter routes' deployment is A's deployment of a model (`Targets.deployment` runs a
# command, which serves no adapters): path parameters filled per operation, before PATH_FILLS.
OP_PATH_FILLS: dict[tuple[tuple[str, str], str], Callable[[Targets], str]] = {
    ((method, path), "name"): lambda t: t.lm_deployment
    for method, path in (
        ("GET", "/api/v1/deployments/{name}/adapters"),
        ("POST", "/api/v1/deployments/{name}/adapters"),
        ("DELETE", "/api/v1/deployments/{name}/adapters/{adapter}"),
    )
}

# A path parameter is filled by (the path segment before it, its name): `name` is a node's name
# under /nodes and a secret's under /secrets.
PATH_FILLS: dict[tuple[str, str], Callable[[Targets], str]] = {
    ("orgs", "org_id"): lambda t: t.org_id,
    ("projects", "project_id"): lambda t: t.project_id,
    ("users", "user_id"): lambda t: t.user_id,
    ("tokens", "token_id"): lambda t: t.token_id,
    ("s3-keys", "key_id"): lambda t: t.s3_key,
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
    ("adapters", "adapter"): lambda t: ADAPTER,
    ("uploads", "upload_id"): lambda t: t.upload_id,
    ("keys", "ref"): lambda t: t.api_key,
    ("notebooks", "notebook"): lambda t: t.notebook,
    ("events", "event_id"): lambda t: t.power_cap_event,
    ("settlements", "settlement_id"): lambda t: t.settlement_id,
    ("images", "name"): lambda t: t.image,
    ("references", "image"): lambda t: t.image,
    ("channels", "channel_id"): lambda t: t.channel_id,
    ("tests", "test_id"): lambda t: t.test_id,
    ("leases", "lease_id"): lambda t: t.lease_id,
    ("maintenance", "window_id"): lambda t: t.window_id,
    ("needs", "need"): lambda t: t.need,
    ("challenges", "challenge"): lambda t: t.need,
    ("questions", "question_id"): lambda t: t.question_id,
    ("offers", "offer_id"): lambda t: t.offer_id,
    ("{offer_id}", "action"): lambda t: "accept",  # the poster's; B's: a 404, not a party
    ("tasks", "id"): lambda t: t.tes_task,  # /ga4gh/tes/v1/tasks/{id}, and its `:cancel`
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
LEFT_OUT |= {"since", "max_points", "revoked", "deployment", "lang", "site"}
LEFT_OUT |= {"tag"}  # an image's tag: the image is named in the path
LEFT_OUT |= {"column"}  # ROLE=COLUMN: a column of the data set the route already names
LEFT_OUT |= {"unread"}  # the caller's own inbox, unread items only
LEFT_OUT |= {"past"}  # maintenance windows that ended too
LEFT_OUT |= {"sort"}  # the order of a catalog's listing (by name, rating or use)
LEFT_OUT |= {"private"}  # a challenge's private board rather than its public one
# GA4GH TES's list: presentation, paging and filters over the caller's own tasks
LEFT_OUT |= {"view", "name_prefix", "tag_key", "tag_value", "page_size", "page_token"}
LEFT_OUT |= {"window_s"}  # how far back the slowdown counts finished jobs
LEFT_OUT |= {"hours"}  # how far back a node's power curve goes


# Request bodies, per operation: each a list of variants, each naming A's objects a different way.
# Every one is valid for its schema (an invalid body would answer 422, which fails the walk).
BODIES: dict[tuple[str, str], Callable[[Targets], list[dict[str, Any]]]] = {
    ("PATCH", "/api/v1/models/{name}"): lambda t: [{"json": {"description": "b was here"}}],
    ("POST", "/api/v1/models/{name}/versions"): lambda t: [{"json": {"job_id": t.job_id}}],
    ("PUT", "/api/v1/models/{name}/versions/{number}/stage"): lambda t: [
        {"json": {"stage": "staging"}}
    ],
    ("POST", "/api/v1/models/{name}/versions/{number}/predictions"): lambda t: [
        {"json": {"data": t.dataset, "project": t.project_id}}
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
    ("POST", "/api/v1/deployments/{name}/adapters"): lambda t: [
        {"json": {"model": "alpha-lora", "name": ADAPTER}}
    ],
    ("PUT", "/api/v1/models/{name}/reviews"): lambda t: [{"json": {"rating": 3, "text": "b"}}],
    ("PUT", "/api/v1/datasets/{name}/reviews"): lambda t: [{"json": {"rating": 3, "text": "b"}}],
    ("POST", "/api/v1/orgs"): lambda t: [{"json": {"name": "b-probe-org"}}],
    ("POST", "/api/v1/center/power-cap/events"): lambda t: [
        {"json": {"cap_kw": "100kW", "duration_s": "1h"}}
    ],
    ("POST", "/api/v1/projects"): lambda t: [
        {"json": {"name": "b-probe-project", "org_id": t.org_id}}
    ],
    ("POST", "/api/v1/projects/{project_id}/members"): lambda t: [{"json": {"user_id": t.user_id}}],
    ("PUT", "/api/v1/orgs/{org_id}/quota"): lambda t: [{"json": {"max": {"cpu_milli": 64000}}}],
    ("PATCH", "/api/v1/orgs/{org_id}"): lambda t: [{"json": {"kind": "research"}}],
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
    ("PUT", "/api/v1/users/{user_id}/password"): lambda t: [
        {"json": {"password": "b-probe-password"}}
    ],
    ("POST", "/api/v1/queues"): lambda t: [
        {"json": {"name": "b-probe-lane", "project": t.project_id}},
        {"json": {"name": "b-probe-lane-2", "project": t.project_name, "max_runtime": "1h"}},
    ],
    ("POST", "/api/v1/tokens"): lambda t: [{"json": {"name": "b-probe", "user_id": t.user_id}}],
    ("POST", "/api/v1/s3-keys"): lambda t: [{"json": {"name": "b-probe"}}],
    ("PUT", "/api/v1/secrets/{name}"): lambda t: [{"json": {"value": "b-probe-value"}}],
    ("PATCH", "/api/v1/images/{name}"): lambda t: [{"json": {"visibility": "public"}}],
    ("POST", "/api/v1/keys"): lambda t: [{"json": {"name": "b-probe-key", "rpm": 5}}],
    # a peer site's signed advert; a token is no signature (docs/federation.md)
    ("POST", "/api/v1/federation/adverts"): lambda t: [
        {"json": {"site": "b-probe", "jurisdiction": "CN-GD"}}
    ],
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
TES_TASK = {"name": "probe-task", "executors": [{"image": "alpine", "command": ["true"]}]}
BODIES |= {  # a GA4GH TES task (issue 60), in a project its backend_parameters name
    ("POST", "/ga4gh/tes/v1/tasks"): lambda t: [
        {"json": {**TES_TASK, "resources": {"backend_parameters": {"aicc_project": p}}}}
        for p in (t.project_id, t.project_name)
    ],
}
BODIES |= {
    ("POST", "/api/v1/notebooks"): lambda t: [
        # not started: A's own control request would run JupyterLab for nothing
        {"json": {"name": "b-probe-notebook", "project": t.project_id, "start": False}}
    ],
}
# Routes a peer site calls with its signature, never with a token (docs/federation.md): every
# token is refused with 401; tests/api/test_federation_api.py walks them signed.
SIGNED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/federation/adverts"): "a peer site's advert, the newest kept per site",
}
BODIES |= {  # notifications: a channel of A's project; the caller's own inbox
    ("POST", "/api/v1/notify/channels"): lambda t: [
        {
            "json": {
                "name": "b-probe-channel",
                "kind": "webhook",
                "target": "https://hooks.example.com/b-probe",
                "project": t.project_id,
            }
        }
    ],
    ("PATCH", "/api/v1/notify/channels/{channel_id}"): lambda t: [{"json": {"wait_min": 45}}],
    ("POST", "/api/v1/notify/inbox/read"): lambda t: [{"json": {}}],
}
_SPAN = {"from": "2031-01-01T00:00:00Z", "to": "2031-01-02T00:00:00Z"}  # not the world's own
BODIES |= {  # maintenance windows and leases (issue 40): center admins' work on A's nodes and org
    ("POST", "/api/v1/maintenance"): lambda t: [
        {"json": {"nodes": [t.node], "reason": "b probe", **_SPAN}}
    ],
    ("POST", "/api/v1/leases"): lambda t: [{"json": {"org": t.org_id, "nodes": [t.node], **_SPAN}}],
}
BODIES |= {  # a node's BMC and power limit (issue 62): center admins' work on A's node
    ("PUT", "/api/v1/nodes/{name}/bmc"): lambda t: [
        {"json": {"address": "https://127.0.0.1:9", "username": "b-probe", "password": "x"}}
    ],
    ("PUT", "/api/v1/nodes/{name}/power-limit"): lambda t: [{"json": {"watts": 500}}],
}
_LATER = "2031-01-01T00:00:00Z"
BODIES |= {  # needs and challenges (issue 41): the catalog is every tenant's
    ("POST", "/api/v1/needs"): lambda t: [
        {
            "json": {
                "name": "probe-need",
                "project": t.project_id,
                "title": "a probe",
                "problem": "a probe's need",
                "metric": "accuracy",
                "deadline": _LATER,
            }
        }
    ],
    ("POST", "/api/v1/needs/{need}/questions"): lambda t: [{"json": {"text": "a probe asks"}}],
    ("POST", "/api/v1/needs/{need}/offers"): lambda t: [
        {"json": {"kind": "template", "ref": t.template, "price": "1"}}
    ],
    ("PUT", "/api/v1/needs/{need}/reviews"): lambda t: [{"json": {"rating": 4, "text": "a probe"}}],
    ("POST", "/api/v1/needs/{need}/questions/{question_id}/answer"): lambda t: [
        {"json": {"text": "a probe answers"}}
    ],
    ("POST", "/api/v1/needs/{need}/challenge"): lambda t: [
        {"json": {"hidden": t.dataset, "target": "marker", "table": t.table}}
    ],
    ("POST", "/api/v1/challenges/{challenge}/join"): lambda t: [{"json": {"team": "probe-team"}}],
    ("POST", "/api/v1/challenges/{challenge}/invite"): lambda t: [{"json": {"org": "default"}}],
    ("POST", "/api/v1/challenges/{challenge}/submissions"): lambda t: [
        {"json": {"model": t.model}}
    ],
    ("POST", "/api/v1/challenges/{challenge}/award"): lambda t: [
        {"json": {"awards": [{"team": "probe-team", "amount": "1"}]}}
    ],
}
# Routes whose owner's call answers 409 by design, a state and not a permission: a need that
# is a challenge already, a poster taking its own challenge or rating its own need, an award
# before the deadline (tests/api/test_needs_api.py walks them through their states), a cancel
# of the walk's job, which succeeded already (tests/api/test_jobs_api.py cancels a live one).
CONFLICT_BY_DESIGN = {
    ("POST", "/api/v1/jobs/{job_id}/cancel"),
    ("PUT", "/api/v1/needs/{need}/reviews"),
    ("POST", "/api/v1/needs/{need}/offers"),
    ("POST", "/api/v1/needs/{need}/challenge"),
    ("POST", "/api/v1/challenges/{challenge}/join"),
    ("POST", "/api/v1/challenges/{challenge}/invite"),
    ("POST", "/api/v1/challenges/{challenge}/submissions"),
    ("POST", "/api/v1/challenges/{challenge}/award"),
}
# Routes that call the center registry, which the walk's server does not run: the owner's call
# answers 409 (nothing changed); tests/api/test_images_api.py calls them on a real registry.
NEEDS_REGISTRY = {("DELETE", "/api/v1/images/{name}"), ("POST", "/api/v1/registry/resync")}
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


def routes_of(app: Any) -> Iterator[tuple[str, frozenset[str]]]:
    """Every route of the app, the portal's included (not in the OpenAPI document): its path
    and methods, through the routers it was included from."""

    def walk(routes: list[Any]) -> Iterator[tuple[str, frozenset[str]]]:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router
                yield from walk(route.original_router.routes)
            elif hasattr(route, "path"):
                yield route.path, frozenset(getattr(route, "methods", None) or ())

    return walk(app.routes)


def calls(op: Op, t: Targets) -> list[Call]:
    """The requests for `op` that name the objects of `t`; fails on anything it cannot fill."""

    def fill(match: re.Match[str]) -> str:
        before = op.path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        if (op.key, match.group(1)) in OP_PATH_FILLS:
            return OP_PATH_FILLS[op.key, match.group(1)](t)
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
        self,
        answer: httpx.Response,
        call: Call,
        who: str,
        *,
        outsider: bool = True,
        public: frozenset[str] = frozenset(),
    ) -> None:
        """No secret value, ever; and for a caller outside A, none of A's data it did not send
        (but what A made `public`: a need's poster and name in the catalog)."""
        body = text_of(answer)
        for value in self.secrets:
            assert value not in body, f"{who}: {call.method} {call.url} returned a secret value"
        if outsider:
            leaked = [
                m for m in self.markers if m in body and m not in call.sent and m not in public
            ]
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


@dataclass
class WorldImage:
    """A world built once in a process, with its server stopped: its home (`template`, copied
    back to `home` for each test: the run directories' absolute paths stay true) and, on
    PostgreSQL, its database (`database`, the TEMPLATE of each test's own)."""

    home: Path
    template: Path
    database: str | None
    world: World


_clones = 0


@pytest.fixture(scope="session")
def world_images() -> dict[str, WorldImage]:
    """Per process, the world of each database kind, built by the first test that asks."""
    return {}


@pytest.fixture
def world(
    db_url: str | None,
    world_images: dict[str, WorldImage],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    """Tenant A's objects (one of every kind, a job that ran among them) and tenant B, on a
    server of the test's own: the world is built once per process and database kind (it ran
    a real job, 2 to 6 s), then each test gets a copy of its home and database, so what one
    test changes (A's deletions, new tokens) no other test sees."""
    global _clones
    kind = "sqlite" if db_url is None else "postgresql"
    image = world_images.get(kind)
    server: PostgresServer | None = None if db_url is None else request.getfixturevalue("postgres")
    if image is None:
        # its own database: the test's (db_url) is dropped when the test is over
        built_on = (
            None if server is None else server.create_database(f"wi{os.getpid()}", migrated=True)
        )
        image = world_images[kind] = _image(kind, built_on, tmp_path_factory)
    shutil.rmtree(image.home, ignore_errors=True)
    shutil.copytree(image.template, image.home, symlinks=True)
    url = clone = None
    if server is not None and image.database is not None:
        _clones += 1
        clone = f"w{os.getpid()}_{_clones}"
        url = server.create_database(clone, template=image.database)
    try:
        _as_just_built(url, image.home)
        with in_process(image.home, url, limits=LIMITS) as (api, state):
            yield replace(image.world, api=api, state=state)
    finally:
        shutil.rmtree(image.home, ignore_errors=True)
        if server is not None and clone is not None:
            server.drop_database(clone)


def _as_just_built(url: str | None, home: Path) -> None:
    """The copy as the world was when its build ended, not minutes later: the tokens the
    build used were used just now (a call does not write `last_used_at` again within a
    minute, as on the server the world was built on), and the stopped server's lease on the
    loops has run out (the copy's server leads from its first pass, as a restart after a
    crash would, instead of waiting out the lease's time to live)."""
    engine = make_engine(database_url(url, home))
    try:
        with engine.begin() as conn:
            now = utcnow()
            used = TokenRow.last_used_at.is_not(None)
            conn.execute(update(TokenRow).where(used).values(last_used_at=now))
            conn.execute(update(LeaseRow).values(expires_at=now - timedelta(hours=1)))
    finally:
        engine.dispose()


LIMITS = {"grace_s": 2.0}  # as tests/conftest.py's `server`


def _image(kind: str, db_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> WorldImage:
    """Build the world on a server of its own (stopped when the build fails too), stop it,
    and keep its home (and database) as the template of every test's copy."""
    base = tmp_path_factory.mktemp(f"world-{kind}")
    home, template = base / "home", base / "home.template"
    with in_process(home, db_url, limits=LIMITS) as (api, state):
        built = build_world(api, state, make_tenant(api, "tenant-b"), base)
    home.rename(template)
    database = None if db_url is None else make_url(db_url).database
    return WorldImage(home, template, database, built)


def build_world(api: TestClient, state: AppState, tenant_b: Tenant, tmp_path: Path) -> World:
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
    s3_key = created(api.post("/api/v1/s3-keys", json={"name": "alpha-s3"}, headers=a_member))
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

    # a GA4GH TES task of A's member (issue 60), run to its end as the job above
    task = created(
        api.post(
            "/ga4gh/tes/v1/tasks",
            json={
                "name": "alpha-tes-task",
                "inputs": [{"path": "/data/in.txt", "content": "alpha-tes-input-marker\n"}],
                "executors": [{"image": "alpine", "command": ["cat", "/data/in.txt"]}],
                "tags": {"alpha": "alpha-tes-tag-marker"},
            },
            headers=a_member,
        )
    )
    ran = wait_state(api, task["id"], {"succeeded", "failed", "cancelled"})
    assert ran["state"] == "succeeded", ran

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
            # and a predict.py, so that A may run it on its data (a batch prediction)
            [
                ("model/weights.bin", b"alpha-weights-marker"),
                ("data/alpha.csv", table),
                ("predict.py", b"print('alpha predicts')\n"),
            ],
            project=project_id,
            format="raw",
            metrics={"accuracy": 0.5},
            # a card as a template's run wrote it before its headings were bilingual: the
            # model's page words them in the reader's language (test_whole_center.py)
            card="# Alpha\n\n## Metrics\n\n- accuracy: 0.5\n\n## Lineage\n\n- job: none\n\n"
            "## Use\n\n```\npython predict.py\n```\n",
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
        # a deployment of a model (stopped: no replica runs) serving a LoRA adapter of it
        config = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
        models.register(
            session,
            who,
            state.chunks,
            "alpha-base",
            [("config.json", config.encode())],
            project=project_id,
        )
        lora = json.dumps({"peft_type": "LORA", "base_model_name_or_path": "alpha-base"})
        models.register(
            session,
            who,
            state.chunks,
            "alpha-lora",
            [("adapter_config.json", lora.encode()), ("adapter_model.safetensors", b"w")],
            project=project_id,
        )
        deployments.create(
            session, who, state.blobs, name=LM_DEPLOYMENT, model="alpha-base", project=project_id
        )
        deployments.stop(session, who, LM_DEPLOYMENT, project=project_id)
        adapters.attach(
            session,
            who,
            state.chunks,
            LM_DEPLOYMENT,
            model="alpha-lora",
            name=ADAPTER,
            project=project_id,
        )
    notebook = api.post(
        "/api/v1/notebooks",
        json={"name": "alpha-notebook", "project": project_id, "start": False},
        headers=a_admin,
    )
    assert created(notebook)["state"] == "stopped"
    cap = created(
        api.post("/api/v1/center/power-cap/events", json={"cap_kw": 900, "duration_s": "2h"})
    )
    with state.db.session() as session:  # an OpenADR event as the VEN keeps it (loops/openadr.py)
        now = utcnow()
        window = openadr.Window(now, now + timedelta(hours=1), 800.0)
        signal = openadr.Signal("LOAD_DISPATCH", "setpoint", window.start, window.end, 800.0)
        said = openadr.answer([window], floor_kw=1000.0, opt_out=False)  # under the idle floor
        demand.received(
            session, event_id="vtn-ev-1", status="active", signals=[signal], windows=[window],
            answer=said, baseline_kw=1200.0, now=now,
        )  # fmt: skip
        demand.reported(session, measured_kw=950.0, asked_kw=800.0, now=now)
    channel = created(
        api.post(
            "/api/v1/notify/channels",
            json={
                "name": "alpha-channel",
                "kind": "webhook",
                "target": "https://hooks.example.com/alpha",
                "project": project_id,
                "secret": "alpha-channel-secret",
            },
            headers=a_member,
        )
    )
    queued = api.post(f"/api/v1/notify/channels/{channel['id']}/test", headers=a_member)
    assert queued.status_code == 202, queued.text
    span = {"from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"}
    lease = created(api.post("/api/v1/leases", json={"org": org["id"], "nodes": [node], **span}))
    window = created(
        api.post("/api/v1/maintenance", json={"nodes": [node], "reason": "alpha", **span})
    )
    deadline = {"deadline": "2030-06-01T00:00:00Z", "metric": "accuracy", "problem": "alpha's"}
    need = created(
        api.post(
            "/api/v1/needs",
            json={"name": "alpha-need", "title": "alpha's need", "reward": "10", **deadline},
            headers=a_admin,
        )
    )
    created(
        api.post(
            f"/api/v1/needs/{need['id']}/challenge",
            json={"hidden": "alpha-data@1", "target": "marker", "table": "alpha.csv"},
            headers=a_admin,
        )
    )
    question = created(
        api.post(
            f"/api/v1/needs/{need['id']}/questions",
            json={"text": "alpha asks itself"},
            headers=a_member,
        )
    )
    # the center's own organization offers a template of its own on A's need
    offered = created(api.post("/api/v1/templates", json={"files": own_template("center-offer")}))
    offer = created(
        api.post(
            f"/api/v1/needs/{need['id']}/offers",
            json={"kind": "template", "ref": offered["ref"], "price": "1"},
        )
    )
    with state.db.session() as session:  # as the federation loop writes one (no peer here)
        owed = SettlementRow(
            job_id=job["id"],
            attempt=0,
            site="peer",
            remote_job_id="job_at_the_peer",
            amount="1.00",
            currency="CNY",
            state="open",
            created_at=utcnow(),
            settled_at=None,
        )
        session.add(owed)
        session.flush()
        settlement = owed.id
        project_name = session.get(ProjectRow, project_id).name  # type: ignore[union-attr]
        blob = Blob("sha256:" + "1" * 64, 1024)
        images_events.record_push(
            session,
            repository=f"org-alpha/{project_name}/alpha-image",
            tag="1",
            manifest=Manifest("sha256:" + "2" * 64, (blob,)),
            actor="alpha-member",
        )
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
        lm_deployment=LM_DEPLOYMENT,
        api_key="alpha-api-key",
        notebook="alpha-notebook",
        power_cap_event=cap["id"],
        settlement_id=str(settlement),
        image="alpha-image",
        channel_id=channel["id"],
        test_id=queued.json()["id"],
        lease_id=lease["id"],
        window_id=window["id"],
        need="alpha-need",
        question_id=question["id"],
        offer_id=offer["id"],
        s3_key=s3_key["id"],
        tes_task=task["id"],
    )
    # a window is the center's, shown to every tenant: not A's data
    markers = {getattr(a, f.name) for f in fields(a)} - {node, str(settlement), window["id"]}
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
        s3_key["access_key_id"],
        "alpha-job",
        "hello from alpha",
        value,
        "alpha-voucher",
        "alpha-row-marker",
        "alpha-weights-marker",
        "alpha_metric_marker",
        "alpha-tes-task",
        "alpha-tes-input-marker",
        "alpha-tes-tag-marker",
    }
    return World(
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
        secrets={value, b_value, "b-probe-value", "alpha-channel-secret", s3_key["secret"]},
    )
