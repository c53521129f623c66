"""`aicc admin price-plan|voucher|subsidy|budget|invoice`, `aicc bill` and `aicc job usage`
against a real server over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.core import periods
from aicc.services.common import utcnow
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.jobs import JobRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

PLAN = """\
name: center-2026
effective_from: "2026-01-01T00:00:00+08:00"
accelerator_hour: {A100: "12.00"}
pflops_hour: "9.50"
cpu_core_hour: "0.08"
api_tier: 2
"""


def test_operators_keep_the_books_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str) -> Any:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result

        def as_json(*args: str) -> Any:
            return json.loads(aicc(*args, "--json").stdout)

        me = as_json("org", "list")["items"][0]
        org = me["id"]
        (tmp_path / "plan.yaml").write_text(PLAN)
        made = as_json("admin", "price-plan", "set", "-f", str(tmp_path / "plan.yaml"))
        assert made["accelerator_hour"] == {"A100-80GB": "12.00"}
        assert "center-2026" in aicc("admin", "price-plan", "list").stdout
        shown = aicc("admin", "price-plan", "show").stdout
        assert "A100-80GB 12.00/h" in shown and "9.50/PFLOPS-h" in shown
        assert made["api_tier"] == 2 and "API key tier" in shown
        assert "API TIER" in aicc("admin", "price-plan", "list").stdout

        voucher = as_json("admin", "voucher", "create", org, "--amount", "500", "--name", "w")
        assert voucher["amount"] == voucher["remaining"] == "500.00"
        assert voucher["id"] in aicc("admin", "voucher", "list").stdout
        program = as_json("admin", "subsidy", "create", "city", "--rate", "0.5", "--cap", "3e6")
        assert program["rate"] == "0.5"
        assert "city" in aicc("admin", "subsidy", "list").stdout

        budget = as_json("admin", "budget", "set", "--org", org, "--limit", "1000")
        assert (budget["left"], budget["thresholds"]) == ("1000.00", [0.5, 0.8, 1.0])
        assert budget["id"] in aicc("admin", "budget", "list").stdout
        both = CliRunner().invoke(app, ["admin", "budget", "set", "--limit", "1"], env=env)
        assert both.exit_code == 1 and "exactly one of --project and --org" in both.stderr

        issued = as_json("admin", "invoice", "issue", "--org", org, "--month", "2026-01")
        assert issued["status"] == "issued" and issued["totals"]["net"] == "0.00"
        again = CliRunner().invoke(
            app, ["admin", "invoice", "issue", "--org", org, "--month", "2026-01"], env=env
        )
        assert again.exit_code == 1 and "already issued" in again.stderr
        assert issued["id"] in aicc("admin", "invoice", "list").stdout
        bill = aicc("bill", "--month", "2026-01").output
        assert f"{org} 2026-01 (issued {issued['id']})" in bill and "net" in bill


def test_a_job_that_carries_its_scenario_shows_its_estimate_before_it_goes_in(
    tmp_path: Path,
) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        (tmp_path / "plan.yaml").write_text(PLAN)
        made = CliRunner().invoke(
            app, ["admin", "price-plan", "set", "-f", str(tmp_path / "plan.yaml")], env=env
        )
        assert made.exit_code == 0, made.output
        (tmp_path / "job.yaml").write_text(
            "name: tune\ncommand: python -c 'print(1)'\n"
            "scenario: {scenario: llm-lora, params: 7e9, tokens: 1e8}\n"
        )
        result = CliRunner().invoke(
            app, ["job", "submit", "-f", str(tmp_path / "job.yaml")], env=env
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().startswith("job_")
        assert result.stderr.count("estimate: ") == 3 and "CNY after credits" in result.stderr


def test_a_center_without_prices_estimates_the_time_and_says_no_price(tmp_path: Path) -> None:
    """A plan that prices nothing (a test server's, unless it gives `pricing`)."""
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        args = ["estimate", "--scenario", "llm-lora", "--params", "7e9", "--tokens", "1e8"]
        result = CliRunner().invoke(app, [*args, "-a", "H100", "-a", "A100"], env=env)
        assert result.exit_code == 0, result.output
        rows = [line for line in result.stdout.splitlines() if line.startswith("H100-SXM ")]
        assert rows and all(line.rstrip().endswith("no price") for line in rows)
        assert " h " in rows[0] or " min " in rows[0]  # the time is there
        assert "aicc admin price-plan set" in result.stderr
        answer = json.loads(CliRunner().invoke(app, [*args, "--json"], env=env).stdout)
        assert answer["options"] and answer["left_out"] == []
        assert all(o["net"] is None and o["price_note"] for o in answer["options"])


def test_a_job_and_a_bill_show_energy_and_carbon(tmp_path: Path) -> None:
    """`aicc job usage` sums a job's records (real devices' kWh and kg CO₂e; a simulated hour
    draws nothing), `aicc bill` shows the month's, kept as they were once issued; another
    tenant's job is not found."""
    devices = {"simulated_devices": [{"model": "A100-80GB", "count": 1}]}
    with (
        over_http(tmp_path / "home", **devices) as (url, token, state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        job = submit(api, {"command": "true", "resources": {"accelerator": {"milli": 500}}})
        assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
        start = periods.hour_floor(utcnow()) - timedelta(days=40)  # a month that is over
        month = periods.month_of(start, state.settings.site.timezone)
        with state.db.session() as session:
            org_id, project_id = session.execute(
                select(JobRow.org_id, JobRow.project_id).where(JobRow.id == job["id"])
            ).one()
            for n, (kwh, kg) in enumerate([(1.2, 0.6), (0.8, 0.2)]):
                at = start + timedelta(hours=n)
                session.add(
                    UsageRow(key=f"fp-{n}", kind="compute", org_id=org_id, project_id=project_id,
                             job_id=job["id"], accelerator="H100-SXM", devices=1, milli=1000,
                             start=at, end=at + timedelta(hours=1), duration_us=3600 * 10**6,
                             period=month, energy_kwh=kwh, carbon_kg=kg, created_at=at)
                )  # fmt: skip

        def aicc(*args: str, **extra: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env | extra)

        usage = aicc("job", "usage", job["id"])
        assert usage.exit_code == 0, usage.output
        assert "2.000 kWh" in usage.stdout and "0.800 kg CO2e" in usage.stdout
        assert "(sim)" in usage.stdout and "simulated" in usage.stdout  # the job's own record
        records = json.loads(aicc("job", "usage", job["id"], "--json").stdout)["items"]
        assert sorted(r["carbon_kg"] for r in records) == [0.0, 0.2, 0.6]

        bill = aicc("bill", "--month", month).stdout
        assert "2.000 kWh" in bill and "0.800 kg CO2e" in bill
        issued = json.loads(
            aicc("admin", "invoice", "issue", "--org", org_id, "--month", month, "--json").stdout
        )
        assert issued["footprint"]["carbon_kg"] == 0.8
        with state.db.session() as session:  # a record metered after the issue changes nothing
            late = session.scalars(select(UsageRow).where(UsageRow.key == "fp-1")).one()
            session.add(
                UsageRow(key="fp-late", kind="compute", org_id=org_id, project_id=project_id,
                         job_id=job["id"], accelerator="H100-SXM", devices=1, milli=1000,
                         start=late.start, end=late.end, duration_us=late.duration_us,
                         period=month, energy_kwh=5.0, carbon_kg=2.5, created_at=late.end)
            )  # fmt: skip
        kept = json.loads(aicc("bill", "--month", month, "--json").stdout)
        assert (kept["status"], kept["footprint"]["energy_kwh"]) == ("issued", 2.0)

        org = api.post("/api/v1/orgs", json={"name": "globex"}).json()
        user = api.post("/api/v1/users", json={"name": "bob", "org_id": org["id"]}).json()
        other = api.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
        hidden = aicc("job", "usage", job["id"], AICC_TOKEN=other["secret"])
        assert hidden.exit_code == 1 and f"job {job['id']} not found" in hidden.stderr
