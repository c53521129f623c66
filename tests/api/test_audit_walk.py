"""Every mutating route writes an audit entry: a walk over the OpenAPI document.

Each POST, PUT, PATCH and DELETE under /api/v1 is sent by the one who may (A's org admin, or the
center admin for the center's work) on tenant A's objects (route_walk.py's world); the entries it
wrote must name the action, the object's type and id, and the caller, and A's organization so
that A's org admins read them. A route that only computes is exempt, with its reason. A new
mutating route fails the walk until it audits and is listed in AUDITED, or is exempted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from route_walk import (
    CONFLICT_BY_DESIGN,
    LM_DEPLOYMENT,
    NEEDS_REGISTRY,
    OK,
    SIGNED,
    World,
    calls,
    created,
    operations,
    routes_of,
    send,
)
from sqlalchemy import select

from aicc.store.tables.data import DatasetRow
from aicc.store.tables.images import ImageRepositoryRow
from aicc.store.tables.jobs import NotebookRow
from aicc.store.tables.needs import ChallengeRow, NeedRow
from aicc.store.tables.tenancy import AuditRow
from aicc.testing.datasets import begin_and_send

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
# Entries the loops write when a job the walk started ends (a template run's model, a cleaning
# job's data set), or when a deployment the walk started converges (its replicas' jobs): they
# land between any two calls.
LATE = ("model.push", "dataset.push", "job.submit")


@pytest.fixture
def db_url() -> None:
    """SQLite only: the entries are written by the services, the same on either database."""
    return None


@dataclass(frozen=True)
class Seen:
    """What the walk knows after a call: the answer's body and A's objects' ids."""

    answer: dict[str, Any]
    ids: dict[str, str]


def answer_id(seen: Seen) -> str:
    return str(seen.answer["id"])


def of(kind: str) -> Callable[[Seen], str]:
    return lambda seen: seen.ids[kind]


def pushed(kind: str) -> Callable[[Seen], str]:
    """A version of A's data set or model: `<id>@<number>`."""
    return lambda seen: f"{seen.ids[kind]}@{seen.answer.get('version', seen.answer)['number']}"


@dataclass(frozen=True)
class Audited:
    actions: tuple[str, ...]  # one per call variant of the route, or one for all
    object_type: str
    object_id: Callable[[Seen], str]


def audited(action: str, object_type: str, object_id: Callable[[Seen], str]) -> Audited:
    return Audited((action,), object_type, object_id)


def deployment(action: str) -> Audited:
    return audited(f"deployment.{action}", "deployment", of("deployment"))


