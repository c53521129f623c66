"""The deployments' pages as a browser's requests: a person's deployments in a table, one
deployment with its state, replicas and revisions, its stop, start and roll back buttons, in
English and Chinese; another tenant gets the 404 page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in

SLEEP = "sleep 600"


def test_a_deployment_is_listed_shown_stopped_started_and_rolled_back(
    api: TestClient, alice: Person, bob: Person
) -> None:
    made = api.post(
        "/api/v1/deployments", json={"name": "web", "command": SLEEP}, headers=alice.headers
    )
    assert made.status_code == 201, made.text
    page = signed_in(api, alice)
    listed = page.get("/deployments")
    assert listed.status_code == 200
    assert 'aria-current="page">Deployments<' in listed.text  # the nav entry
    assert re.search(r'<a href="/deployments/web\?project=prj_[0-9A-Z]+">web</a>', listed.text)
    assert SLEEP in listed.text

    link = f"/deployments/web?project={alice.project_id}"
    shown = page.get(link).text
    assert "Revisions" in shown and SLEEP in shown and "Roll back" not in shown  # revision 1
    stop = page.post(
        f"/deployments/web/stop?project={alice.project_id}",
        data={"csrf": csrf_of(page, link)},
        follow_redirects=False,
    )
    assert stop.status_code == 303 and stop.headers["location"].endswith("done=stop")
    stopped = page.get(stop.headers["location"]).text
    assert "Stopped: its replicas are ending." in stopped and ">Start<" in stopped
    revised = api.patch("/api/v1/deployments/web", json={"env": {"V": "2"}}, headers=alice.headers)
    assert revised.json()["revision"] == 2
    back = page.post(
        f"/deployments/web/rollback?project={alice.project_id}",
        data={"csrf": csrf_of(page, link)},
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert api.get("/api/v1/deployments/web", headers=alice.headers).json()["revision"] == 3
    forged = page.post(f"/deployments/web/start?project={alice.project_id}", data={"csrf": "x"})
    assert forged.status_code == 400

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get(link).text
    assert "模型服务" in chinese and "已停止" in chinese and "修订历史" in chinese

    outsider = signed_in(api, bob)
    assert outsider.get(link).status_code == 404
    assert "web" not in outsider.get("/deployments").text.split("<main", 1)[-1]
    tried = outsider.post(
        f"/deployments/web/stop?project={alice.project_id}",
        data={"csrf": csrf_of(outsider, "/deployments")},
    )
    assert tried.status_code == 404
