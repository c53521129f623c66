"""Maintenance windows in the portal (issue 40): the operators' nodes page lists the windows,
badges the nodes they touch and announces and cancels them with its form; a tenant sees the
ones coming on the dashboard, and its organization's lease on the quotas page. In a real
browser (Chromium), in English and Chinese: screenshots go to
tests/artifacts/portal/maintenance-*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from portal_support import make_person
from test_portal_browser import (
    Watch,
    _ensure_assets,
    axe_check,
    chromium,
    open_page,
    shot,
    sign_in_as_operator,
)
from test_portal_browser import sign_in as sign_in_page

from aicc.testing.servers import over_http

__all__ = ["chromium"]

INVENTORY = {
    "nodes": [
        {
            "name": f"pm-{i}",
            "cpu": 4,
            "memory": "8GiB",
            "pool": "pm",
            "rack": "pm-r1",
            "devices": [{"model": "A100-80GB", "count": 2, "simulated": True}],
        }
        for i in (1, 2)
    ]
}


def _local(at: datetime) -> str:
    """What a `datetime-local` input takes (the form reads it as UTC)."""
    return at.strftime("%Y-%m-%dT%H:%M")


def test_maintenance_windows_on_the_nodes_page_and_the_dashboard(
    tmp_path: Path, chromium: Any
) -> None:
    from playwright.sync_api import expect

    _ensure_assets()
    with over_http(tmp_path / "home", loops=False) as (url, token, _):
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            assert api.post("/api/v1/nodes/import", json=INVENTORY).status_code == 200
            ann = make_person(api, "pm-org", "ann")
            now = datetime.now(UTC)
            lease = {"org": "pm-org", "nodes": ["pm-2"], "from": now.isoformat()}
            lease["to"] = (now + timedelta(days=30)).isoformat()
            assert api.post("/api/v1/leases", json=lease).status_code == 201
        watch = Watch()
        page = open_page(chromium, watch)
        sign_in_as_operator(page, url, token)
        page.goto(url + "/center/nodes")
        expect(page.get_by_role("heading", name="Maintenance windows (0)")).to_be_visible()
        start = datetime.now(UTC) + timedelta(days=2)
        page.get_by_label("What").select_option("rack")
        page.get_by_label("Nodes, rack or pool").fill("pm-r1")
        page.get_by_label("From (UTC)").fill(_local(start))
        page.get_by_label("To (UTC)").fill(_local(start + timedelta(hours=4)))
        page.get_by_label("Reason", exact=True).fill("PDU replacement")
        page.get_by_role("button", name="Announce", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("Maintenance window announced")
        expect(page.get_by_role("heading", name="Maintenance windows (1)")).to_be_visible()
        expect(page.get_by_role("rowheader", name="rack pm-r1")).to_be_visible()
        expect(page.locator("#node-pm-1 .tag-maintenance")).to_contain_text("Maintenance from")
        axe_check(page, "the nodes page with a maintenance window")
        shot(page, "maintenance-en")
        page.get_by_role("button", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.get_by_role("heading", name="维护窗口（1）")).to_be_visible()
        expect(page.locator("#node-pm-2 .tag-maintenance")).to_contain_text("起维护")
        shot(page, "maintenance-zh")
        page.get_by_role("button", name="English").click()

        # a tenant sees it coming on the dashboard
        tenant = open_page(chromium, watch)
        sign_in_page(tenant, url, ann)
        expect(
            tenant.get_by_role("status").filter(has_text="Maintenance coming (1)")
        ).to_be_visible()
        expect(tenant.get_by_text("pm-1, pm-2: PDU replacement")).to_be_visible()
        shot(tenant, "maintenance-dashboard-en")
        # and its organization's lease, as a queue of its own, on the quotas page
        tenant.goto(url + "/quotas")
        expect(tenant.get_by_role("heading", name="Leases (1)")).to_be_visible()
        expect(tenant.get_by_role("rowheader", name="pm-2")).to_be_visible()
        expect(tenant.get_by_text("0 in use · 0 lent · 2 idle")).to_be_visible()
        axe_check(tenant, "the quotas page with a lease")

        # a window that ends before it starts is refused, saying why
        watch.expected_422s.add("/center/maintenance")
        page.goto(url + "/center/nodes")
        page.get_by_label("Nodes, rack or pool").fill("pm-1")
        page.get_by_label("From (UTC)").fill(_local(start))
        page.get_by_label("To (UTC)").fill(_local(start - timedelta(hours=1)))
        page.get_by_label("Reason", exact=True).fill("oops")
        page.get_by_role("button", name="Announce", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("to must be after from")
        page.goto(url + "/center/nodes")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel maintenance window").click()
        expect(page.get_by_role("heading", name="Maintenance windows (0)")).to_be_visible()
        assert watch.problems == []
