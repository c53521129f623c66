"""Bills, vouchers and budgets (`/bills`) and the operators' price list (`/center/prices`)
through TestClient: each tenant sees only its own organization's, operators see all and can
narrow by organization, the CSV is the API's, the voucher form needs its CSRF token, and an
invoice and a job show their energy and carbon."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from portal_support import (
    TERMINAL,
    Person,
    csrf_of,
    operator,
    signed_in,
    submit,
    wait_job,
    wait_usage,
)

from aicc.api.state import AppState
from aicc.core import periods
from aicc.services.common import utcnow
from aicc.store.tables.billing import UsageRow


@pytest.fixture(scope="module", autouse=True)
def priced(site: tuple[TestClient, AppState]) -> None:
    api, _ = site
    start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    plan = {"name": "center-bills", "effective_from": start.isoformat(), "pflops_hour": "9.50"}
    assert api.post("/api/v1/price-plans", json=plan).status_code == 201


def credits_for(api: TestClient, person: Person, tag: str) -> None:
    """A voucher, a subsidy and a project budget of the person's own, named after `tag`."""
    voucher = {"org_id": person.org_id, "name": f"{tag}-voucher", "amount": "500"}
    assert api.post("/api/v1/vouchers", json=voucher).status_code == 201, tag
    subsidy = {"org_id": person.org_id, "name": f"{tag}-subsidy", "rate": "0.5"}
    assert api.post("/api/v1/subsidies", json=subsidy).status_code == 201
    budget = {"limit": "1234", "thresholds": [0.5, 0.9]}
    answer = api.put(f"/api/v1/projects/{person.project_id}/budget", json=budget)
    assert answer.status_code == 200, answer.text


def test_a_tenant_sees_its_own_bills_only(api: TestClient, alice: Person, bob: Person) -> None:
    credits_for(api, alice, "acme")
    credits_for(api, bob, "globex")
    page = signed_in(api, alice).get("/bills")
    assert page.status_code == 200
    text = page.text
    assert "acme-voucher" in text and "500.00" in text and "acme-subsidy" in text
    assert "1,234.00" in text and "50%" in text and "90%" in text
    assert "globex" not in text and bob.org_id not in text
    assert 'id="spend-chart"' in text and "data-chart=" in text
    assert "Download CSV" in text and "Draft" in text
    other = signed_in(api, bob).get("/bills")
    assert "globex-voucher" in other.text and "acme" not in other.text


def test_invoice_lines_name_their_items_and_units_in_words(api: TestClient, alice: Person) -> None:
    half = {"cpu": "100m", "memory": "64MiB", "accelerator": {"milli": 500}}
    job = submit(api, alice, command="true", resources=half)
    wait_job(api, alice, job["id"], TERMINAL)
    wait_usage(api, alice, job["id"])
    client = signed_in(api, alice)
    text = client.get("/bills").text
    assert "A100-80GB accelerator time" in text and "PFLOPS·h" in text
    assert "accelerator:A100-80GB" not in text and "pflops_hour" not in text
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    chinese = client.get("/bills").text
    assert "A100-80GB 加速卡时长" in chinese and "PFLOPS·时" in chinese
    csv = client.get("/bills/export").text
    assert "accelerator:A100-80GB" in csv  # the file keeps the API's codes


def test_the_org_filter_is_for_operators_only(api: TestClient, alice: Person, bob: Person) -> None:
    credits_for(api, bob, "initech")
    client = signed_in(api, alice)
    page = client.get(f"/bills?org={bob.org_id}")  # ignored for a tenant: still its own
    assert page.status_code == 200 and "initech" not in page.text
    csv = client.get(f"/bills/export?org={bob.org_id}")
    assert csv.status_code == 404 and "initech" not in csv.text
    assert client.get("/bills?month=not-a-month").status_code == 200


