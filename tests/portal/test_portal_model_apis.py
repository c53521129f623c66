"""The model APIs' pages as a browser's requests: a deployment's live panel and recent
requests, its playground answering from a real replica through the gateway as the signed-in
person (logged once, under the person's name), a project's API keys created and revoked,
in English and Chinese; another tenant gets the 404 page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in

from aicc.testing.deployments import deploy


def test_the_playground_answers_from_a_replica_and_the_request_is_logged_once(
    api: TestClient, alice: Person, bob: Person
) -> None:
    deploy(api, "chat", headers=alice.headers, project=alice.project_id)
    page = signed_in(api, alice)
    link = f"/deployments/chat?project={alice.project_id}"
    shown = page.get(link)
    assert shown.status_code == 200
    assert "Live traffic" in shown.text and "Playground" in shown.text
    charts = re.findall(r"data-chart='([^']*)'", shown.text)  # the request rate, the latency
    assert len(charts) == 2 and all('"type": "lines"' in c for c in charts)
    assert "No request yet." in shown.text

    answered = page.post(
        f"/deployments/chat/chat?project={alice.project_id}",
        data={
            "csrf": csrf_of(page, link),
            "message": "say hi",
            "temperature": "0.2",
            "max_tokens": "32",
        },
    )
    assert answered.status_code == 200, answered.text
    answer = re.search(r'<p class="chat-text">([^<]*)</p>', answered.text)
    assert answer and answer.group(1).startswith("hello from the upstream")

    logged = api.get(
        "/api/v1/requests",
        params={"deployment": "chat", "project": alice.project_id},
        headers=alice.headers,
    ).json()
    rows = logged["items"]
    assert len(rows) == 1
    assert rows[0]["key"] == f"user:{alice.name}" and rows[0]["status"] == 200
    assert rows[0]["route"] == "chat" and rows[0]["prompt_tokens"] > 0
    again = page.get(link).text  # the page's log and live panel show it
    assert f"user:{alice.name}" in again
    live = page.get(f"/deployments/chat/live?project={alice.project_id}").text
    assert re.search(r"<dt>Requests</dt><dd>1</dd>", live)

    forged = page.post(
        f"/deployments/chat/chat?project={alice.project_id}",
        data={"csrf": "x", "message": "hi"},
    )
    assert forged.status_code == 400
    bad = page.post(
        f"/deployments/chat/chat?project={alice.project_id}",
        data={"csrf": csrf_of(page, link), "message": "hi", "temperature": "9"},
    )
    assert bad.status_code == 422 and "temperature must be a number from 0 to 2" in bad.text

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get(link).text
    assert "实时流量" in chinese and "在线体验" in chinese and "最近的请求" in chinese

    outsider = signed_in(api, bob)
    assert outsider.get(link).status_code == 404
    assert outsider.get(f"/deployments/chat/live?project={alice.project_id}").status_code == 404
    tried = outsider.post(
        f"/deployments/chat/chat?project={alice.project_id}",
        data={"csrf": csrf_of(outsider, "/deployments"), "message": "hi"},
    )
    assert tried.status_code == 404
    still = api.get(
        "/api/v1/requests",
        params={"deployment": "chat", "project": alice.project_id},
        headers=alice.headers,
    ).json()
    assert len(still["items"]) == 1


def test_keys_are_created_shown_once_and_revoked_through_the_page(
    api: TestClient, alice: Person, bob: Person
) -> None:
    made = api.post(
        "/api/v1/deployments", json={"name": "chat", "command": "sleep 600"}, headers=alice.headers
    )
    assert made.status_code == 201
    page = signed_in(api, alice)
    listed = page.get("/keys")
    assert listed.status_code == 200 and "No key yet" in listed.text
    assert 'aria-current="page">Model APIs<' in listed.text  # the top bar's group
    made = page.post(
        f"/keys?project={alice.project_id}",
        data={
            "csrf": csrf_of(page, "/keys"),
            "name": "app",
            "rpm": "60",
            "tokens_per_month": "1000000",
            "deployments": "chat",
        },
    )
    assert made.status_code == 201, made.text
    secret = re.search(r'id="new-key-secret"[^>]*value="(aicc-sk-[^"]+)"', made.text)
    assert secret
    assert (
        api.get("/v1/models", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code
        == 200
    )
    shown = page.get("/keys").text
    assert secret.group(1) not in shown  # once
    assert "app" in shown and "1,000,000" in shown and ">60<" in shown

    (key_id,) = re.findall(r"/keys/(key_[0-9A-Za-z]+)/revoke", shown)
    outsider = signed_in(api, bob)
    tried = outsider.post(
        f"/keys/{key_id}/revoke?project={alice.project_id}",
        data={"csrf": csrf_of(outsider, "/keys")},
    )
    assert tried.status_code == 404
    assert outsider.get(f"/keys?project={alice.project_id}").status_code == 404
    gone = page.post(
        f"/keys/{key_id}/revoke?project={alice.project_id}",
        data={"csrf": csrf_of(page, "/keys")},
        follow_redirects=False,
    )
    assert gone.status_code == 303 and gone.headers["location"].endswith("done=revoke")
    after = page.get(gone.headers["location"]).text
    assert "Key revoked" in after and f"/keys/{key_id}/revoke" not in after
    refused = api.get("/v1/models", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert refused.status_code == 401
    bad = page.post("/keys", data={"csrf": csrf_of(page, "/keys"), "name": "x", "rpm": "-3"})
    assert bad.status_code == 422 and "requests a minute must be a whole number" in bad.text

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get("/keys").text
    assert "API 密钥" in chinese and "模型 API" in chinese and "吊销时间" in chinese
