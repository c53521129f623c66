"""Price plans, vouchers, subsidies and budgets through the API (SQLite and PostgreSQL): plan
versions in force at each hour, the estimate under a tenant's plan and credits, and tenants
that cannot see each other's books."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from fastapi.testclient import TestClient

from aicc.testing.tenants import Tenant, make_tenant

H = "T00:00:00+08:00"
SCENARIO = {"scenario": "llm-pretrain", "params": "1B", "tokens": "1B"}


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_plan_versions_and_an_organizations_discount(api: TestClient) -> None:
    org = make_tenant(api, "acme", role="org_admin")
    center = {
        "name": "list-2026",
        "effective_from": "2026-01-01" + H,
        "accelerator_hour": {"A100": "12.00"},
        "pflops_hour": "9.50",
        "cpu_core_hour": "0.10",
    }
    assert api.post("/api/v1/price-plans", json=center).status_code == 201
    later = {**center, "effective_from": "2026-07-01" + H, "accelerator_hour": {"A100": "10"}}
    assert api.post("/api/v1/price-plans", json=later).status_code == 201
    deal = {
        "org_id": org.org_id,
        "name": "acme-deal",
        "effective_from": "2026-03-01" + H,
        "accelerator_hour": {"H100": "25.00"},
        "discount": "0.10",
    }
    assert api.post("/api/v1/price-plans", json=deal).status_code == 201

    def at(when: str, who: Tenant | None = None) -> dict:
        headers = who.headers if who else {}
        query = {"at": when} if who else {"at": when, "org": org.org_id}
        answer = api.get("/api/v1/price-plans/effective", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    feb = at("2026-02-15T12:00:00+08:00")
    assert feb["accelerator_hour"] == {"A100-80GB": "12.00"} and feb["discount"] == "0"
    may = at("2026-05-01T00:00:00+08:00", org)
    assert may["accelerator_hour"] == {"A100-80GB": "12.00", "H100-SXM": "25.00"}
    assert (may["discount"], may["pflops_hour"], may["cpu_core_hour"]) == ("0.10", "9.50", "0.10")
    aug = at("2026-08-01T00:00:00+08:00", org)
    assert aug["accelerator_hour"]["A100-80GB"] == "10" and len(aug["versions"]) == 2

    # only center admins set prices; plans start on whole hours; models must exist
    assert api.post("/api/v1/price-plans", json=center, headers=org.headers).status_code == 403
    odd = {**center, "effective_from": "2026-09-01T00:30:00+08:00"}
    assert api.post("/api/v1/price-plans", json=odd).status_code == 422
    bad = {**center, "effective_from": "2026-10-01" + H, "accelerator_hour": {"H10O": "1"}}
    answer = api.post("/api/v1/price-plans", json=bad)
    assert answer.status_code == 422 and "H10O" in answer.text
    again = api.post("/api/v1/price-plans", json=center)
    assert again.status_code == 409


def test_the_estimate_uses_the_tenants_plan_discount_subsidy_and_voucher(api: TestClient) -> None:
    org = make_tenant(api, "lab")
    plan = {
        "org_id": org.org_id,
        "effective_from": "2020-01-01" + H,
        "accelerator_hour": {"A100": "10.00"},
        "discount": "0.2",
    }
    assert api.post("/api/v1/price-plans", json=plan).status_code == 201
    subsidy = {"name": "city", "org_id": org.org_id, "rate": "0.5", "yearly_cap": "1000000"}
    assert api.post("/api/v1/subsidies", json=subsidy).status_code == 201
    voucher = {"org_id": org.org_id, "name": "welcome", "amount": "5.00"}
    assert api.post("/api/v1/vouchers", json=voucher).status_code == 201
    body = {"scenario": SCENARIO, "accelerator": ["A100"], "count": 1}
    answer = api.post("/api/v1/estimate", json=body, headers=org.headers)
    assert answer.status_code == 200, answer.text
    (option,) = answer.json()["options"]
    gross = cents(Decimal(str(option["accelerator_hours"])) * 10)
    discount = cents(gross * Decimal("0.2"))
    subsidy_amount = cents((gross - discount) * Decimal("0.5"))
    voucher_amount = min(Decimal("5.00"), gross - discount - subsidy_amount)
    assert [Decimal(option[k]) for k in ("gross", "discount", "subsidy", "voucher", "net")] == [
        gross,
        discount,
        subsidy_amount,
        voucher_amount,
        gross - discount - subsidy_amount - voucher_amount,
    ]


def test_tenants_cannot_see_each_others_vouchers_or_budgets(
    api: TestClient, tenant_b: Tenant
) -> None:
    a = make_tenant(api, "tenant-a", role="org_admin")
    voucher = {"org_id": tenant_b.org_id, "name": "b-credit", "amount": "100"}
    made = api.post("/api/v1/vouchers", json=voucher)
    assert made.status_code == 201, made.text
    b_voucher = made.json()["id"]
    limit = {"limit": "500.00", "thresholds": [0.5, 1.0]}
    b_budget = api.put(f"/api/v1/projects/{tenant_b.project_id}/budget", json=limit)
    assert b_budget.status_code == 200, b_budget.text
    assert b_budget.json()["left"] == "500.00"
    own = api.put(f"/api/v1/projects/{a.project_id}/budget", json=limit, headers=a.headers)
    assert own.status_code == 200, own.text

    # B sees its own; A sees neither B's voucher nor B's budget, and cannot touch them
    assert [
        v["id"] for v in api.get("/api/v1/vouchers", headers=tenant_b.headers).json()["items"]
    ] == [b_voucher]
    assert api.get("/api/v1/vouchers", headers=a.headers).json()["items"] == []
    assert api.get(f"/api/v1/vouchers/{b_voucher}", headers=a.headers).status_code == 404
    assert (
        api.get("/api/v1/vouchers", params={"org": tenant_b.org_id}, headers=a.headers).status_code
        == 404
    )
    budgets = api.get("/api/v1/budgets", headers=a.headers).json()["items"]
    assert [b["project_id"] for b in budgets] == [a.project_id]
    assert (
        api.put(
            f"/api/v1/projects/{tenant_b.project_id}/budget", json=limit, headers=a.headers
        ).status_code
        == 404
    )
    assert (
        api.delete(f"/api/v1/budgets/{b_budget.json()['id']}", headers=a.headers).status_code == 404
    )
    # a member of B reads B's budget but may not change it
    assert len(api.get("/api/v1/budgets", headers=tenant_b.headers).json()["items"]) == 1
    denied = api.put(
        f"/api/v1/projects/{tenant_b.project_id}/budget", json=limit, headers=tenant_b.headers
    )
    assert denied.status_code == 403
    # nor B's bills, usage or invoices
    for path in ("/api/v1/bills", "/api/v1/bills/export", "/api/v1/invoices", "/api/v1/usage"):
        answer = api.get(path, params={"org": tenant_b.org_id}, headers=a.headers)
        assert answer.status_code == 404, (path, answer.text)
    b_bill = api.get("/api/v1/bills", params={"project": tenant_b.project_id}, headers=a.headers)
    assert b_bill.status_code == 404
    assert api.get("/api/v1/bills", headers=tenant_b.headers).json()["org_id"] == tenant_b.org_id
    # vouchers and subsidies are issued by the center only
    own_voucher = {"org_id": a.org_id, "name": "self", "amount": "1"}
    assert api.post("/api/v1/vouchers", json=own_voucher, headers=a.headers).status_code == 403
