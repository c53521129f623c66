"""A deployment's page shows its service tiers (requests, 429s, p95 against each tier's
objective) and what content safety blocked or masked there, by rule and never the text, in
English and Chinese; another tenant gets the 404 page."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.serving import gateway as gw
from aicc.services.serving import safety


def test_the_page_shows_tiers_against_objectives_and_safety_counts(
    api: TestClient, site: tuple[TestClient, AppState], alice: Person, bob: Person
) -> None:
    _, state = site
    made = api.post(
        "/api/v1/deployments",
        json={"name": "guarded", "command": "sleep 600", "min_replicas": 0, "max_replicas": 1},
        headers=alice.headers,
        params={"project": alice.project_id},
    )
    assert made.status_code == 201, made.text
    deployment_id = made.json()["id"]
    now = utcnow()
    gw.record(
        state.db,
        [
            gw.RequestRecord(
                id=f"req_g{i}",
                org_id=alice.org_id,
                project_id=alice.project_id,
                deployment_id=deployment_id,
                key_id="key_g",
                route="chat",
                status=429 if tier == 3 and i % 2 else 200,
                stream=False,
                billable=True,
                prompt_tokens=1,
                completion_tokens=1,
                latency_us=(900_000 if tier == 1 else 30_000_000),
                attempts=1,
                replica=None,
                at=now - timedelta(minutes=1),
                tier=tier,
            )
            for i, tier in enumerate([1, 1, 3, 3, 3, 3])
        ],
    )
    safety.record(
        state.db,
        [
            safety.Event(
                org_id=alice.org_id,
                project_id=alice.project_id,
                deployment_id=deployment_id,
                key_id="key_g",
                request_id=f"req_s{i}",
                stage="prompt" if i else "completion",
                rule="secrets",
                action="block",
                text=None,
                at=now,
            )
            for i in range(3)
        ],
    )
    page = signed_in(api, alice)
    link = f"/deployments/guarded?project={alice.project_id}"
    shown = page.get(link)
    assert shown.status_code == 200
    text = " ".join(shown.text.split())
    assert "Service tiers, last 30 minutes" in text
    cells = re.findall(r'<tr> <th scope="row">([^<]*)</th>(.*?)</tr>', text)
    rows = {head: re.sub(r"<[^>]+>", "", rest).split() for head, rest in cells}
    assert rows["Tier 1"] == ["2", "0", "900", "ms", "2,000", "ms", "met"]
    assert rows["Tier 3"] == ["4", "2", "30,000", "ms", "20,000", "ms", "missed"]
    assert "Content safety" in text
    assert rows["prompt"] == ["blocked", "secrets", "2"]  # the rule, never the text
    assert rows["answer"] == ["blocked", "secrets", "1"]

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get(link).text
    assert "服务等级（最近 30 分钟）" in chinese and "内容安全" in chinese and "已拦截" in chinese

    assert signed_in(api, bob).get(link).status_code == 404