API = "/api/v1"
TES_API = "/ga4gh/tes/v1"
AUDITED: dict[tuple[str, str], Audited] = {
    ("POST", f"{API}/orgs"): audited("org.create", "org", answer_id),
    ("PUT", f"{API}/orgs/{{org_id}}/quota"): audited("quota.set", "org", of("org")),
    ("PATCH", f"{API}/orgs/{{org_id}}"): audited("org.update", "org", of("org")),
    ("POST", f"{API}/projects"): audited("project.create", "project", answer_id),
    ("PUT", f"{API}/projects/{{project_id}}/quota"): audited("quota.set", "project", of("project")),
    ("POST", f"{API}/projects/{{project_id}}/members"): audited(
        "project.add_member", "project", of("research")
    ),
    ("POST", f"{API}/users"): audited("user.create", "user", answer_id),
    ("PATCH", f"{API}/users/{{user_id}}"): Audited(
        ("user.disable", "user.enable"), "user", of("user")
    ),
    ("PUT", f"{API}/users/{{user_id}}/password"): audited("user.password", "user", of("user")),
    ("POST", f"{API}/queues"): audited("queue.create", "queue", answer_id),
    ("POST", f"{API}/tokens"): audited("token.create", "token", answer_id),
    ("DELETE", f"{API}/tokens/{{token_id}}"): audited("token.revoke", "token", of("token")),
    ("POST", f"{API}/s3-keys"): audited("s3_key.create", "s3_key", answer_id),
    ("DELETE", f"{API}/s3-keys/{{key_id}}"): audited("s3_key.delete", "s3_key", of("s3_key")),
    ("PUT", f"{API}/secrets/{{name}}"): audited("secret.put", "secret", of("secret")),
    ("DELETE", f"{API}/secrets/{{name}}"): audited("secret.delete", "secret", of("secret")),
    ("PATCH", f"{API}/images/{{name}}"): audited("image.share", "image", of("image")),
    # these two call the registry (route_walk.NEEDS_REGISTRY): test_images_api.py checks them
    ("DELETE", f"{API}/images/{{name}}"): audited("image.delete", "image", of("image")),
    ("POST", f"{API}/registry/resync"): audited("registry.resync", "registry", lambda s: "catalog"),
    ("POST", f"{API}/nodes/import"): audited("node.import", "node", lambda s: "b-probe-node"),
    ("POST", f"{API}/nodes/{{name}}/cordon"): audited("node.cordoned", "node", of("node")),
    ("POST", f"{API}/nodes/{{name}}/uncordon"): audited("node.ready", "node", of("node")),
    ("POST", f"{API}/nodes/{{name}}/drain"): audited("node.draining", "node", of("node")),
    ("POST", f"{API}/nodes/{{name}}/burn-in"): audited("node.burn_in", "node", of("node")),
    ("PUT", f"{API}/nodes/{{name}}/bmc"): audited("node.bmc.set", "node", of("node")),
    ("DELETE", f"{API}/nodes/{{name}}/bmc"): audited("node.bmc.remove", "node", of("node")),
    ("PUT", f"{API}/nodes/{{name}}/power-limit"): audited("node.power_limit", "node", of("node")),
    ("POST", f"{API}/workdirs"): audited(
        "workdir.upload", "workdir", lambda s: str(s.answer["sha256"])
    ),
    ("POST", f"{API}/jobs"): audited("job.submit", "job", answer_id),
    ("POST", f"{API}/jobs/{{job_id}}/cancel"): audited("job.cancel", "job", answer_id),
    ("POST", f"{API}/jobs/{{job_id}}/resubmit"): audited("job.submit", "job", answer_id),
    # a GA4GH TES task is a job (issue 60): its submit and its cancel are the job's
    ("POST", f"{TES_API}/tasks"): audited("job.submit", "job", answer_id),
    ("POST", f"{TES_API}/tasks/{{id}}:cancel"): audited("job.cancel", "job", of("tes_task")),
    ("POST", f"{API}/price-plans"): audited("price_plan.create", "price_plan", answer_id),
    ("POST", f"{API}/vouchers"): audited("voucher.create", "voucher", answer_id),
    ("POST", f"{API}/subsidies"): audited("subsidy.create", "subsidy", answer_id),
    ("PUT", f"{API}/projects/{{project_id}}/budget"): audited("budget.set", "budget", answer_id),
    ("PUT", f"{API}/orgs/{{org_id}}/budget"): audited("budget.set", "budget", answer_id),
    ("DELETE", f"{API}/budgets/{{budget_id}}"): audited("budget.delete", "budget", of("budget")),
    ("POST", f"{API}/bills/issue"): audited("invoice.issue", "invoice", answer_id),
    ("POST", f"{API}/bills/adjustments"): audited("invoice.adjust", "adjustment", answer_id),
    ("POST", f"{API}/datasets"): audited("dataset.create", "dataset", answer_id),
    ("PATCH", f"{API}/datasets/{{name}}"): audited("dataset.update", "dataset", of("dataset")),
    ("DELETE", f"{API}/datasets/{{name}}"): audited("dataset.delete", "dataset", of("dataset")),
    ("POST", f"{API}/uploads/{{upload_id}}/commit"): audited(
        "dataset.push", "dataset", pushed("dataset")
    ),
    ("POST", f"{API}/datasets/{{name}}/clean"): audited("job.submit", "job", answer_id),
    ("PATCH", f"{API}/models/{{name}}"): audited("model.update", "model", of("model")),
    ("DELETE", f"{API}/models/{{name}}"): audited("model.delete", "model", of("model")),
    ("POST", f"{API}/models/{{name}}/versions"): audited("model.push", "model", pushed("model")),
    ("PUT", f"{API}/models/{{name}}/versions/{{number}}/stage"): audited(
        "model.stage", "model", of("model")
    ),
    ("PUT", f"{API}/models/{{name}}/reviews"): audited("review.put", "review", of("model")),
    ("PUT", f"{API}/datasets/{{name}}/reviews"): audited("review.put", "review", of("dataset")),
    ("POST", f"{API}/templates"): audited("template.publish", "template", of("new-template")),
    ("PUT", f"{API}/templates/{{name}}/reviews"): audited("review.put", "review", of("template")),
    ("DELETE", f"{API}/templates/{{name}}"): audited("template.delete", "template", of("template")),
    ("POST", f"{API}/templates/{{name}}/runs"): audited("job.submit", "job", answer_id),
    ("POST", f"{API}/models/{{name}}/versions/{{number}}/predictions"): audited(
        "job.submit", "job", answer_id
    ),
    ("POST", f"{API}/deployments"): audited("deployment.create", "deployment", answer_id),
    ("PATCH", f"{API}/deployments/{{name}}"): deployment("update"),
    ("POST", f"{API}/deployments/{{name}}/rollback"): deployment("rollback"),
    ("POST", f"{API}/deployments/{{name}}/scale"): deployment("scale"),
    ("POST", f"{API}/deployments/{{name}}/stop"): deployment("stop"),
    ("POST", f"{API}/deployments/{{name}}/start"): deployment("start"),
    ("DELETE", f"{API}/deployments/{{name}}"): deployment("delete"),
    ("POST", f"{API}/deployments/{{name}}/adapters"): audited(
        "deployment.adapter.attach", "deployment", of("lm-deployment")
    ),
    ("DELETE", f"{API}/deployments/{{name}}/adapters/{{adapter}}"): audited(
        "deployment.adapter.detach", "deployment", of("lm-deployment")
    ),
    ("POST", f"{API}/keys"): audited("api_key.create", "api_key", answer_id),
    ("DELETE", f"{API}/keys/{{ref}}"): audited("api_key.revoke", "api_key", of("api_key")),
    ("POST", f"{API}/notebooks"): audited("notebook.create", "notebook", answer_id),
    ("POST", f"{API}/center/power-cap/events"): audited("power_cap.set", "power_cap", answer_id),
    ("DELETE", f"{API}/center/power-cap/events/{{event_id}}"): audited(
        "power_cap.clear", "power_cap", of("power_cap")
    ),
    ("POST", f"{API}/notebooks/{{notebook}}/start"): audited(
        "notebook.start", "notebook", of("notebook")
    ),
    ("POST", f"{API}/notebooks/{{notebook}}/stop"): audited(
        "notebook.stop", "notebook", of("notebook")
    ),
    ("DELETE", f"{API}/notebooks/{{notebook}}"): audited(
        "notebook.delete", "notebook", of("notebook")
    ),
    ("POST", f"{API}/federation/settlements/{{settlement_id}}/settle"): audited(
        "settlement.settle", "settlement", of("settlement")
    ),
    ("POST", f"{API}/notify/channels"): audited("notify.channel.create", "channel", answer_id),
    ("POST", f"{API}/needs"): audited("need.create", "need", answer_id),
    ("POST", f"{API}/needs/{{need}}/withdraw"): audited("need.withdraw", "need", answer_id),
    # A's own need takes no offer of A's: a 409 (route_walk.CONFLICT_BY_DESIGN)
    ("POST", f"{API}/needs/{{need}}/offers"): audited("need.offer", "need", of("need")),
    ("POST", f"{API}/needs/{{need}}/offers/{{offer_id}}/{{action}}"): audited(
        "need.offer_accept", "need", of("need")
    ),
    ("POST", f"{API}/needs/{{need}}/questions"): audited("need.ask", "need", of("need")),
    ("POST", f"{API}/needs/{{need}}/questions/{{question_id}}/answer"): audited(
        "need.answer", "need", of("need")
    ),
    # the five below answer A's own admin 409 here (route_walk.CONFLICT_BY_DESIGN), and
    # tests/api/test_needs_api.py checks their entries
    ("POST", f"{API}/needs/{{need}}/challenge"): audited(
        "challenge.create", "challenge", answer_id
    ),
    ("POST", f"{API}/challenges/{{challenge}}/join"): audited(
        "challenge.join", "challenge", of("challenge")
    ),
    ("POST", f"{API}/challenges/{{challenge}}/invite"): audited(
        "challenge.invite", "challenge", of("challenge")
    ),
    ("POST", f"{API}/challenges/{{challenge}}/submissions"): audited(
        "challenge.submit", "challenge", of("challenge")
    ),
    ("POST", f"{API}/challenges/{{challenge}}/award"): audited("need.award", "need", of("need")),
    # the poster's own need: a 409 (route_walk.CONFLICT_BY_DESIGN); test_need_reviews_api.py
    ("PUT", f"{API}/needs/{{need}}/reviews"): audited("review.put", "review", of("need")),
    ("POST", f"{API}/maintenance"): audited("maintenance.create", "maintenance", answer_id),
    ("POST", f"{API}/maintenance/{{window_id}}/cancel"): audited(
        "maintenance.cancel", "maintenance", answer_id
    ),
    ("POST", f"{API}/leases"): audited("lease.create", "lease", answer_id),
    ("POST", f"{API}/leases/{{lease_id}}/end"): audited("lease.end", "lease", answer_id),
    ("PATCH", f"{API}/notify/channels/{{channel_id}}"): audited(
        "notify.channel.update", "channel", of("channel")
    ),
    ("DELETE", f"{API}/notify/channels/{{channel_id}}"): audited(
        "notify.channel.delete", "channel", of("channel")
    ),
}
# Mutating methods that change nothing anyone sees: no entry, and the walk checks that.
EXEMPT: dict[tuple[str, str], str] = {
    ("POST", f"{API}/estimate"): "prices a scenario: an answer computed, nothing stored",
    ("POST", f"{API}/templates/{{name}}/estimate"): "a template run's options, computed",
    ("POST", f"{API}/datasets/{{name}}/versions/{{number}}/query"): "a read-only SQL query",
    ("POST", f"{API}/datasets/{{name}}/uploads"): "begins or resumes a push: which chunks the "
    "server lacks; nothing is visible until the commit, audited as <kind>.push",
    ("POST", f"{API}/uploads/{{upload_id}}/chunks"): "bytes of a push in progress, kept for its "
    "commit (audited); an entry per chunk would drown the log",
    ("POST", f"{API}/notify/channels/{{channel_id}}/test"): "queues a test message: its delivery "
    "is the record",
    ("POST", f"{API}/notify/inbox/read"): "the caller's own read marks, a preference",
}


