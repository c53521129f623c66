"""The monthly report's routes and organizations' kinds over HTTP: JSON, CSV and PDF for center
admins, a 403 for everyone else (as the center's other operator-only figures), a bad month or
language a 422 naming the field. Its figures against the books:
tests/services/center/test_reports.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

ROUTE = "/api/v1/reports/monthly"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home: Path = tmp_path_factory.mktemp("reports-api") / "home"
    with in_process(home) as (client, _state):
        yield client


@pytest.fixture(scope="module")
def member(api: TestClient) -> Tenant:
    return make_tenant(api, "reports-member")


@pytest.fixture(scope="module")
def org_admin(api: TestClient) -> Tenant:
    return make_tenant(api, "reports-boss", role="org_admin")


def test_an_org_has_a_kind_set_at_creation_and_changed_by_a_center_admin(
    api: TestClient, org_admin: Tenant
) -> None:
    made = api.post("/api/v1/orgs", json={"name": "tsinghua", "kind": "university"})
    assert made.status_code == 201 and made.json()["kind"] == "university"
    plain = api.post("/api/v1/orgs", json={"name": "plain"}).json()
    assert plain["kind"] == "other"
    changed = api.patch(f"/api/v1/orgs/{plain['id']}", json={"kind": "government"})
    assert changed.status_code == 200 and changed.json()["kind"] == "government"
    assert api.get(f"/api/v1/orgs/{plain['id']}").json()["kind"] == "government"
    bad = api.post("/api/v1/orgs", json={"name": "odd", "kind": "alien"})
    assert bad.status_code == 422 and "kind" in bad.text
    own = api.patch(
        f"/api/v1/orgs/{org_admin.org_id}", json={"kind": "startup"}, headers=org_admin.headers
    )
    assert own.status_code == 403  # the kind is the center's classification, not the tenant's
    other = api.patch(
        f"/api/v1/orgs/{plain['id']}", json={"kind": "startup"}, headers=org_admin.headers
    )
    assert other.status_code == 404


def test_the_report_as_json_csv_and_pdf(api: TestClient) -> None:
    got = api.get(ROUTE, params={"month": "2026-10"})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["month"] == "2026-10" and body["zone"] == "Asia/Shanghai"
    assert {t["kind"] for t in body["tenants"]} >= {"enterprise", "university", "other"}
    assert {s["party"] for s in body["revenue"]["shares"]} == {"investor", "builder", "operator"}
    assert body["revenue"]["totals"]["net"] == "0.00"  # money as decimal strings
    this_month = api.get(ROUTE).json()
    assert this_month["provisional"] is True  # the month has not ended
    sheet = api.get(f"{ROUTE}.csv", params={"month": "2026-10"})
    assert sheet.headers["content-type"].startswith("text/csv")
    assert "aicc-report-2026-10.csv" in sheet.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert list(rows[0]) == ["month", "status", "section", "name", "group", "value", "unit"]
    for lang in ("en", "zh-CN"):
        paper = api.get(f"{ROUTE}.pdf", params={"month": "2026-10", "lang": lang})
        assert paper.status_code == 200
        assert paper.headers["content-type"] == "application/pdf"
        assert paper.content.startswith(b"%PDF")


@pytest.mark.parametrize("suffix", ["", ".csv", ".pdf"])
def test_only_center_admins_read_it(
    api: TestClient, member: Tenant, org_admin: Tenant, suffix: str
) -> None:
    for who in (member, org_admin):
        got = api.get(f"{ROUTE}{suffix}", params={"month": "2026-10"}, headers=who.headers)
        assert got.status_code == 403
        assert "admins" in got.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "october"}, "month"),
        ({"month": "2099-01"}, "month"),
        ({"month": "2026-10", "lang": "fr"}, "lang"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    api: TestClient, params: dict[str, str], field: str
) -> None:
    got = api.get(f"{ROUTE}.pdf" if "lang" in params else ROUTE, params=params)
    assert got.status_code == 422
    assert field in got.text
