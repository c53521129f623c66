"""Bills of real jobs (a real server over HTTP, the local executor, a simulated GPU): every
line is Σ usage × price exactly to the cent, half a GPU costs half, credits apply as gross →
plan discount → subsidy → voucher → net, an issued invoice never changes and late usage goes
on the next one; `aicc bill` prints it and writes the CSV."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

SETTINGS: dict[str, Any] = {
    "simulated_devices": [{"model": "A100-80GB", "count": 1}],
    "limits": {"grace_s": 1.0},
}
PRICE = Decimal("3600.00")  # per device-hour: one yuan per device-second
CPU = Decimal("36.00")  # per core-hour
DISCOUNT = Decimal("0.10")
RATE, CAP, BALANCE = Decimal("0.5"), Decimal("0.50"), Decimal("0.70")


def cents(amount: Decimal | Fraction) -> Decimal:
    exact = (
        Decimal(amount.numerator) / Decimal(amount.denominator)
        if isinstance(amount, Fraction)
        else amount
    )
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def run(api: httpx.Client, seconds: float, milli: int) -> str:
    spec = {
        "command": f"sleep {seconds}",
        "resources": {"cpu": 1, "memory": "256MiB", "accelerator": {"milli": milli}},
        "max_runtime": "5m",
    }
    job = submit(api, spec)  # type: ignore[arg-type]
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"  # type: ignore[arg-type]
    return str(job["id"])


def metered(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        items = api.get("/api/v1/usage", params={"job": job_id}).json()["items"]
        if items and max(i["end"] for i in items) == max(r["ended_at"] for r in job["replicas"]):
            return list(items)
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("bills") / "home"
    with over_http(home, **SETTINGS) as (url, token, _state):
        yield url, token


@pytest.fixture(scope="module")
def api(center: tuple[str, str]) -> Iterator[httpx.Client]:
    url, token = center
    with httpx.Client(
        timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def test_invoices_of_real_jobs(api: httpx.Client, center: tuple[str, str], tmp_path: Path) -> None:
    org = api.get("/api/v1/me").json()["org"]["id"]
    plan = {
        "org_id": org,
        "effective_from": "2020-01-01T00:00:00+08:00",
        "accelerator_hour": {"A100-80GB": str(PRICE)},
        "cpu_core_hour": str(CPU),
        "discount": str(DISCOUNT),
    }
    assert api.post("/api/v1/price-plans", json=plan).status_code == 201
    subsidy = {"name": "city-50", "org_id": org, "rate": str(RATE), "yearly_cap": str(CAP)}
    assert api.post("/api/v1/subsidies", json=subsidy).status_code == 201
    voucher = {"org_id": org, "name": "welcome", "amount": str(BALANCE)}
    voucher_id = api.post("/api/v1/vouchers", json=voucher).json()["id"]

    half, whole = run(api, 2, 500), run(api, 1, 1000)
    records = {r["id"]: r for job in (half, whole) for r in metered(api, job)}
    bill = api.get("/api/v1/bills").json()
    assert bill["status"] == "draft" and bill["lines"]

    # every line item (one item at one price in the month): its records' exact quantity ×
    # price, rounded half-up once; each job's line within a cent of its exact share
    items: dict[str, tuple[Fraction, Decimal]] = {}
    for line in bill["lines"]:
        used = [records[i] for i in line["usage_ids"]]
        assert {r["job_id"] for r in used} == {line["job_id"]}
        if line["item"] == "cpu":
            quantity = sum(
                (Fraction(r["cpu_milli"] * r["duration_us"], 1000 * 3_600_000_000) for r in used),
                Fraction(0),
            )
            price = CPU
        else:
            assert line["item"] == "accelerator:A100-80GB"
            quantity = sum(
                (Fraction(r["milli"] * r["duration_us"], 1000 * 3_600_000_000) for r in used),
                Fraction(0),
            )
            price = PRICE
        assert Decimal(line["unit_price"]) == price
        assert Fraction(line["quantity_exact"]) == quantity
        assert abs(Fraction(Decimal(line["gross"])) - quantity * Fraction(price)) < Fraction(1, 100)
        exact, gross = items.get(line["item"], (Fraction(0), Decimal(0)))
        items[line["item"]] = (exact + quantity * Fraction(price), gross + Decimal(line["gross"]))
    for exact, gross in items.values():
        assert gross == cents(exact)
    assert {i for line in bill["lines"] if line["item"] != "cpu" for i in line["usage_ids"]} == set(
        records
    )
    totals = bill["totals"]
    for key in ("gross", "discount", "subsidy", "voucher", "net"):
        assert Decimal(totals[key]) == sum(Decimal(line[key]) for line in bill["lines"])

    # half a GPU: exactly half the device-hours per hour of the job's life
    for line in bill["lines"]:
        if line["item"].startswith("accelerator"):
            held_us = sum(records[i]["duration_us"] for i in line["usage_ids"])
            share = Fraction(line["quantity_exact"]) / Fraction(held_us, 3_600_000_000)
            assert share == (Fraction(1, 2) if line["job_id"] == half else 1)

    # credits in order, line by line: discount, then 50% of the rest within the yearly cap,
    # then the voucher on what is still owed
    cap, balance = CAP, BALANCE
    for line in bill["lines"]:
        gross = Decimal(line["gross"])
        discount = cents(gross * DISCOUNT)
        subsidy = min(cents((gross - discount) * RATE), cap)
        voucher_paid = min(balance, gross - discount - subsidy)
        assert [Decimal(line[k]) for k in ("discount", "subsidy", "voucher", "net")] == [
            discount,
            subsidy,
            voucher_paid,
            gross - discount - subsidy - voucher_paid,
        ], line
        cap, balance = cap - subsidy, balance - voucher_paid
    assert cap == 0 and balance == 0  # both used up by these few seconds at these prices

    # the CSV says the same; `aicc bill` prints the table and writes the file
    rows = list(csv.DictReader(io.StringIO(api.get("/api/v1/bills/export").text)))
    assert rows[-1]["kind"] == "TOTAL" and rows[-1]["net"] == totals["net"]
    assert sum(Decimal(r["net"]) for r in rows[:-1]) == Decimal(totals["net"])
    url, token = center
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    table = CliRunner().invoke(app, ["bill"], env=env)
    assert table.exit_code == 0, table.output
    assert "accelerator:A100-80GB" in table.stdout and totals["net"] in table.stdout
    out = tmp_path / "bill.csv"
    written = CliRunner().invoke(app, ["bill", "--csv", str(out)], env=env)
    assert written.exit_code == 0 and out.read_text().startswith("invoice,org_id,period")

    # issue: frozen; credits spent; corrections only on an open month; late usage goes on
    # the next month's invoice
    month = bill["period"]
    issued = api.post("/api/v1/bills/issue", json={"org_id": org, "month": month})
    assert issued.status_code == 200, issued.text
    frozen = issued.json()
    assert frozen["status"] == "issued" and frozen["totals"] == totals
    assert api.post("/api/v1/bills/issue", json={"org_id": org, "month": month}).status_code == 409
    fix = {"org_id": org, "month": month, "amount": "-1.00", "description": "goodwill"}
    assert api.post("/api/v1/bills/adjustments", json=fix).status_code == 409
    assert api.get(f"/api/v1/vouchers/{voucher_id}").json()["remaining"] == "0.00"
    late = run(api, 1, 500)
    metered(api, late)
    assert api.get("/api/v1/bills", params={"month": month}).json() == frozen
    year, number = (int(x) for x in month.split("-"))
    following = f"{year + number // 12}-{number % 12 + 1:02d}"
    fix = {**fix, "month": following, "reference": frozen["id"]}
    assert api.post("/api/v1/bills/adjustments", json=fix).status_code == 201
    nxt = api.get("/api/v1/bills", params={"month": following}).json()
    assert {line["job_id"] for line in nxt["lines"] if line["kind"] == "usage"} == {late}
    assert {line["period"] for line in nxt["lines"]} == {month, following}
    adjustment = [line for line in nxt["lines"] if line["kind"] == "adjustment"]
    assert [a["net"] for a in adjustment] == ["-1.00"] and frozen["id"] in adjustment[0][
        "description"
    ]
    assert datetime.now(UTC).year >= year
