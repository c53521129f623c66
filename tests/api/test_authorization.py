"""Tenant isolation over every route of the OpenAPI document (SQLite and PostgreSQL).

Tenant A owns one object of every kind; tenant B (a member, then an org admin) sends each operation
of the API, addressed to A's objects, and must get a 404 (docs/contracts.md §4: another tenant's
object is a 404, never a 403), with none of A's data in the answer. The walk reads the routes from
`app.openapi()`, so a new route is covered as soon as it exists: a path parameter, query parameter,
header or body route_walk.py does not know how to fill fails the test until its tables learn it.
Every route's queries run on PostgreSQL in the walk as the other tenant and as A's own (the
first test below); what reads the OpenAPI tables or the answers' bodies alone runs on SQLite.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from route_walk import (
    BODIES,
    CONFLICT_BY_DESIGN,
    NEEDS_REGISTRY,
    OK,
    SIGNED,
    Call,
    Op,
    World,
    bearer,
    calls,
    created,
    detail,
    operations,
    send,
)

from aicc.services.common import utcnow
from aicc.store.tables.tenancy import TokenRow

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# Routes that are not about one tenant's object: B gets an answer, and the walk asserts that none
# of A's data is in it.
NOT_PER_TENANT: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness of the server: status, version, database kind, leadership",
    ("GET", "/api/v1/me"): "the caller itself, its organization and its projects",
    ("GET", "/api/v1/accelerators"): "the public accelerator catalog, the same for everyone",
    ("GET", "/api/v1/nodes"): "the center's shared hardware; a node belongs to no tenant",
    ("GET", "/api/v1/nodes/{name}"): "one node of the shared hardware, with its burn-in",
    ("GET", "/api/v1/nodes/{name}/power"): "a shared node's measured power, as its page shows",
    ("GET", "/api/v1/orgs"): "list: the caller's own organization only (all for center admins)",
    ("GET", "/api/v1/projects"): "list: the projects the caller may read",
    ("GET", "/api/v1/users"): "list: the caller (member) or the caller's organization (org_admin)",
    ("GET", "/api/v1/tokens"): "list: the caller's own tokens",
    ("GET", "/api/v1/s3-keys"): "list: the caller's own S3 access keys",
    ("POST", "/api/v1/s3-keys"): "makes an S3 access key of the caller's own",
    ("POST", "/api/v1/workdirs"): "stores bytes the caller sent, recorded for the caller's org",
    ("GET", "/api/v1/subsidies"): "list: programs for every organization or the caller's own",
    ("GET", "/api/v1/budgets"): "list: the budgets of the caller's organization or projects",
    ("GET", "/api/v1/notify/inbox"): "the caller's own inbox",
    ("POST", "/api/v1/notify/inbox/read"): "marks the caller's own inbox read",
    ("GET", "/api/v1/maintenance"): "maintenance windows: every tenant sees what is coming",
    ("GET", "/api/v1/maintenance/{window_id}"): "one window, the center's, shown to everyone",
    ("GET", "/api/v1/leases"): "list: the leases of the caller's own organization",
    ("GET", "/ga4gh/tes/v1/service-info"): "what the center's TES is: the same for everyone",
    ("GET", "/ga4gh/tes/v1/tasks"): "list: the TES tasks of the projects the caller reads",
}
# The catalog of needs and challenges is every tenant's (issue 41): B reads A's need and its
# challenge, asks, takes the challenge with a team of its own; what only the poster may do is a
# 403 (the need is visible), and A's unanswered question is a 404. A's name and its need's are
# public there; none of A's other data is.
CATALOG: dict[tuple[str, str], tuple[frozenset[int], str]] = {
    ("GET", "/api/v1/needs"): (OK, "the catalog of needs"),
    ("POST", "/api/v1/needs"): (frozenset({404}), "not into A's project"),
    ("GET", "/api/v1/needs/{need}"): (OK, "a need of the catalog"),
    ("POST", "/api/v1/needs/{need}/withdraw"): (frozenset({403}), "the poster's alone"),
    ("GET", "/api/v1/needs/{need}/questions"): (OK, "answered questions, and B's own"),
    ("POST", "/api/v1/needs/{need}/questions"): (OK, "anyone asks"),
    ("POST", "/api/v1/needs/{need}/questions/{question_id}/answer"): (
        frozenset({404}),
        "A's unanswered question is its asker's and the poster's",
    ),
    ("POST", "/api/v1/needs/{need}/challenge"): (frozenset({403}), "the poster's alone"),
    ("GET", "/api/v1/needs/{need}/reviews"): (OK, "a need's reviews are everyone's to read"),
    ("PUT", "/api/v1/needs/{need}/reviews"): (
        OK | {403},
        "B rates the need once it took part (asked, joined a team); before, a 403",
    ),
    ("GET", "/api/v1/needs/{need}/offers"): (OK, "none of them: an offer is its parties'"),
    ("POST", "/api/v1/needs/{need}/offers"): (frozenset({404}), "A's template is not B's to offer"),
    ("POST", "/api/v1/needs/{need}/offers/{offer_id}/{action}"): (
        frozenset({404}),
        "an offer is its provider's and the poster's alone",
    ),
    ("GET", "/api/v1/challenges"): (OK, "the catalog of challenges"),
    ("GET", "/api/v1/challenges/{challenge}"): (OK, "a challenge, without its hidden set"),
    ("POST", "/api/v1/challenges/{challenge}/join"): (OK, "B takes it as a team"),
    ("POST", "/api/v1/challenges/{challenge}/invite"): (OK | {409}, "into B's own team"),
    ("POST", "/api/v1/challenges/{challenge}/submissions"): (
        frozenset({404, 409}),
        "A's model is not B's to submit (409 before B joined)",
    ),
    ("GET", "/api/v1/challenges/{challenge}/submissions"): (OK, "B's own team's"),
    ("GET", "/api/v1/challenges/{challenge}/board"): (OK, "the public board"),
    ("POST", "/api/v1/challenges/{challenge}/award"): (frozenset({403}), "the poster's alone"),
    ("GET", "/api/v1/challenges/{challenge}/awards"): (OK, "awards are public once made"),
}
CATALOG_PUBLIC = frozenset({"org-alpha", "alpha-need"})
# Center-admin work: B's answer is a 403 (its role, in its own tenant), never 2xx.
ADMIN_ONLY: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/orgs"): "only center admins create organizations",
    ("POST", "/api/v1/nodes/import"): "only center admins add nodes",
    ("POST", "/api/v1/nodes/{name}/cordon"): "only center admins cordon nodes",
    ("POST", "/api/v1/nodes/{name}/uncordon"): "only center admins uncordon nodes",
    ("POST", "/api/v1/nodes/{name}/drain"): "only center admins drain nodes",
    ("POST", "/api/v1/nodes/{name}/burn-in"): "only center admins start a node's burn-in",
    ("GET", "/api/v1/nodes/{name}/bmc"): "a node's BMC (its address and user) is for operators",
    ("PUT", "/api/v1/nodes/{name}/bmc"): "only center admins name a node's BMC",
    ("DELETE", "/api/v1/nodes/{name}/bmc"): "only center admins forget a node's BMC",
    ("PUT", "/api/v1/nodes/{name}/power-limit"): "only center admins limit a node's power",
    ("PUT", "/api/v1/orgs/{org_id}/quota"): "only center admins share out the center",
    ("POST", "/api/v1/price-plans"): "only center admins set prices",
    ("POST", "/api/v1/vouchers"): "only center admins issue vouchers",
    ("POST", "/api/v1/subsidies"): "only center admins create subsidy programs",
    ("POST", "/api/v1/bills/issue"): "only center admins issue invoices",
    ("POST", "/api/v1/bills/adjustments"): "only center admins correct invoices",
    ("GET", "/api/v1/kpis/utilization"): "the center's utilization by pool is for operators",
    ("GET", "/api/v1/kpis/pue"): "the facility meters and measured PUE are the plant's",
    ("GET", "/api/v1/center/power-cap"): "the site's power and its cap are for operators",
    ("GET", "/api/v1/center/power-cap/openadr"): "the demand-response events are for operators",
    ("POST", "/api/v1/center/power-cap/events"): "only center admins cap the site's power",
    ("DELETE", "/api/v1/center/power-cap/events/{event_id}"): "only center admins clear caps",
    ("GET", "/api/v1/audit/verify"): "the whole audit chain is for the center's admins",
    ("PATCH", "/api/v1/orgs/{org_id}"): "only center admins say what kind of tenant an org is",
    ("GET", "/api/v1/reports/monthly"): "the center's monthly report is for its admins",
    ("GET", "/api/v1/reports/monthly.csv"): "the center's monthly report is for its admins",
    ("GET", "/api/v1/reports/monthly.pdf"): "the center's monthly report is for its admins",
    ("GET", "/api/v1/federation/sites"): "the federation's sites are for operators",
    ("GET", "/api/v1/federation/settlements"): "what the center owes other sites",
    ("POST", "/api/v1/federation/settlements/{settlement_id}/settle"): "paying another site",
    ("POST", "/api/v1/registry/resync"): "rebuilding the center registry's books",
    ("POST", "/api/v1/maintenance"): "only center admins announce maintenance windows",
    ("POST", "/api/v1/maintenance/{window_id}/cancel"): "only center admins cancel windows",
    ("POST", "/api/v1/leases"): "only center admins make leases",
    ("POST", "/api/v1/leases/{lease_id}/end"): "only center admins end leases",
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
    ("GET", "/ga4gh/tes/v1/service-info"): "GA4GH service-info: what a workflow engine asks first",
}
# Faces beside /api/v1 that take the same bearer tokens: GA4GH TES (issue 60)
AUTHENTICATED_PREFIXES = ("/api/v1/", "/ga4gh/tes/v1/")


def b_expects(op: Op, role: str) -> frozenset[int]:
    if op.key in SIGNED:
        return frozenset({401})  # a token is not a site's signature
    if op.key in NOT_PER_TENANT:
        return OK
    if op.key in CATALOG:
        return CATALOG[op.key][0]
    if op.key in ADMIN_ONLY:
        return frozenset({403, 404})
    if op.key in OWN_ORG_ADMIN:
        return OK if role == "org_admin" else frozenset({403})
    return frozenset({404})


@sqlite_only
def test_the_tables_name_only_routes_that_exist(api: TestClient) -> None:
    keys = {op.key for op in operations(api.app)}
    for table in (NOT_PER_TENANT, ADMIN_ONLY, OWN_ORG_ADMIN, PUBLIC, BODIES, OWNER_ONLY, SIGNED):
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
                public = CATALOG_PUBLIC if op.key in CATALOG else frozenset()
                world.check_answer(got, call, who, public=public)
                if got.status_code in OK or op.key in CATALOG:
                    continue  # a need is public: B may tell it from a missing one
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
                public = CATALOG_PUBLIC if op.key in CATALOG else frozenset()
                world.check_answer(got, call, who, public=public)
    assert walked >= 2 * len(ops)

    # B's attempts changed nothing of A: its tokens work, its job and secret are as they were.
    assert api.get("/api/v1/me", headers=world.a_victim).status_code == 200
    job = api.get(f"/api/v1/jobs/{a.job_id}", headers=world.a_member).json()
    assert job["state"] == "succeeded"
    names = api.get("/api/v1/secrets", headers=world.a_member).json()["items"]
    assert [s["name"] for s in names] == ["ALPHA_KEY"]
    audit = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    by_b = [e for e in audit if e["user_id"] in world.b_user_ids]
    # its own: the fixture's secret, the workdir it uploaded for its organization (once) and
    # an S3 key of each of its two users; in the catalog, its own need, question, team and
    # invitation
    catalog = ("need.create", "need.ask", "challenge.join", "challenge.invite", "review.put")
    assert sorted(e["action"] for e in by_b if e["action"] not in catalog) == [
        "s3_key.create",
        "s3_key.create",
        "secret.put",
        "workdir.upload",
    ]
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
    # so B's 404s are about who asks, not about a wrong id. Deletions last; an admin's reads
    # after its writes (a node's BMC is read once one is named).
    def ends(op: Op) -> bool:  # what ends an object goes after every other call on it
        return op.method == "DELETE" or op.path.endswith("/withdraw")

    def order(op: Op) -> tuple[bool, bool, bool]:
        admin = op.key in ADMIN_ONLY
        return ends(op), admin, admin and op.method == "GET"

    for op in sorted(ops, key=order):
        if op.key in SIGNED:
            continue  # no token is a site's signature: tests/api/test_federation_api.py
        owner = None if op.key in ADMIN_ONLY else world.a_admin
        for number, call in enumerate(calls(op, a)):
            if "idempotency-key" in call.headers:  # each of A's own submits is a new job
                call.headers["idempotency-key"] = f"a-control-{op.path}-{number}"
            got = send(api, call, owner)
            ok = OK | {409} if op.key in NEEDS_REGISTRY | CONFLICT_BY_DESIGN else OK
            assert got.status_code in ok, f"A: {op} answered {got.status_code}: {got.text[:500]}"
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
            assert op.path.startswith(AUTHENTICATED_PREFIXES), (
                f"{op} is outside /api/v1 and not PUBLIC"
            )

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
    # Which token a request carries is decided once for every route (api/deps.py's
    # current_user, a signature for SIGNED): every route on SQLite; on PostgreSQL, whose answer
    # to a revoked or expired token is its own, a route of each resource and each signed one.
    walked = ops if state.db.dialect == "sqlite" else _one_a_resource(ops)
    for what, auth in auths.items():
        for op in walked:
            if op.key in PUBLIC:
                continue
            for call in calls(op, world.a):
                got = send(anonymous, call, auth)
                assert got.status_code == 401, f"{op} with {what}: {got.status_code} {got.text}"
                scheme = "AICC-Signature" if op.key in SIGNED else "Bearer"
                assert got.headers.get("www-authenticate") == scheme
                world.check_answer(got, call, f"B ({what})")


def _one_a_resource(ops: list[Op]) -> list[Op]:
    """The first operation of each resource (`/api/v1/jobs...`, `/v1/files...`), and every
    signed one."""
    seen: set[str] = set()
    kept = []
    for op in ops:
        resource = "/".join(op.path.split("/")[:4])
        if op.key in SIGNED or resource not in seen:
            kept.append(op)
            seen.add(resource)
    return kept


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
    assert [j["id"] for j in listed] == [a.tes_task, a.job_id]  # a TES task is a job
    # A's org admin sees it; once a member of the project, so does the member.
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=world.a_admin).status_code == 200
    mine = api.get("/api/v1/jobs", headers=world.a_admin).json()["items"]
    assert {j["id"] for j in mine} == {a.job_id, a.tes_task, job["id"]}
    joined = api.post(
        f"/api/v1/projects/{research}/members",
        json={"user_id": a.user_id},
        headers=world.a_admin,
    )
    assert joined.status_code == 200
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=world.a_member).status_code == 200


@sqlite_only
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
