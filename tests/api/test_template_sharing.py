"""Tenants publish templates (private, org, public; versions; a per-use price), rate and review
templates and models, and the catalog shows ratings and use counts; a run of another
organization's paid template is charged to the runner and credited to the publisher once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.services.models import models
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing import templates
from aicc.testing.tenants import Tenant, make_tenant

T = "/api/v1/templates"


def catalog(api: TestClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    items = api.get(T, params=params, headers=headers).json()["items"]
    return {t["ref"]: t for t in items}


def adjustments(api: TestClient, org_id: str, month: str | None = None) -> list[dict[str, Any]]:
    bill = api.get("/api/v1/bills", params={"org": org_id, **({"month": month} if month else {})})
    assert bill.status_code == 200, bill.text
    return [line for line in bill.json()["lines"] if line["kind"] == "adjustment"]


def test_publish_share_run_and_review(api: TestClient, tenant_b: Tenant) -> None:
    pub = make_tenant(api, "publisher", role="org_admin")
    files = templates.own("mean-of-y")

    # A malformed manifest is a 422 naming the field; a missing script names the file.
    broken = dict(files, **{"template.yaml": files["template.yaml"].replace("general", "mining")})
    bad = api.post(T, json={"files": broken}, headers=pub.headers)
    assert bad.status_code == 422 and "industry" in bad.json()["detail"], bad.text
    lacking = {k: v for k, v in files.items() if k != "predict.py"}
    bad = api.post(T, json={"files": lacking}, headers=pub.headers)
    assert bad.status_code == 422 and "predict.py" in bad.json()["detail"]
    clash = templates.own("credit-risk")
    assert api.post(T, json={"files": clash}, headers=pub.headers).status_code == 409

    # A malformed data set reference to match the catalog against is a 422 saying what to write.
    bad = api.get(T, params={"data": "Bad Name\x01"}, headers=pub.headers)
    assert bad.status_code == 422 and "lower-case letters" in bad.json()["detail"], bad.text

    # Published private: the publisher's catalog has it, another tenant's does not.
    made = api.post(T, json={"files": files, "price": "12.5"}, headers=pub.headers)
    assert made.status_code == 201, made.text
    ref = made.json()["ref"]
    assert ref == "publisher/default/mean-of-y@1" or ref.endswith("/mean-of-y@1")
    assert made.json()["price"] == "12.50" and made.json()["visibility"] == "private"
    assert ref in catalog(api, pub.headers)
    assert ref not in catalog(api, tenant_b.headers)
    assert api.get(f"{T}/mean-of-y", headers=tenant_b.headers).status_code == 404
    run = api.post(f"{T}/mean-of-y/runs", json={}, headers=tenant_b.headers)
    assert run.status_code == 404

    # Public (an org admin): B finds it by task and words, with its price, and may run it...
    changed = dict(files, **{"train.py": files["train.py"] + "# v2\n"})
    v2 = api.post(T, json={"files": changed, "visibility": "public"}, headers=pub.headers)
    assert v2.status_code == 201 and v2.json()["version"] == 2
    seen = catalog(api, tenant_b.headers, task="tabular-regression", q="mean")
    entry = seen[v2.json()["ref"]]
    assert entry["price"] == "12.50" and entry["uses"] == 0 and not entry["writable"]
    assert "credit-risk" not in seen  # a classification built-in is filtered out
    bad_hp = api.post(
        f"{T}/mean-of-y/runs", json={"params": {"shrink": 7}}, headers=tenant_b.headers
    )
    assert bad_hp.status_code == 422 and "shrink" in bad_hp.json()["detail"]
    into = {"model": "b-mean"}  # a run's model is named like the template unless told
    job = api.post(f"{T}/mean-of-y/runs", json=into, headers=tenant_b.headers)
    assert job.status_code == 201, job.text
    older = api.post(f"{T}/mean-of-y@1/runs", json=into, headers=tenant_b.headers)
    assert older.status_code == 201, older.text

    # ...but not change it: a delete is a 403 (it reads it), a push of B's lands in B's project.
    refused = api.delete(f"{T}/mean-of-y", headers=tenant_b.headers)
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    mine = api.post(T, json={"files": files}, headers=tenant_b.headers)
    assert mine.status_code == 201, mine.text
    mine = mine.json()
    assert mine["ref"] != ref and mine["ref"].endswith("/mean-of-y@1") and mine["writable"]

    # Two runs: two uses, two charges to B and two credits to the publisher, of 12.50 each.
    listed = catalog(api, pub.headers)
    assert listed[v2.json()["ref"]]["uses"] == 2
    charged = adjustments(api, tenant_b.org_id)
    credited = adjustments(api, pub.org_id)
    assert [Decimal(line["net"]) for line in charged] == [Decimal("12.50")] * 2
    assert [Decimal(line["net"]) for line in credited] == [Decimal("-12.50")] * 2
    for line in charged + credited:
        assert job.json()["id"] in line["description"] or older.json()["id"] in line["description"]
    # The publisher's own runs are free; built-ins are free.
    own = api.post(f"{T}/mean-of-y/runs", json={}, headers=pub.headers)
    assert own.status_code == 201, own.text
    builtin = api.post(f"{T}/credit-risk/runs", json={}, headers=tenant_b.headers)
    assert builtin.status_code == 201, builtin.text
    assert len(adjustments(api, tenant_b.org_id)) == 2 and len(adjustments(api, pub.org_id)) == 2

    # Ratings and reviews: one per user, the second replaces the first; bounded; 1 to 5. B has
    # a mean-of-y of its own now: the publisher's is named in full.
    public = v2.json()["ref"].split("@")[0]
    assert (
        api.put(f"{T}/mean-of-y/reviews", json={"rating": 6}, headers=tenant_b.headers).status_code
        == 422
    )
    long = {"rating": 3, "text": "x" * 2001}
    assert api.put(f"{T}/mean-of-y/reviews", json=long, headers=tenant_b.headers).status_code == 422
    first = {"rating": 2, "text": "slow"}
    assert api.put(f"{T}/{public}/reviews", json=first, headers=tenant_b.headers).status_code == 200
    again = {"rating": 4, "text": "good after all"}
    assert api.put(f"{T}/{public}/reviews", json=again, headers=tenant_b.headers).status_code == 200
    assert (
        api.put(f"{T}/mean-of-y/reviews", json={"rating": 5}, headers=pub.headers).status_code
        == 200
    )
    shown = api.get(f"{T}/mean-of-y/reviews", headers=pub.headers).json()
    assert shown["rating"] == 4.5 and shown["ratings"] == 2
    assert sorted(r["text"] for r in shown["reviews"]) == ["", "good after all"]
    entry = catalog(api, tenant_b.headers)[v2.json()["ref"]]
    assert (entry["rating"], entry["ratings"], entry["uses"]) == (4.5, 2, 3)  # 2 of B, 1 own
    assert (
        api.put(
            f"{T}/credit-risk/reviews", json={"rating": 5}, headers=tenant_b.headers
        ).status_code
        == 200
    )
    assert catalog(api, pub.headers)["credit-risk"]["ratings"] == 1

    # A private template of another tenant cannot be reviewed (404), nor its reviews read.
    hidden = api.put(f"{T}/mean-of-y/reviews", json={"rating": 1}, headers=pub.headers)
    assert hidden.status_code == 200  # the publisher's own (public) one
    private = templates.own("secret-mean")
    assert api.post(T, json={"files": private}, headers=pub.headers).status_code == 201
    for method in ("get", "put"):
        answer = api.request(
            method, f"{T}/secret-mean/reviews", json={"rating": 1}, headers=tenant_b.headers
        )
        assert answer.status_code == 404


def test_a_credit_after_the_month_was_issued_goes_on_the_next(
    api: TestClient, tenant_b: Tenant
) -> None:
    seller = make_tenant(api, "seller", role="org_admin")
    files = templates.own("paid-mean")
    body = {"files": files, "price": "3", "visibility": "public"}
    assert api.post(T, json=body, headers=seller.headers).status_code == 201
    month = api.get("/api/v1/bills", params={"org": seller.org_id}).json()["period"]
    issued = api.post("/api/v1/bills/issue", json={"org_id": seller.org_id, "month": month})
    assert issued.status_code == 200, issued.text
    run = api.post(f"{T}/paid-mean/runs", json={}, headers=tenant_b.headers)
    assert run.status_code == 201, run.text
    # The buyer's month is open: charged now. The seller's is issued: credited on the next.
    assert [line["net"] for line in adjustments(api, tenant_b.org_id)] == ["3.00"]
    assert adjustments(api, seller.org_id, month) == []
    year, number = int(month[:4]), int(month[5:])
    following = f"{year + number // 12:04d}-{number % 12 + 1:02d}"
    assert [line["net"] for line in adjustments(api, seller.org_id, following)] == ["-3.00"]


def test_a_retried_run_is_one_run_charged_once(api: TestClient, tenant_b: Tenant) -> None:
    seller = make_tenant(api, "retried-seller", role="org_admin")
    files = templates.own("retried-mean")
    body = {"files": files, "price": "2", "visibility": "public"}
    assert api.post(T, json=body, headers=seller.headers).status_code == 201
    keyed = {**tenant_b.headers, "Idempotency-Key": "run-once"}
    first = api.post(f"{T}/retried-mean/runs", json={}, headers=keyed)
    assert first.status_code == 201, first.text
    again = api.post(f"{T}/retried-mean/runs", json={}, headers=keyed)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert [line["net"] for line in adjustments(api, tenant_b.org_id)] == ["2.00"]
    assert [line["net"] for line in adjustments(api, seller.org_id)] == ["-2.00"]
    uses = [
        t["uses"] for ref, t in catalog(api, tenant_b.headers).items() if "retried-mean@" in ref
    ]
    assert uses == [1]
    # The same key for a different run is refused, saying what to do.
    other = api.post(f"{T}/retried-mean/runs", json={"params": {"shrink": 0.25}}, headers=keyed)
    assert other.status_code == 422 and "new key" in other.json()["detail"], other.text


def test_models_are_rated_by_their_readers_only(
    server: tuple[TestClient, AppState], tenant_b: Tenant
) -> None:
    api, state = server
    with state.db.session() as session:
        user = session.get(UserRow, tenant_b.user_id)
        assert user is not None
        who = principal_of(session, user)
        models.register(session, who, state.chunks, "b-model", [("model/w.bin", b"w")])
    url = "/api/v1/models/b-model/reviews"
    assert (
        api.put(url, json={"rating": 5, "text": "a"}, headers=tenant_b.headers).status_code == 200
    )
    assert api.put(url, json={"rating": 0}, headers=tenant_b.headers).status_code == 422
    other = make_tenant(api, "stranger")
    assert api.put(url, json={"rating": 1}, headers=other.headers).status_code == 404
    assert api.get(url, headers=other.headers).status_code == 404
    shown = api.get(url, headers=tenant_b.headers).json()
    assert (shown["rating"], shown["ratings"]) == (5.0, 1)
    assert [(r["user"], r["text"]) for r in shown["reviews"]] == [("tenant-b-user", "a")]
