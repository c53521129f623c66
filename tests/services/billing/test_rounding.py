"""An invoice rounds once per line item of the month: tiny uses add up to what they cost,
and each job's line is its share of that amount (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from aicc.api.state import AppState
from aicc.core.pricing import PricePlan
from aicc.services.billing import invoices, rating
from aicc.services.tenancy import tenancy
from aicc.store.tables.billing import UsageRow


def test_a_thousand_uses_of_four_tenths_of_a_cent_cost_four_yuan() -> None:
    shares = rating.allocate([Fraction(4, 1000)] * 1000, Decimal("1.00"))
    assert sum(shares) == Decimal("4.00")
    assert set(shares) == {Decimal("0.00"), Decimal("0.01")}


@given(
    st.lists(st.fractions(min_value=0, max_value=50, max_denominator=10**6), max_size=40),
    st.decimals(min_value=0, max_value=1000, places=2),
)
def test_the_shares_add_up_to_the_total_rounded_once(
    quantities: list[Fraction], price: Decimal
) -> None:
    shares = rating.allocate(quantities, price)
    exact = [q * Fraction(price) for q in quantities]
    total = (sum(exact, Fraction(0)) * 100 + Fraction(1, 2)).__floor__()
    assert sum(shares, Decimal(0)) * 100 == total
    assert all(abs(Fraction(s) - e) < Fraction(1, 100) for s, e in zip(shares, exact, strict=True))


def test_a_month_of_tiny_uses_is_not_rounded_away(server: tuple[TestClient, AppState]) -> None:
    """Thirty days of one deployment's few tokens, and forty short CPU jobs: per day or per job
    each rounds to 0.00; as the month's line items they are 0.12 and 0.16."""
    _, state = server
    with state.db.session() as session:
        org = tenancy.create_org(session, None, name="tiny").id
        project = tenancy.create_project(session, None, name="p", org_id=org).id
    month = datetime(2026, 10, 1, tzinfo=UTC)
    common = {"org_id": org, "project_id": project, "period": "2026-10", "created_at": month}
    rows = [
        UsageRow(
            key=f"tokens-{day}", kind="requests", deployment_id="dep_1", requests=1,
            prompt_tokens=4_000, start=month + timedelta(days=day, hours=9),
            end=month + timedelta(days=day, hours=10), duration_us=0, **common,
        )  # 4,000 tokens a day at 1.00 per million: 0.004 a day
        for day in range(30)
    ]  # fmt: skip
    rows += [
        UsageRow(
            key=f"cpu-{n}", kind="compute", job_id=f"job_{n}", cpu_milli=1000,
            start=month + timedelta(hours=n), end=month + timedelta(hours=n, seconds=144),
            duration_us=144 * 10**6, **common,
        )  # 144 core-seconds at 0.10 per core-hour: 0.004
        for n in range(40)
    ]  # fmt: skip
    with state.db.session() as session:
        session.add_all(rows)
    plan = PricePlan(input_mtok=Decimal("1.00"), cpu_core_hour=Decimal("0.10"))
    with state.db.reader() as session:
        bill = invoices.compute(session, org_id=org, month="2026-10", zone="UTC", default=plan)
    tokens = [line for line in bill.lines if line["item"] == "tokens:input"]
    assert len(tokens) == 1 and tokens[0]["gross"] == "0.12"
    assert (tokens[0]["day"], tokens[0]["last_day"]) == ("2026-10-01", "2026-10-30")
    cpu = [line for line in bill.lines if line["item"] == "cpu"]
    assert len(cpu) == 40  # one line per job, each its share of the month's line item
    assert sum(Decimal(line["gross"]) for line in cpu) == Decimal("0.16")
    assert bill.totals()["gross"] == "0.28"


def test_usage_no_price_covers_is_listed_on_its_months_invoice_once(
    server: tuple[TestClient, AppState],
) -> None:
    """A record the plan has no price for is listed as unpriced on the invoice of its month;
    once that invoice is issued, later months' drafts do not list it again."""
    api, state = server
    with state.db.session() as session:
        org = tenancy.create_org(session, None, name="odd").id
        project = tenancy.create_project(session, None, name="p", org_id=org).id
    october = datetime(2026, 10, 5, tzinfo=UTC)
    common = {"org_id": org, "project_id": project, "period": "2026-10", "created_at": october}
    with state.db.session() as session:
        session.add_all(
            [
                UsageRow(
                    key="odd-cpu", kind="compute", job_id="job_c", cpu_milli=1000,
                    start=october, end=october + timedelta(hours=1), duration_us=3600 * 10**6,
                    **common,
                ),
                UsageRow(
                    key="odd-gpu", kind="compute", job_id="job_g", accelerator="NoSuchChip",
                    milli=1000, start=october, end=october + timedelta(hours=1),
                    duration_us=3600 * 10**6, **common,
                ),
            ]
        )  # fmt: skip
    issued = api.post("/api/v1/bills/issue", json={"org_id": org, "month": "2026-10"})
    assert issued.status_code == 200, issued.text
    listed = sorted(u["item"] for u in issued.json()["unpriced"])
    assert "accelerator:NoSuchChip" in listed
    later = api.get("/api/v1/bills", params={"org": org, "month": "2026-11"}).json()
    assert later["unpriced"] == [] and later["lines"] == []
    again = api.get("/api/v1/bills", params={"org": org, "month": "2026-10"}).json()
    assert sorted(u["item"] for u in again["unpriced"]) == listed