# The portal's forms change things through the same services as the API (walked above): each
# writes the entries these actions name, or changes nothing the log is for.
PORTAL: dict[tuple[str, str], str] = {
    ("POST", "/sign-in"): "portal.sign_in (tests/portal/test_portal_web.py)",
    ("POST", "/sign-out"): "portal.sign_out (tests/portal/test_portal_web.py)",
    ("POST", "/jobs/{job_id}/cancel"): "job.cancel",
    ("POST", "/jobs/{job_id}/resubmit"): "job.submit",
    ("POST", "/images/share"): "image.share (tests/portal/test_portal_images_browser.py)",
    ("POST", "/center/nodes/{name}/{action}"): "node.cordoned node.ready node.draining "
    "node.burn_in",
    ("POST", "/center/tenants/orgs"): "org.create",
    ("POST", "/center/tenants/orgs/{org_id}/kind"): "org.update",
    ("POST", "/center/tenants/projects"): "project.create",
    ("POST", "/center/tenants/users"): "user.create",
    ("POST", "/center/tenants/users/{user_id}/{action}"): "user.disable user.enable",
    ("POST", "/tokens"): "token.create",
    ("POST", "/tokens/{token_id}/revoke"): "token.revoke",
    ("POST", "/s3-keys"): "s3_key.create (tests/portal/test_portal_connect.py)",
    ("POST", "/s3-keys/{key_id}/delete"): "s3_key.delete",
    ("POST", "/secrets"): "secret.put",
    ("POST", "/secrets/delete"): "secret.delete",
    ("POST", "/password"): "user.password",
    ("POST", "/submit"): "job.submit",
    ("POST", "/submit/yaml"): "job.submit (its check, a dry run, is rolled back)",
    ("POST", "/center/prices/vouchers"): "voucher.create",
    ("POST", "/center/prices/plans"): "price_plan.create (tests/portal/test_portal_money_forms.py)",
    ("POST", "/bills/budgets"): "budget.set",
    ("POST", "/quotas/{kind}/{tenant_id}/edit"): "quota.set",
    ("POST", "/data"): "dataset.create",
    ("POST", "/data/{name}/edit"): "dataset.update",
    ("POST", "/data/{name}/delete"): "dataset.delete",
    ("POST", "/data/{name}/upload"): "dataset.push",
    ("POST", "/data/{name}/reviews"): "review.put (tests/portal/test_portal_data.py)",
    ("POST", "/marketplace/train"): "job.submit",
    ("POST", "/models/{name}/stage"): "model.stage",
    ("POST", "/models/{name}/predictions"): "job.submit (a batch prediction)",
    ("POST", "/keys"): "api_key.create",
    ("POST", "/keys/{ref}/revoke"): "api_key.revoke",
    ("POST", "/deployments/{name}/{action}"): "deployment.stop deployment.start "
    "deployment.rollback",
    ("POST", "/deploy"): "deployment.create",
    ("POST", "/deployments/{name}/edit"): "deployment.scale deployment.update",
    ("POST", "/notebooks"): "notebook.create",
    ("POST", "/center/federation/settlements/{settlement_id}/settle"): "settlement.settle",
    ("POST", "/notebooks/act"): "notebook.start notebook.stop notebook.delete",
    ("POST", "/inbox/channels"): "notify.channel.create (tests/portal/test_portal_notify.py)",
    ("POST", "/inbox/channels/{channel_id}/delete"): "notify.channel.delete",
    ("POST", "/center/maintenance"): "maintenance.create (tests/portal/test_portal_maintenance.py)",
    ("POST", "/center/maintenance/{window_id}/cancel"): "maintenance.cancel",
    ("POST", "/needs"): "need.create (tests/portal/test_portal_needs.py)",
    ("POST", "/needs/{need_id}/questions"): "need.ask",
    ("POST", "/needs/{need_id}/questions/{question_id}/answer"): "need.answer",
    ("POST", "/needs/{need_id}/withdraw"): "need.withdraw",
    ("POST", "/needs/{need_id}/offers"): "need.offer (tests/portal/test_portal_need_offers.py)",
    ("POST", "/needs/{need_id}/offers/{offer_id}/{action}"): "need.offer_accept (and the rest)",
    ("POST", "/needs/{need_id}/reviews"): "review.put (tests/portal/test_portal_needs.py)",
    ("POST", "/needs/{need_id}/challenge"): "challenge.create",
    ("POST", "/challenges/{challenge_id}/join"): "challenge.join",
    ("POST", "/challenges/{challenge_id}/invite"): "challenge.invite",
    ("POST", "/challenges/{challenge_id}/submissions"): "challenge.submit",
    ("POST", "/challenges/{challenge_id}/award"): "need.award (a browser's, once)",
}
PORTAL_EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/language"): "the person's own display language, a preference",
    ("POST", "/deployments/{name}/chat"): "one request to a model through the gateway: metered "
    "and in the deployment's request log, like any gateway request",
    ("POST", "/deployments/{name}/predict"): "one request to a model through the gateway, as "
    "the chat is: metered and in the deployment's request log",
    ("POST", "/deployments/{name}/predictions.csv"): "the predictions the page shows, written "
    "as a CSV file for the person to download: nothing stored",
    ("POST", "/inbox/read"): "the person's own read marks in their inbox",
    ("POST", "/inbox/channels/{channel_id}/test"): "queues a test message: its delivery is kept",
    ("PATCH", "/notebooks/{job_id}/{path:path}"): "the owner's own JupyterLab, behind the proxy "
    "(also DELETE, POST, PUT): its changes are files in the notebook's home",
}