def test_the_csv_is_the_apis(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    mine = client.get("/bills/export")
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
    assert mine.text.splitlines()[0].startswith("invoice,org_id,period,status")
    assert alice.org_id in mine.text and "attachment" in mine.headers["content-disposition"]
    from_api = api.get("/api/v1/bills/export", headers=alice.headers)
    assert mine.text == from_api.text
    assert client.get("/bills/export?month=2026-13").status_code == 422


def test_operators_see_every_organization_and_can_narrow(
    api: TestClient, alice: Person, bob: Person
) -> None:
    credits_for(api, alice, "umbrella")
    credits_for(api, bob, "cyberdyne")
    client = operator(api)
    everything = client.get("/bills")
    assert "umbrella-voucher" in everything.text and "cyberdyne-voucher" in everything.text
    assert "Choose an organization to see its invoice." in everything.text
    narrowed = client.get(f"/bills?org={alice.org_id}")
    assert "umbrella-voucher" in narrowed.text and "cyberdyne-voucher" not in narrowed.text
    assert "Draft" in narrowed.text
    assert client.get("/bills?org=org_nope").status_code == 404


def test_the_price_list_is_for_operators(api: TestClient, alice: Person) -> None:
    assert signed_in(api, alice).get("/center/prices").status_code == 403
    client = operator(api)
    page = client.get("/center/prices")
    assert page.status_code == 200 and "center-bills" in page.text and "9.50" in page.text
    csrf = csrf_of(client, "/center/prices")
    form = {"org_id": alice.org_id, "name": "welcome-credit", "amount": "300", "currency": "CNY"}
    assert client.post("/center/prices/vouchers", data=form).status_code == 400
    bad = client.post("/center/prices/vouchers", data={**form, "csrf": csrf, "amount": "-5"})
    assert bad.status_code == 422 and 'id="voucher-amount-error"' in bad.text
    window = {"valid_from": str(date.today()), "valid_until": str(date.today() - timedelta(days=1))}
    backwards = client.post("/center/prices/vouchers", data={**form, "csrf": csrf, **window})
    assert backwards.status_code == 422 and "valid_until is before valid_from" in backwards.text
    made = client.post(
        "/center/prices/vouchers", data={**form, "csrf": csrf}, follow_redirects=False
    )
    assert made.status_code == 303
    assert "welcome-credit" in client.get(made.headers["location"]).text
    assert "welcome-credit" in signed_in(api, alice).get("/bills").text


# --- the dashboard's card: this month's spend against the tightest budget ---


def test_the_dashboard_shows_spend_against_the_tightest_budget(
    api: TestClient, alice: Person, bob: Person
) -> None:
    org_budget = {"limit": "5000"}
    assert api.put(f"/api/v1/orgs/{alice.org_id}/budget", json=org_budget).status_code == 200
    budget = {"limit": "1234"}
    assert api.put(f"/api/v1/projects/{alice.project_id}/budget", json=budget).status_code == 200
    secret = {"limit": "4321"}
    assert api.put(f"/api/v1/projects/{bob.project_id}/budget", json=secret).status_code == 200
    text = signed_in(api, alice).get("/").text
    assert 'id="spend-title"' in text and "Spend this month" in text and 'href="/bills"' in text
    assert "0.00" in text and "1,234.00" in text and "<meter" in text  # the project's: tighter
    assert "5,000.00" not in text and "No budget is set" not in text
    assert "4,321.00" not in text and bob.org_id not in text  # another tenant's spend
    bob_sees = signed_in(api, bob)
    choose = {"csrf": csrf_of(bob_sees), "language": "zh-CN", "next": "/"}
    assert bob_sees.post("/language", data=choose).status_code == 200
    theirs = bob_sees.get("/").text
    assert "本月支出" in theirs and "4,321.00" in theirs and "1,234.00" not in theirs


def test_without_a_budget_the_dashboard_shows_the_spend_alone(
    api: TestClient, alice: Person
) -> None:
    text = signed_in(api, alice).get("/").text
    assert "Spend this month" in text and "No budget is set for you" in text
    assert "<meter" not in text and 'href="/bills"' in text


def test_operators_have_no_spend_card(api: TestClient) -> None:
    assert 'id="spend-title"' not in operator(api).get("/").text


# --- energy and carbon: the job's, the month's on the invoice ---


def metered_on_real_devices(state: AppState, person: Person, job_id: str) -> str:
    """Two hours of a real H100 recorded for the person's job, as the meter writes them
    (1.2 kWh at 500 g/kWh, then 0.8 kWh at 250 g/kWh), and a simulated hour that drew nothing.
    Returns the records' billing month."""
    start = periods.hour_floor(utcnow()) - timedelta(hours=3)
    month = periods.month_of(start, state.settings.site.timezone)
    common = {"kind": "compute", "org_id": person.org_id, "project_id": person.project_id,
              "job_id": job_id, "devices": 1, "milli": 1000, "period": month,
              "duration_us": 3600 * 10**6}  # fmt: skip
    rows = [
        UsageRow(key=f"fp-{job_id}-{n}", accelerator=model, simulated=simulated,
                 energy_kwh=kwh, carbon_kg=kg, start=start + timedelta(hours=n),
                 end=start + timedelta(hours=n + 1), created_at=start, **common)
        for n, (model, simulated, kwh, kg) in enumerate(
            [("H100-SXM", False, 1.2, 0.6), ("H100-SXM", False, 0.8, 0.2),
             ("A100-80GB", True, 0.0, 0.0)]
        )
    ]  # fmt: skip
    with state.db.session() as session:
        session.add_all(rows)
    return month


def test_the_invoice_and_the_job_show_energy_and_carbon(
    site: tuple[TestClient, AppState], alice: Person, bob: Person
) -> None:
    api, state = site
    job = submit(api, alice, command="true")
    wait_job(api, alice, job["id"], TERMINAL)
    month = metered_on_real_devices(state, alice, job["id"])

    bill = api.get("/api/v1/bills", params={"month": month}, headers=alice.headers).json()
    # by method: none named on the records this test writes (the meter names each)
    assert bill["footprint"] == {
        "energy_kwh": 2.0,
        "carbon_kg": 0.8,
        "by_method": {},
        "projects": [
            {"project_id": alice.project_id, "energy_kwh": 2.0, "carbon_kg": 0.8, "by_method": {}}
        ],
    }
    others = api.get("/api/v1/bills", params={"month": month}, headers=bob.headers).json()
    empty = {"energy_kwh": 0.0, "carbon_kg": 0.0, "by_method": {}, "projects": []}
    assert others["footprint"] == empty
    total = api.get("/api/v1/bills/export", params={"month": month}, headers=alice.headers)
    head, *_, last = total.text.splitlines()
    assert head.endswith(",energy_kwh,carbon_kg") and last.endswith(",2.0,0.8")

    client = signed_in(api, alice)
    page = client.get(f"/bills?month={month}").text
    card = page.split('class="stat stat-carbon"')[1].split("</div>")[0]
    assert "0.8 <span" in card and "kg CO₂e" in card and "2 kWh of real accelerators" in card
    panel = client.get(f"/jobs/{job['id']}/resources").text
    assert "2 kWh" in panel and "0.8 kg CO₂e" in panel
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    assert "能耗与碳排放" in client.get(f"/bills?month={month}").text
    assert "对应碳排放" in client.get(f"/jobs/{job['id']}/resources").text

    usage = api.get("/api/v1/usage", params={"job": job["id"]}, headers=alice.headers).json()
    assert sorted(r["carbon_kg"] for r in usage["items"] if r["accelerator"]) == [0.0, 0.2, 0.6]
    hidden = api.get("/api/v1/usage", params={"job": job["id"]}, headers=bob.headers)
    assert hidden.status_code == 404  # another tenant's job's energy, as any of its objects
    assert signed_in(api, bob).get(f"/jobs/{job['id']}/resources").status_code == 404
