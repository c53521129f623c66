"""Every number and date of the resources beside jobs is bounded: out-of-range input gets a 422
naming the field, never a 500 (issue 16), on SQLite and PostgreSQL; the bounds themselves are
accepted and read back."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.testing.tenants import make_tenant

H = "T00:00:00+08:00"
BIG = 2**63  # one past int64

# The bounds that reach a column (int64, money, dates, cursors) are stored and read back on
# both databases; an estimate is priced in memory and a body that is not JSON is refused before
# any query: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def refused(answer: Any, field: str) -> str:
    """The answer is a 422 whose JSON names `field`; its text, for further checks."""
    assert answer.status_code == 422, answer.text
    assert field in answer.text, answer.text
    return str(answer.text)


def test_an_empty_idempotency_key_is_a_422_not_a_500(api: TestClient) -> None:
    spec = {"command": "true", "resources": {"cpu": "100m"}}
    for _ in range(2):  # the second one used to hit the unique index: IntegrityError
        answer = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": ""})
        refused(answer, "idempotency-key")
    first = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": "k1"})
    again = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


@sqlite_only
def test_estimate_amounts_beyond_any_model_or_not_numbers(api: TestClient) -> None:
    def estimate(**scenario: Any) -> Any:
        body = {
            "scenario": {"scenario": "llm-pretrain", "params": "1B", "tokens": "1B", **scenario}
        }
        return api.post("/api/v1/estimate", json=body)

    for value in (1e308, "1e308", 1e19):
        assert "at most 1e+18" in refused(estimate(params=value), "params")
    refused(estimate(tokens=1e308), "tokens")
    raw = b'{"scenario": {"scenario": "llm-pretrain", "params": NaN, "tokens": "1B"}}'
    answer = api.post("/api/v1/estimate", content=raw, headers={"Content-Type": "application/json"})
    refused(answer, "params")
    largest = estimate(params=1e18, tokens=1e18)  # the bounds themselves are priced, not a 500
    assert largest.status_code == 200 and largest.json()["flops"] == 6e36


def test_bills_of_a_month_outside_the_books_are_a_422(api: TestClient) -> None:
    org = make_tenant(api, "acme")
    for month in ("0000-01", "9999-12", "1969-12"):
        for path in ("/api/v1/bills", "/api/v1/bills/export", "/api/v1/usage"):
            refused(api.get(path, params={"month": month, "org": org.org_id}), "1970 to 9998")
        issue = api.post("/api/v1/bills/issue", json={"org_id": org.org_id, "month": month})
        refused(issue, "1970 to 9998")
    assert api.get("/api/v1/bills", params={"month": "1970-01"}).status_code == 200


def test_money_is_bounded_everywhere(api: TestClient) -> None:
    org = make_tenant(api, "acme")
    too_much = "less than or equal to 1000000000000"
    budget = api.put(f"/api/v1/projects/{org.project_id}/budget", json={"limit": 1e30})
    assert too_much in refused(budget, "limit")
    refused(api.put(f"/api/v1/orgs/{org.org_id}/budget", json={"limit": "1e30"}), "limit")
    voucher = {"org_id": org.org_id, "name": "v", "amount": 1e300}
    refused(api.post("/api/v1/vouchers", json=voucher), "amount")
    subsidy = {"name": "s", "rate": "0.5", "yearly_cap": 1e300}
    refused(api.post("/api/v1/subsidies", json=subsidy), "yearly_cap")
    plan = {"name": "p", "effective_from": "2026-01-01" + H, "accelerator_hour": {"A100": 1e300}}
    refused(api.post("/api/v1/price-plans", json=plan), "accelerator_hour")
    plan = {"name": "p", "effective_from": "2026-01-01" + H, "cpu_core_hour": "1e300"}
    refused(api.post("/api/v1/price-plans", json=plan), "cpu_core_hour")
    for amount in (1e30, -1e30):
        adjustment = {
            "org_id": org.org_id,
            "month": "2026-11",
            "amount": amount,
            "description": "x",
        }
        refused(api.post("/api/v1/bills/adjustments", json=adjustment), "amount")

    # the bound itself is money like any other
    most = "1000000000000"
    assert api.put(f"/api/v1/orgs/{org.org_id}/budget", json={"limit": most}).status_code == 200
    voucher = {"org_id": org.org_id, "name": "v", "amount": most}
    assert api.post("/api/v1/vouchers", json=voucher).json()["amount"] == most + ".00"
    budgets = api.get("/api/v1/budgets").json()["items"]
    assert [b["limit"] for b in budgets] == [most + ".00"]
    assert api.get("/api/v1/bills", params={"org": org.org_id}).status_code == 200


def test_dates_outside_the_books_are_a_422(api: TestClient) -> None:
    org = make_tenant(api, "acme")
    for day in ("0001-01-01", "9999-12-31"):
        voucher = {"org_id": org.org_id, "name": "v", "amount": "1", "valid_from": day}
        refused(api.post("/api/v1/vouchers", json=voucher), "valid_from")
        subsidy = {"name": "s", "rate": "0.5", "valid_until": day}
        refused(api.post("/api/v1/subsidies", json=subsidy), "valid_until")
        refused(api.get("/api/v1/kpis/utilization", params={"day": day}), "day")
    for at in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:00:00-08:00"):
        refused(api.post("/api/v1/price-plans", json={"effective_from": at}), "effective_from")
        refused(api.get("/api/v1/price-plans/effective", params={"at": at}), "at")
    naive = api.get("/api/v1/price-plans/effective", params={"at": "2026-01-01T00:00:00"})
    assert "timezone" in refused(naive, "at")
    aware = api.get("/api/v1/price-plans/effective", params={"at": "2026-01-01T00:00:00+08:00"})
    assert aware.status_code == 200
    for number in ("0.05", "1767225600"):  # the fuzzer's: pydantic read it as a Unix time
        bare = api.get("/api/v1/price-plans/effective", params={"at": number})
        assert "RFC 3339" in refused(bare, "at")


def test_queue_numbers_beyond_int64_are_a_422(api: TestClient) -> None:
    for field in ("priority", "max_running", "max_pending"):
        refused(api.post("/api/v1/queues", json={"name": "q", field: BIG}), field)
    for runtime in (str(BIG), "1e400", '"100000000000000000000000d"'):
        body = b'{"name": "q", "max_runtime": %s}' % runtime.encode()
        answer = api.post(
            "/api/v1/queues", content=body, headers={"Content-Type": "application/json"}
        )
        refused(answer, "max_runtime")
    most = 1_000_000
    body = {
        "name": "q",
        "priority": most,
        "max_running": most,
        "max_pending": most,
        "max_runtime": "3650d",
    }
    queue = api.post("/api/v1/queues", json=body)
    assert queue.status_code == 201, queue.text
    assert queue.json()["max_runtime_s"] == 3650 * 86400


def test_node_inventory_is_bounded(api: TestClient) -> None:
    def node(**fields: Any) -> dict[str, Any]:
        return {"nodes": [{"name": "n1", "cpu_milli": 1000, "memory_mib": 1024, **fields}]}

    refused(api.post("/api/v1/nodes/import", json=node(cpu_milli=10**25)), "cpu_milli")
    refused(api.post("/api/v1/nodes/import", json=node(memory_mib=10**25)), "memory_mib")
    devices = [{"model": "A100", "memory_mib": 10**25}]
    refused(api.post("/api/v1/nodes/import", json=node(devices=devices)), "memory_mib")
    labels = {f"k{i}": "v" for i in range(65)}
    refused(api.post("/api/v1/nodes/import", json=node(labels=labels)), "labels")
    refused(api.post("/api/v1/nodes/import", json=node(executor="x" * 33)), "executor")

    biggest = node(
        cpu_milli=100_000_000,
        memory_mib=1 << 30,
        devices=[{"model": "A100", "memory_mib": 1 << 24, "count": 8, "simulated": True}],
        labels={f"k{i}": "v" for i in range(64)},
    )
    answer = api.post("/api/v1/nodes/import", json=biggest)
    assert answer.status_code == 200, answer.text
    listed = {n["name"]: n for n in api.get("/api/v1/nodes").json()["items"]}
    assert listed["n1"]["cpu_milli"] == 100_000_000 and len(listed["n1"]["devices"]) == 8


def test_audit_cursor_beyond_int64_is_a_422(api: TestClient) -> None:
    for cursor in (BIG, 2**64):
        refused(api.get("/api/v1/audit", params={"cursor": cursor}), "cursor")
    assert api.get("/api/v1/audit", params={"cursor": BIG - 1}).status_code == 200


@sqlite_only
def test_a_422_echoing_nan_or_bytes_is_still_json(api: TestClient) -> None:
    raw = b'{"command": "true", "resources": {"cpu": NaN}}'
    answer = api.post("/api/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert '"input":"nan"' in refused(answer, "cpu")
    bytes_in = api.post("/api/v1/orgs", content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert refused(bytes_in, "body")
    inf = api.post(
        "/api/v1/estimate",
        content=b'{"scenario": {"scenario": "llm-pretrain", "params": "1B"}, "count": Infinity}',
        headers={"Content-Type": "application/json"},
    )
    assert "inf" in refused(inf, "count")