def portal_forms(app: object) -> set[tuple[str, str]]:
    """The mutating routes outside /api/v1, TES's, MLflow's (tests/api/test_mlflow_api.py), the
    gateway and the S3 endpoint (read-only: its writes are refused, tests/s3); a proxy's by its
    PATCH."""
    return {
        (method, path)
        for path, methods in routes_of(app)
        if not path.startswith((API, "/v1", TES_API, "/mlflow")) and path.split("/")[1] != "s3"
        for method in methods & set(MUTATING)
        if method == "PATCH" or "PATCH" not in methods
    }


def test_the_tables_name_only_mutating_routes_that_exist(api: TestClient) -> None:
    keys = {op.key for op in operations(api.app) if op.method in MUTATING}
    assert not (set(AUDITED) | set(EXEMPT) | set(SIGNED)) - keys, (
        "routes no longer in the OpenAPI document"
    )
    assert not set(AUDITED) & set(EXEMPT)
    # Every portal form is in one of the portal's tables, and names actions the walk checks.
    forms = portal_forms(api.app)
    assert forms == set(PORTAL) | set(PORTAL_EXEMPT), (
        "a portal form changes state: list the audit entries its service writes in PORTAL, or "
        "say in PORTAL_EXEMPT why it changes nothing the log is for"
    )
    walked = {action for want in AUDITED.values() for action in want.actions}
    walked |= {"portal.sign_in", "portal.sign_out"}
    for form, actions in PORTAL.items():
        named = {word for word in actions.split() if "." in word and "(" not in word}
        assert named and named <= walked, f"{form}: {named - walked} is not an action walked"


