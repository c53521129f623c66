"""Offers on a need (issue 41): a need answered without a challenge. A provider offers its
private template at a price for the poster alone, or its deployment at a price per 1,000
requests; the poster accepts, runs or calls it, and is charged while the provider is credited;
nobody else sees the offer or gets in; either side ends it and the way in closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from aicc.testing import templates
from aicc.testing.deployments import deploy
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

T = "/api/v1/templates"
NEED = {
    "name": "sort-mail",
    "title": "Sort the citizens' letters",
    "problem": "Route each letter to the office that answers it.",
    "metric": "accuracy",
}


def post_need(client: TestClient | httpx.Client, headers: dict[str, str] | None = None) -> None:
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    made = client.post("/api/v1/needs", json={**NEED, "deadline": deadline}, headers=headers or {})
    assert made.status_code == 201, made.text


def lines(client: Any, org_id: str, kind: str, headers: dict[str, str] | None = None) -> list[Any]:
    bill = client.get("/api/v1/bills", params={"org": org_id}, headers=headers or {})
    assert bill.status_code == 200, bill.text
    return [line for line in bill.json()["lines"] if line["kind"] == kind]


def kinds(client: Any, headers: dict[str, str]) -> list[str]:
    return [i["kind"] for i in client.get("/api/v1/notify/inbox", headers=headers).json()["items"]]


def test_a_template_offered_to_the_poster_alone(api: TestClient) -> None:
    city = make_tenant(api, "city", role="org_admin")
    pub = make_tenant(api, "publisher", role="org_admin")
    other = make_tenant(api, "other")
    post_need(api, city.headers)
    offers = "/api/v1/needs/sort-mail/offers?org=city"

    # The provider's template is private, at 12.50 a run to anyone it might be shared with.
    made = api.post(
        T, json={"files": templates.own("mean-of-y"), "price": "12.5"}, headers=pub.headers
    )
    assert made.status_code == 201, made.text
    ref = made.json()["ref"]
    assert api.post(f"{T}/{ref}/runs", json={}, headers=city.headers).status_code == 404

    # What an offer may not be: on one's own need, a built-in, or another tenant's template.
    own = api.post(
        "/api/v1/needs/sort-mail/offers",
        json={"kind": "template", "ref": ref, "price": "1"},
        headers=city.headers,
    )
    assert own.status_code == 409 and "its own need" in own.json()["detail"]
    builtin = api.post(
        offers, json={"kind": "template", "ref": "credit-risk", "price": "1"}, headers=pub.headers
    )
    assert builtin.status_code == 422 and "built-in" in builtin.json()["detail"]
    stolen = api.post(
        offers, json={"kind": "template", "ref": ref, "price": "1"}, headers=other.headers
    )
    assert stolen.status_code == 404, stolen.text

    offer = api.post(
        offers,
        json={"kind": "template", "ref": ref, "price": "2", "message": "Trained on mail."},
        headers=pub.headers,
    )
    assert offer.status_code == 201, offer.text
    oid = offer.json()["id"]
    assert offer.json()["state"] == "open" and offer.json()["unit"] == "run"
    assert offer.json()["price"] == "2.00" and offer.json()["target"] == ref
    again = api.post(
        offers, json={"kind": "template", "ref": ref, "price": "1"}, headers=pub.headers
    )
    assert again.status_code == 409

    # The offer is the poster's and the provider's: a third tenant sees none and reaches none.
    assert api.get(offers, headers=other.headers).json() == []
    assert (
        api.post(
            f"/api/v1/needs/sort-mail/offers/{oid}/accept?org=city", headers=other.headers
        ).status_code
        == 404
    )
    assert [o["id"] for o in api.get(offers, headers=city.headers).json()] == [oid]
    assert [o["id"] for o in api.get(offers, headers=pub.headers).json()] == [oid]
    refused = api.post(f"/api/v1/needs/sort-mail/offers/{oid}/accept?org=city", headers=pub.headers)
    assert refused.status_code == 403 and "poster" in refused.json()["detail"]
    assert "need.offer" in kinds(api, city.headers)

    accepted = api.post(f"/api/v1/needs/sort-mail/offers/{oid}/accept", headers=city.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted" and accepted.json()["secret"] is None
    assert "need.offer_accepted" in kinds(api, pub.headers)
    twice = api.post(f"/api/v1/needs/sort-mail/offers/{oid}/accept", headers=city.headers)
    assert twice.status_code == 409

    # The city now finds the template at its own price and runs it; nobody else can.
    seen = {t["ref"]: t for t in api.get(T, headers=city.headers).json()["items"]}
    assert seen[ref]["price"] == "2.00"
    run = api.post(f"{T}/{ref}/runs", json={"model": "mail-sorter"}, headers=city.headers)
    assert run.status_code == 201, run.text
    assert api.post(f"{T}/{ref}/runs", json={}, headers=other.headers).status_code == 404
    charged = lines(api, city.org_id, "adjustment")
    credited = lines(api, pub.org_id, "adjustment")
    assert [Decimal(x["net"]) for x in charged] == [Decimal("2.00")]
    assert [Decimal(x["net"]) for x in credited] == [Decimal("-2.00")]
    assert api.get(offers, headers=city.headers).json()[0]["used"] == 1

    # Either side ends it: the grant is gone, the run that was made stays billed.
    ended = api.post(f"/api/v1/needs/sort-mail/offers/{oid}/end?org=city", headers=pub.headers)
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert api.post(f"{T}/{ref}/runs", json={}, headers=city.headers).status_code == 404
    assert len(lines(api, city.org_id, "adjustment")) == 1

    # A declined offer and a withdrawn one grant nothing.
    second = api.post(
        offers, json={"kind": "template", "ref": ref, "price": "1"}, headers=pub.headers
    )
    assert second.status_code == 201, second.text
    sid = second.json()["id"]
    withdrawn = api.post(
        f"/api/v1/needs/sort-mail/offers/{sid}/withdraw?org=city", headers=pub.headers
    )
    assert withdrawn.json()["state"] == "withdrawn"
    late = api.post(f"/api/v1/needs/sort-mail/offers/{sid}/accept", headers=city.headers)
    assert late.status_code == 409 and "withdrawn" in late.json()["detail"]
    bad = api.post(f"/api/v1/needs/sort-mail/offers/{sid}/approve", headers=city.headers)
    assert bad.status_code == 422
    assert api.post(f"{T}/{ref}/runs", json={}, headers=city.headers).status_code == 404


def test_a_deployment_offered_per_thousand_requests(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home", limits={"grace_s": 1.0}) as (url, token, _state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        city = make_tenant(api, "city", role="org_admin")
        pub = make_tenant(api, "provider", role="org_admin")
        post_need(api, city.headers)
        offers = "/api/v1/needs/sort-mail/offers"
        deploy(api, "letters", headers=pub.headers)
        deploy(api, "internal", headers=pub.headers)
        offer = api.post(
            f"{offers}?org=city",
            json={"kind": "deployment", "ref": "letters", "price": "100"},
            headers=pub.headers,
        )
        assert offer.status_code == 201, offer.text
        oid = offer.json()["id"]
        assert offer.json()["unit"] == "1k_requests"
        assert offer.json()["target"].endswith("/letters")

        accepted = api.post(f"{offers}/{oid}/accept", headers=city.headers)
        assert accepted.status_code == 200, accepted.text
        secret = accepted.json()["secret"]
        assert secret.startswith("aicc-sk-")
        assert api.get(f"{offers}", headers=city.headers).json()[0]["secret"] is None

        # The key calls the offered deployment, and no other of the provider's.
        key = {"Authorization": f"Bearer {secret}"}
        body = {"model": "letters", "messages": [{"role": "user", "content": "where to"}]}
        for _ in range(3):
            answered = httpx.post(f"{url}/v1/chat/completions", json=body, headers=key, timeout=60)
            assert answered.status_code == 200, answered.text
        models = httpx.get(f"{url}/v1/models", headers=key, timeout=30).json()["data"]
        assert [m["id"] for m in models] == ["letters"]
        other = httpx.post(
            f"{url}/v1/chat/completions",
            json={**body, "model": "internal"},
            headers=key,
            timeout=60,
        )
        assert other.status_code in (403, 404), other.text

        # Three requests at 100 per 1,000: 0.30 on the poster's bill, back on the provider's.
        wait(
            "the requests in the log",
            lambda: api.get(offers, headers=city.headers).json()[0]["used"] == 3 or None,
            timeout=30,
        )
        (charge,) = lines(api, city.org_id, "need_offer", city.headers)
        (credit,) = lines(api, pub.org_id, "need_offer_credit", pub.headers)
        assert (Decimal(charge["net"]), Decimal(credit["net"])) == (
            Decimal("0.30"),
            Decimal("-0.30"),
        )
        assert charge["reference"] == oid and Decimal(charge["quantity"]) == Decimal("0.003")

        # The poster ends it: the key no longer opens anything.
        ended = api.post(f"{offers}/{oid}/end", headers=city.headers)
        assert ended.status_code == 200 and ended.json()["state"] == "ended"
        refused = httpx.post(f"{url}/v1/chat/completions", json=body, headers=key, timeout=60)
        assert refused.status_code == 401, refused.text
