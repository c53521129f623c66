"""Service tiers through the gateway with the official `openai` client: a deployment whose one
replica is saturated answers every tier-1 request while tier 3 gets 429s with `Retry-After`;
the request log and `/metrics` carry the tier; tier 1 is the center admins' to give.
(The latency ratio under load is a benchmark, `benchmarks/gateway_tiers.py`, not timed here.)"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest

from aicc.testing.deployments import deploy
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

TIERS = {
    "per_replica": 1,
    "queue": {1: 50, 2: 10, 3: 2},
    "wait_s": {1: 60, 2: 30, 3: 1},
}
ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    home = tmp_path_factory.mktemp("tiers") / "home"
    with over_http(home, limits={"grace_s": 1.0}, gateway={"tiers": TIERS}) as (url, token, _):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        deploy(api, "busy", replicas=1, env={"UPSTREAM_DELAY_S": "0.3"})
        yield url, api


def _client(url: str, api: httpx.Client, name: str, tier: int) -> openai.OpenAI:
    made = api.post("/api/v1/keys", json={"name": name, "tier": tier})
    assert made.status_code == 201, made.text
    assert made.json()["tier"] == tier
    return openai.OpenAI(base_url=url + "/v1", api_key=made.json()["secret"], max_retries=0)


Answer = tuple[int, str | None, str | None]


def _saturate(gold: openai.OpenAI, bronze: openai.OpenAI, model: str) -> list[Answer]:
    """Eight `bronze` calls and four `gold` ones at once on a one-replica deployment: every gold
    call is answered, and the bronze calls refused (429) are returned."""

    def call(client: openai.OpenAI) -> Answer:
        try:
            client.chat.completions.create(model=model, messages=ASK)
            return 200, None, None
        except openai.RateLimitError as e:
            return 429, e.code, e.response.headers.get("retry-after")

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        bronzes = [pool.submit(call, bronze) for _ in range(8)]
        golds = [pool.submit(call, gold) for _ in range(4)]
        got_gold = [f.result() for f in golds]
        got_bronze = [f.result() for f in bronzes]

    assert got_gold == [(200, None, None)] * 4  # never refused, never starved
    refused = [r for r in got_bronze if r[0] == 429]
    assert refused, got_bronze  # one replica, a line of two for tier 3: the rest are refused
    assert all(code == "tier_saturated" and int(after or 0) >= 1 for _, code, after in refused)
    return refused


def test_saturated_tier_one_is_served_while_tier_three_gets_429s(
    center: tuple[str, httpx.Client],
) -> None:
    url, api = center
    gold, bronze = _client(url, api, "gold", 1), _client(url, api, "bronze", 3)
    refused = _saturate(gold, bronze, "busy")

    logged = api.get("/api/v1/requests", params={"deployment": "busy"}).json()["items"]
    assert {(r["key"], r["tier"]) for r in logged} == {("gold", 1), ("bronze", 3)}
    assert sorted(r["status"] for r in logged if r["key"] == "gold") == [200] * 4
    assert sum(1 for r in logged if r["status"] == 429) == len(refused)
    metrics = api.get("/metrics").text
    assert 'aicc_gateway_tier_request_seconds_count{deployment="busy"' in metrics
    assert 'aicc_gateway_tier_objective_seconds{tier="1"} 2.0' in metrics


def test_tier_one_is_the_center_admins_to_give(center: tuple[str, httpx.Client]) -> None:
    _, api = center
    member = make_tenant(api, "tiers-member")
    refused = api.post("/api/v1/keys", json={"name": "vip", "tier": 1}, headers=member.headers)
    assert refused.status_code == 403 and "tier 1" in refused.text
    bad = api.post("/api/v1/keys", json={"name": "odd", "tier": 4}, headers=member.headers)
    assert bad.status_code == 422 and "tier" in bad.text
    made = api.post("/api/v1/keys", json={"name": "plain"}, headers=member.headers)
    assert made.status_code == 201 and made.json()["tier"] == 2


def _plan(api: httpx.Client, org_id: str, api_tier: int) -> None:
    """An organization's price plan, in force since the last whole hour, with `api_tier`."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    body = {"org_id": org_id, "name": f"tier-{api_tier}", "effective_from": hour.isoformat()}
    made = api.post("/api/v1/price-plans", json={**body, "api_tier": api_tier})
    assert made.status_code == 201, made.text
    assert made.json()["api_tier"] == api_tier and "api_tier" in made.json()["given"]
    shown = api.get("/api/v1/price-plans/effective", params={"org": org_id}).json()
    assert shown["api_tier"] == api_tier


