"""`aicc center report` and `aicc org create|update --kind` against a real server over HTTP:
the report as a table, as JSON, written to CSV and PDF files; a bad month one red line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.tenancy import ProjectRow
from aicc.testing.servers import over_http

START = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home: Path = tmp_path_factory.mktemp("reports-cli") / "home"
    pricing = {"name": "center", "accelerator_hour": {"A100-80GB": "10.00"}}
    with over_http(home, loops=False, pricing=pricing) as (url, token, state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        org = json.loads(aicc(env, "org", "create", "pku", "--kind", "university", "--json").stdout)
        with state.db.session() as session:  # three device-hours of an A100 in October
            project = session.query(ProjectRow).filter_by(org_id=org["id"]).one()
            session.add(
                UsageRow(
                    key="cli-test-1", kind="compute", org_id=org["id"], project_id=project.id,
                    accelerator="A100-80GB", devices=1, milli=1000, start=START,
                    end=START + timedelta(hours=3), duration_us=3 * 3600 * 10**6,
                    period="2026-10", energy_kwh=1.5, carbon_kg=0.8, created_at=START,
                )
            )  # fmt: skip
        yield env


def aicc(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def test_an_org_kind_from_the_cli(server: dict[str, str]) -> None:
    org = json.loads(aicc(server, "org", "create", "cas", "--json").stdout)
    assert org["kind"] == "other"
    said = aicc(server, "org", "update", org["id"], "--kind", "research")
    assert f"updated cas ({org['id']})" in said.stderr
    row = next(line for line in aicc(server, "org", "list").stdout.splitlines() if "cas" in line)
    assert "research" in row.split()
    bad = aicc(server, "org", "update", org["id"], "--kind", "alien", code=1)
    assert "kind" in bad.stderr and "Traceback" not in bad.output


def test_the_report_as_a_table_json_csv_and_pdf(server: dict[str, str], tmp_path: Path) -> None:
    table = aicc(server, "center", "report", "--month", "2026-10").stdout
    assert "2026-10 (Asia/Shanghai)" in table and "PROVISIONAL" in table  # the bill is a draft
    assert "30.00 CNY" in table  # 3 device-hours at 10.00
    assert "0.94" in table  # PFLOPS-hours: 3 × 0.312
    kinds = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    assert kinds["university"] == ["1", "0", "1"]  # served, new (made now, in November), total
    body = json.loads(aicc(server, "center", "report", "--month", "2026-10", "--json").stdout)
    assert body["revenue"]["totals"]["net"] == "30.00" and body["provisional"] is True
    sheet, paper = tmp_path / "r.csv", tmp_path / "r.pdf"
    args = ("--csv", str(sheet), "--pdf", str(paper), "--lang", "zh-CN")
    said = aicc(server, "center", "report", "--month", "2026-10", *args)
    assert f"wrote {sheet}" in said.stderr and f"wrote {paper}" in said.stderr
    assert sheet.read_text().startswith("month,status,section,name,group,value,unit")
    assert "revenue,net,,30.00,CNY" in sheet.read_text()
    assert paper.read_bytes().startswith(b"%PDF")


def test_a_bad_month_is_one_line(server: dict[str, str]) -> None:
    bad = aicc(server, "center", "report", "--month", "2026-13", code=1)
    assert "month" in bad.stderr and "Traceback" not in bad.output
