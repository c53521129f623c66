"""The monthly report's page and the tenants' kinds in the portal: the page with its month
picker, charts and links to CSV and PDF in English and Chinese, for center admins only; an
organization's kind chosen when it is made and changed from the tenants page."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, operator, signed_in, unique

_CHART = re.compile(r"<div id=\"([a-z-]+)\"[^>]*?data-chart='([^']*)'", re.DOTALL)


def charts(page: str) -> dict[str, dict[str, Any]]:
    return {m.group(1): json.loads(html.unescape(m.group(2))) for m in _CHART.finditer(page)}


def test_the_report_page_draws_the_month_and_links_its_files(api: TestClient) -> None:
    client = operator(api)
    page = client.get("/center/reports", params={"month": "2026-10"})
    assert page.status_code == 200, page.text
    assert "Monthly report" in page.text and 'value="2026-10"' in page.text
    assert 'href="/center/reports.csv?month=2026-10"' in page.text
    assert 'href="/center/reports.pdf?month=2026-10&amp;lang=en"' in page.text
    drawn = charts(page.text)
    assert len(drawn["utilization-chart"]["categories"]) == 31  # a bar pair per day of October
    assert "Other" in drawn["tenants-chart"]["categories"]
    sheet = client.get("/center/reports.csv", params={"month": "2026-10"})
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    assert sheet.text.startswith("month,status,section,name,group,value,unit")
    paper = client.get("/center/reports.pdf", params={"month": "2026-10"})
    assert paper.headers["content-type"] == "application/pdf" and paper.content[:4] == b"%PDF"
    bad = client.get("/center/reports", params={"month": "2026-13"})
    assert bad.status_code == 422


def test_the_page_in_chinese(api: TestClient) -> None:
    client = operator(api)
    chosen = client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    assert chosen.status_code in (200, 303)
    page = client.get("/center/reports", params={"month": "2026-10"})
    assert page.status_code == 200
    assert "月度报告" in page.text and "算力利用率" in page.text and "投资方" in page.text
    assert "lang=zh-CN" in page.text
    assert "其他" in charts(page.text)["tenants-chart"]["categories"]
    client.post("/language", data={"csrf": csrf_of(client), "language": "en"})  # the admin's own


def test_only_center_admins_get_it(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    for path in ("/center/reports", "/center/reports.csv", "/center/reports.pdf"):
        assert client.get(path).status_code == 403, path
    assert 'href="/center/reports"' not in client.get("/").text


def test_an_org_kind_is_chosen_and_changed_on_the_tenants_page(api: TestClient) -> None:
    client = operator(api)
    name = f"tsinghua-{unique()}"
    token = csrf_of(client, "/center/tenants")
    made = client.post(
        "/center/tenants/orgs",
        data={"csrf": token, "name": name, "kind": "university"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    org = next(o for o in api.get("/api/v1/orgs").json()["items"] if o["name"] == name)
    assert org["kind"] == "university"
    page = client.get("/center/tenants").text
    assert f'action="/center/tenants/orgs/{org["id"]}/kind"' in page
    changed = client.post(
        f"/center/tenants/orgs/{org['id']}/kind",
        data={"csrf": token, "kind": "research"},
        follow_redirects=True,
    )
    assert changed.status_code == 200 and "its kind was changed" in changed.text
    assert api.get(f"/api/v1/orgs/{org['id']}").json()["kind"] == "research"
    refused = client.post(
        f"/center/tenants/orgs/{org['id']}/kind", data={"csrf": token, "kind": "alien"}
    )
    assert refused.status_code == 422