def test_a_plans_tier_goes_to_its_organizations_new_keys(
    center: tuple[str, httpx.Client],
) -> None:
    url, api = center
    planned, other = make_tenant(api, "tiers-planned"), make_tenant(api, "tiers-other")
    _plan(api, planned.org_id, 1)
    deploy(api, "planned", env={"UPSTREAM_DELAY_S": "0.3"}, headers=planned.headers)

    def key(tenant_headers: dict[str, str], name: str, tier: int | None = None) -> httpx.Response:
        body = {"name": name, **({"tier": tier} if tier else {})}
        return api.post("/api/v1/keys", json=body, headers=tenant_headers)

    # a member (no center admin) of the plan's organization: tier 1 without asking
    gold = key(planned.headers, "gold")
    assert gold.status_code == 201 and gold.json()["tier"] == 1, gold.text
    bronze = key(planned.headers, "bronze", 3)
    assert bronze.status_code == 201 and bronze.json()["tier"] == 3
    golden, brown = (
        openai.OpenAI(base_url=url + "/v1", api_key=made.json()["secret"], max_retries=0)
        for made in (gold, bronze)
    )
    _saturate(golden, brown, "planned")

    # another organization, no plan of its own: tier 2, and tier 1 stays the admins'
    plain = key(other.headers, "plain")
    assert plain.status_code == 201 and plain.json()["tier"] == 2
    assert key(other.headers, "vip", 1).status_code == 403

    # a plan of tier 3: its members' keys are tier 3 and may not be better
    _plan(api, other.org_id, 3)
    assert key(other.headers, "basic").json()["tier"] == 3
    better = key(other.headers, "better", 2)
    assert better.status_code == 403 and "tier 3 at best" in better.text


def test_an_accepted_offers_key_gets_the_posters_plan_tier(
    center: tuple[str, httpx.Client],
) -> None:
    """The key a need's poster gets on accepting a deployment offer has the tier the poster's
    plan gives (its organization pays for the key's requests), not tier 2 whatever it says."""
    url, api = center
    poster = make_tenant(api, "tiers-poster", role="org_admin")
    provider = make_tenant(api, "tiers-provider", role="org_admin")
    _plan(api, poster.org_id, 1)
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    need = {
        "name": "fast-answers",
        "title": "Answer fast",
        "problem": "Answers.",
        "deadline": deadline,
    }
    made = api.post("/api/v1/needs", json={**need, "metric": "accuracy"}, headers=poster.headers)
    assert made.status_code == 201, made.text
    deploy(api, "offered", headers=provider.headers)
    offers = "/api/v1/needs/fast-answers/offers"
    offer = api.post(
        f"{offers}?org=tiers-poster",
        json={"kind": "deployment", "ref": "offered", "price": "1"},
        headers=provider.headers,
    )
    assert offer.status_code == 201, offer.text
    accepted = api.post(f"{offers}/{offer.json()['id']}/accept", headers=poster.headers)
    assert accepted.status_code == 200, accepted.text
    client = openai.OpenAI(base_url=url + "/v1", api_key=accepted.json()["secret"], max_retries=0)
    client.chat.completions.create(model="offered", messages=ASK)
    logged = api.get(
        "/api/v1/requests", params={"deployment": "offered"}, headers=provider.headers
    ).json()["items"]
    assert [r["tier"] for r in logged] == [1]