def test_every_mutating_route_writes_an_audit_entry(world: World) -> None:
    api, state, a = world.api, world.state, world.a
    a_admin = world.a_admin
    # A job that is still running (cancel audits a change, and a finished job has none to make),
    # a push of new files, a project the member is not in yet.
    running = created(api.post(f"{API}/jobs", json={"command": "sleep 60"}, headers=a_admin))
    sleeper = {"executors": [{"image": "alpine", "command": ["sleep", "60"]}]}
    task = created(api.post(f"{TES_API}/tasks", json=sleeper, headers=a_admin))
    upload, (chunk,) = begin_and_send(
        api, "alpha-data", {"beta.csv": b"id\n7\n"}, a_admin, project=a.project_id
    )
    special = {
        ("POST", f"{API}/jobs/{{job_id}}/cancel"): replace(a, job_id=running["id"]),
        ("POST", f"{TES_API}/tasks/{{id}}:cancel"): replace(a, tes_task=task["id"]),
        ("POST", f"{API}/uploads/{{upload_id}}/commit"): replace(
            a, upload_id=upload, manifest_chunk=f"{chunk[0]}:{chunk[1]}"
        ),
        ("POST", f"{API}/projects/{{project_id}}/members"): replace(
            a, project_id=world.a_research_id
        ),
    }
    with state.db.session() as session:
        named = {
            row.name: row.id
            for row in session.scalars(
                select(DatasetRow).where(DatasetRow.project_id == a.project_id)
            )
        }
        notebook = session.scalars(select(NotebookRow).where(NotebookRow.name == a.notebook))
        node = next(n for n in api.get(f"{API}/nodes").json()["items"] if n["name"] == a.node)
        ids = {
            "org": a.org_id,
            "project": a.project_id,
            "research": world.a_research_id,
            "user": a.user_id,
            "token": a.token_id,
            "s3_key": a.s3_key,
            "secret": f"{a.project_id}/{a.secret_name}",
            "node": node["id"],
            "budget": a.budget_id,
            "dataset": named[a.dataset],
            "model": named[a.model],
            "template": named[a.template],
            "deployment": named_deployment(world),
            "lm-deployment": named_deployment(world, LM_DEPLOYMENT),
            "api_key": api_key_id(world),
            "notebook": notebook.one().id,
            "power_cap": a.power_cap_event,
            "settlement": a.settlement_id,
            "channel": a.channel_id,
            "tes_task": task["id"],
            "need": session.scalars(
                select(NeedRow.id).where(NeedRow.name == a.need, NeedRow.org_id == a.org_id)
            ).one(),
            "image": session.scalars(
                select(ImageRepositoryRow.id).where(ImageRepositoryRow.name == a.image)
            ).one(),
        }
        ids["challenge"] = session.scalars(
            select(ChallengeRow.id).where(ChallengeRow.need_id == ids["need"])
        ).one()
        last = session.scalar(select(AuditRow.id).order_by(AuditRow.id.desc()).limit(1)) or 0
    admin_name = api.get(f"{API}/me").json()["user"]["name"]
    secrets = set(world.secrets)
    ops = [op for op in operations(api.app) if op.method in MUTATING]
    assert len(ops) >= 59
    walked = 0
    for op in sorted(ops, key=lambda o: o.method == "DELETE" or o.path.endswith("/withdraw")):
        if op.key in SIGNED:
            walked += 1  # a peer site's, signed: no token calls it (test_federation_api.py)
            continue
        assert op.key in AUDITED or op.key in EXEMPT, (
            f"{op} changes state: audit it in its service (audit.record, in the same "
            "transaction) and add it to AUDITED, or say in EXEMPT why it changes nothing"
        )
        for number, call in enumerate(calls(op, special.get(op.key, a))):
            if "idempotency-key" in call.headers:  # each submit is a new job
                call.headers["idempotency-key"] = f"audit-walk-{op.path}-{number}"
            got, caller = send(api, call, a_admin), "alpha-admin"
            if got.status_code == 403:  # the center's work: its admin's
                got, caller = send(api, call, None), admin_name
            if op.key in NEEDS_REGISTRY | CONFLICT_BY_DESIGN and got.status_code == 409:
                walked += 1  # no registry here, or a state: nothing changed, nothing audited
                continue
            assert got.status_code in OK, f"{op} answered {got.status_code}: {got.text[:300]}"
            walked += 1
            answer = got.json() if got.content else {}
            if isinstance(answer, dict) and answer.get("secret"):
                secrets.add(answer["secret"])  # a token's or API key's, shown once
            with state.db.session() as session:
                rows = session.scalars(select(AuditRow).where(AuditRow.id > last)).all()
                if op.key == ("POST", f"{API}/templates"):
                    ids["new-template"] = session.scalars(
                        select(DatasetRow.id).where(DatasetRow.name == "b-probe-template")
                    ).one()
                entries = [
                    (r.action, r.object_type, r.object_id, r.user_name, r.org_id, r.detail)
                    for r in rows
                ]
            last = rows[-1].id if rows else last
            for entry in entries:
                text = json.dumps(entry)
                assert not [s for s in secrets if s in text], f"{op}: a secret in {entry}"
            if op.key in EXEMPT:
                wrote = [e for e in entries if e[0] not in LATE]
                assert not wrote, f"{op} is exempt but wrote {wrote}"
                continue
            want = AUDITED[op.key]
            action = want.actions[min(number, len(want.actions) - 1)]
            object_id = want.object_id(Seen(answer, ids))
            org = a.org_id if caller == "alpha-admin" else None
            found = [
                e
                for e in entries
                if e[:4] == (action, want.object_type, object_id, caller)
                and (org is None or e[4] == org)
            ]
            assert found, (
                f"{op}: no audit entry {action} {want.object_type} {object_id} by {caller} "
                f"in {org or 'any org'}; it wrote {entries}"
            )
    assert walked >= len(ops)


def named_deployment(world: World, name: str | None = None) -> str:
    got = world.api.get(f"{API}/deployments/{name or world.a.deployment}", headers=world.a_admin)
    return str(created(got)["id"])


def api_key_id(world: World) -> str:
    got = world.api.get(f"{API}/keys", headers=world.a_admin)
    return next(k["id"] for k in created(got)["items"] if k["name"] == world.a.api_key)
