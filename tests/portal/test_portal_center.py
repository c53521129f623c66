"""The operators' pages through TestClient: only center admins get them; the overview's figures
come from the jobs' own records; the heat map's cells and node actions; organizations, projects
and users created with errors shown next to their fields; the audit log's filters and pages."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import (
    PASSWORD,
    TERMINAL,
    Person,
    browser,
    csrf_of,
    make_person,
    operator,
    sign_in,
    signed_in,
    submit,
    unique,
    wait_job,
)
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.portal import center_views
from aicc.services.billing import records
from aicc.services.center import overview
from aicc.services.common import Forbidden, utcnow
from aicc.services.jobs import usage
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.jobs import ReplicaRow
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.tenancy import UserRow

OPERATOR_PAGES = ("/center", "/center?hours=1", "/center/nodes", "/center/tenants", "/center/audit")
_CHART = re.compile(r"data-chart='([^']*)'")


def charts(page: str) -> dict[str, dict[str, Any]]:
    """The JSON behind each chart of a page, by the chart element's id."""
    found = {}
    for match in re.finditer(r'<div id="([a-z-]+)"[^>]*?' + _CHART.pattern, page, re.DOTALL):
        found[match.group(1)] = json.loads(html.unescape(match.group(2)))
    return found


def local_node(api: TestClient) -> str:
    name: str = api.get("/api/v1/nodes").json()["items"][0]["name"]
    return name


# --- who may see them ---


def test_operator_pages_are_refused_to_everyone_else(api: TestClient, alice: Person) -> None:
    org_admin = f"boss-{unique()}"
    answer = api.post(
        "/api/v1/users",
        json={"name": org_admin, "role": "org_admin", "org_id": alice.org_id, "password": PASSWORD},
    )
    assert answer.status_code == 201, answer.text
    node = local_node(api)
    for name in (alice.name, org_admin):
        client = signed_in(api, name)
        home = client.get("/")
        assert 'href="/center' not in home.text  # no operator links in the navigation
        for path in OPERATOR_PAGES:
            page = client.get(path)
            assert page.status_code == 403, (name, path)
            assert "Not allowed" in page.text
        fragment = client.get("/center/nodes", headers={"HX-Request": "true"})
        assert (fragment.status_code, fragment.text) == (403, "")
        token = csrf_of(client)
        assert client.post(f"/center/nodes/{node}/cordon", data={"csrf": token}).status_code == 403
        made = client.post("/center/tenants/orgs", data={"csrf": token, "name": f"x-{name}"})
        assert made.status_code == 403
    assert api.get("/api/v1/nodes").json()["items"][0]["state"] == "ready"
    assert f"x-{alice.name}" not in {o["name"] for o in api.get("/api/v1/orgs").json()["items"]}
    stranger = browser(api).get("/center/audit", follow_redirects=False)
    assert stranger.headers["location"] == "/sign-in?next=%2Fcenter%2Faudit"
    nav = operator(api).get("/").text
    for path in ("/center", "/center/nodes", "/center/tenants", "/center/audit"):
        assert f'href="{path}"' in nav


def test_every_operator_form_needs_its_csrf_token(api: TestClient) -> None:
    client = operator(api)
    node = local_node(api)
    posts = {
        f"/center/nodes/{node}/cordon": {},
        f"/center/nodes/{node}/drain": {},
        "/center/tenants/orgs": {"name": "csrf-org"},
        "/center/tenants/projects": {"name": "csrf-prj"},
        "/center/tenants/users": {"name": "csrf-user"},
    }
    n = unique()
    foreign = csrf_of(signed_in(api, make_person(api, f"other-{n}", f"other-{n}").name))
    for path, form in posts.items():
        for token in ("", "forged", foreign):  # a real token, of another session
            answer = client.post(path, data={**form, "csrf": token})
            assert answer.status_code == 400, (path, token)
            assert "form expired" in answer.text
    assert api.get("/api/v1/nodes").json()["items"][0]["state"] == "ready"
    names = {o["name"] for o in api.get("/api/v1/orgs").json()["items"]}
    assert "csrf-org" not in names
    assert "csrf-user" not in {u["name"] for u in api.get("/api/v1/users").json()["items"]}


# --- the overview ---


def test_the_overview_is_derived_from_the_jobs_records(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, state = site
    share = {"cpu": "100m", "memory": "64MiB", "accelerator": {"milli": 500}}
    job = submit(api, alice, name="half-gpu", command="sleep 0.5", resources=share)
    assert wait_job(api, alice, job["id"], TERMINAL)["state"] == "succeeded"
    client = operator(api)
    page = client.get("/center?hours=1")
    assert page.status_code == 200
    found = charts(page.text)
    assert set(found) == {"capacity-chart", "rate-chart", "queue-chart"}
    capacity = found["capacity-chart"]
    assert capacity["categories"] == ["A100-80GB"]
    assert [s["values"] for s in capacity["series"]] == [[0], [2]]  # real, simulated
    assert "0 real accelerators" in page.text and "not counted" in page.text
    rates = found["rate-chart"]
    assert len(rates["times"]) == overview.WINDOWS[1]
    assert [s["name"] for s in rates["series"]] == ["Allocated (simulated)", "Busy (simulated)"]
    assert max(rates["series"][0]["values"]) > 0  # the half GPU shows in its minute
    assert len(found["queue-chart"]["series"][0]["values"]) == overview.WINDOWS[1]
    assert "starts in 1 h" in page.text  # waiting-time percentiles from the events
    assert alice.name.replace("alice", "acme") in page.text  # its organization's usage row

    # The series add up to exactly what the replicas held: nothing sampled, nothing invented.
    now = utcnow()
    with state.db.reader() as session:
        admin = session.scalar(select(UserRow).where(UserRow.name == "admin"))
        assert admin is not None
        who = principal_of(session, admin)
        history = usage.center_history(session, who, now, window_s=3600, buckets=60)
        held = 0.0
        since = now - timedelta(hours=1)
        for rep in session.scalars(select(ReplicaRow)):
            end = min(rep.ended_at or now, now)
            milli = sum(d["milli"] for d in rep.devices)
            held += milli * max(0.0, (end - max(rep.bound_at, since)).total_seconds())
    assert sum(history.allocated_milli[True]) * 60 == pytest.approx(held)
    assert sum(history.allocated_milli[False]) == 0  # no real devices: nothing real allocated
    assert history.capacity_milli == {False: 0, True: 2000}
    assert len(history.waits_s) >= 1 and all(w >= 0 for w in history.waits_s)

    live = client.get("/center?hours=1", headers={"HX-Request": "true"})
    assert live.text.lstrip().startswith('<div id="center-live"')
    assert client.get("/center?hours=banana").status_code == 200  # the default window


def test_queue_depth_and_waiting_come_from_the_events(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api = site[0]
    node = api.get("/api/v1/nodes").json()["items"][0]
    whole = {"cpu": f"{node['cpu_milli']}m", "memory": "64MiB"}
    hog = submit(api, alice, name="hog", command="sleep 60", resources=whole)
    wait_job(api, alice, hog["id"], {"running"})
    patient = submit(api, alice, name="patient", command="true", resources=whole)
    try:
        page = operator(api).get("/center?hours=1")
        queue = charts(page.text)["queue-chart"]["series"][0]["values"]
        assert queue[-1] == 1 and queue[0] == 0  # waiting now, nothing an hour ago
        assert re.search(
            r'stat-queue">\s*<span class="stat-label">Queue depth</span>\s*'
            r'<span class="stat-value">1</span>',
            page.text,
        )
    finally:
        for job in (patient, hog):
            api.post(f"/api/v1/jobs/{job['id']}/cancel")
        for job in (patient, hog):
            wait_job(api, alice, job["id"], TERMINAL)


# --- the heat map ---


def test_the_heat_map_shows_cells_and_slices_and_changes_nodes(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, state = site
    node = local_node(api)
    share = {"cpu": "100m", "memory": "64MiB", "accelerator": {"milli": 250}}
    job = submit(api, alice, name="quarter", command="sleep 60", resources=share)
    wait_job(api, alice, job["id"], {"running"})
    client = operator(api)
    try:
        page = client.get("/center/nodes").text
        assert page.count('<li class="cell ') == 2
        assert len(re.findall(r'<li class="cell [^"]*is-simulated', page)) == 2  # all marked
        assert 'data-kind="partial"' in page and 'data-kind="free"' in page
        assert re.search(
            r'title="Device \d, A100-80GB: 250/1000 milli allocated; quarter 250m', page
        )
        fragment = client.get("/center/nodes", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<div id="heatmap"')

        for action, state_after in (
            ("cordon", "cordoned"),
            ("drain", "draining"),
            ("uncordon", "ready"),
        ):
            answer = client.post(
                f"/center/nodes/{node}/{action}",
                data={"csrf": csrf_of(client, "/center/nodes")},
                follow_redirects=False,
            )
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"].startswith(f"/center/nodes?done={action}")
            assert api.get("/api/v1/nodes").json()["items"][0]["state"] == state_after
            shown = client.get(answer.headers["location"]).text
            assert f'data-node-state="{state_after}"' in shown
        assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "running"  # drain kept it
        log = client.get("/center/audit?action=node.cordoned").text
        assert "node.cordoned" in log

        token = csrf_of(client, "/center/nodes")
        assert (
            client.post("/center/nodes/no-such-node/cordon", data={"csrf": token}).status_code
            == 404
        )
        assert client.post(f"/center/nodes/{node}/explode", data={"csrf": token}).status_code == 404
        # A refusal of the service (a down node cannot be uncordoned) is shown on the page.
        with state.db.session() as session:
            row = session.scalar(select(NodeRow).where(NodeRow.name == node))
            assert row is not None
            row.state = "down"
        refused = client.post(f"/center/nodes/{node}/uncordon", data={"csrf": token})
        assert refused.status_code == 422 and "is down" in refused.text
        assert 'role="alert"' in refused.text
    finally:
        with state.db.session() as session:
            row = session.scalar(select(NodeRow).where(NodeRow.name == node))
            assert row is not None
            row.state, row.state_reason = "ready", ""
        api.post(f"/api/v1/jobs/{job['id']}/cancel")
        wait_job(api, alice, job["id"], TERMINAL)


# --- organizations, projects, users ---


def test_the_heat_map_names_a_node_s_nvidia_driver_and_cuda(
    site: tuple[TestClient, AppState],
) -> None:
    """The driver and CUDA version discovery labels a GPU node with (executors/local/node.py;
    read on an H100 in BENCHMARKS.md), here on a node imported with those labels."""
    api, _state = site
    name = f"gpu-node-{unique()}"
    labels = {"nvidia.com/driver": "580.159.04", "nvidia.com/cuda": "13.0"}
    body = {"nodes": [{"name": name, "cpu": 1, "memory": "1GiB", "labels": labels}]}
    assert api.post("/api/v1/nodes/import", json=body).status_code == 200
    client = operator(api)
    assert "driver 580.159.04 · CUDA 13.0" in client.get("/center/nodes").text
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    try:
        assert "驱动 580.159.04 · CUDA 13.0" in client.get("/center/nodes").text
    finally:
        client.post("/language", data={"csrf": csrf_of(client), "language": "en"})
        api.post(f"/api/v1/nodes/{name}/cordon")  # no later test's job is placed on it


def test_tenant_forms_show_the_services_errors_next_to_their_fields(api: TestClient) -> None:
    client = operator(api)
    n = unique()

    def post(path: str, **form: str) -> Any:
        return client.post(
            path, data={"csrf": csrf_of(client, "/center/tenants"), **form}, follow_redirects=False
        )

    bad = post("/center/tenants/orgs", name="Not OK!")
    assert bad.status_code == 422
    assert "Use lower-case letters" in bad.text and 'aria-invalid="true"' in bad.text
    assert (
        'value="Not OK!"' in bad.text
        and 'aria-describedby="org-name-help org-name-error"' in bad.text
    )
    assert post("/center/tenants/orgs", name="").status_code == 422

    made = post("/center/tenants/orgs", name=f"lab-{n}", display_name="The Lab")
    assert made.status_code == 303
    assert made.headers["location"] == f"/center/tenants?created=org&name=lab-{n}"
    page = client.get(made.headers["location"]).text
    assert f"Organization lab-{n} created" in page and "The Lab" in page
    twice = post("/center/tenants/orgs", name=f"lab-{n}")
    assert twice.status_code == 422 and "This name is taken already." in twice.text

    org = next(o for o in api.get("/api/v1/orgs").json()["items"] if o["name"] == f"lab-{n}")
    assert post("/center/tenants/projects", name="exp", org_id=org["id"]).status_code == 303
    again = post("/center/tenants/projects", name="exp", org_id=org["id"])
    assert again.status_code == 422 and "taken already" in again.text
    nowhere = post("/center/tenants/projects", name="exp", org_id="org_nope")
    assert nowhere.status_code == 422 and "org_nope" in nowhere.text

    short = post("/center/tenants/users", name=f"carol-{n}", org_id=org["id"], password="short")
    assert short.status_code == 422 and "This is too short." in short.text
    assert "short" not in re.findall(r'id="user-password"[^>]*value="([^"]*)"', short.text)
    emperor = post("/center/tenants/users", name=f"carol-{n}", org_id=org["id"], role="emperor")
    assert emperor.status_code == 422 and "Choose one of the options." in emperor.text
    lost = post("/center/tenants/users", name=f"carol-{n}", org_id="org_nope")
    assert lost.status_code == 422 and "Not found." in lost.text
    users = {u["name"] for u in api.get("/api/v1/users").json()["items"]}
    assert f"carol-{n}" not in users  # refused halfway: nothing left behind

    ok = post(
        "/center/tenants/users",
        name=f"carol-{n}",
        org_id=org["id"],
        role="org_admin",
        password=PASSWORD,
        email="carol@example.org",
    )
    assert ok.status_code == 303
    assert sign_in(browser(api), f"carol-{n}").status_code == 303  # she can sign in
    listing = client.get("/center/tenants").text
    assert f"carol-{n}" in listing and "Organization administrator" in listing


def test_a_chinese_reader_sees_the_services_refusals_in_chinese(
    api: TestClient, alice: Person
) -> None:
    client = operator(api)
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    try:
        form = {"csrf": csrf_of(client, "/center/tenants"), "name": "exp", "org_id": "org_nope"}
        nowhere = client.post("/center/tenants/projects", data=form)
        assert nowhere.status_code == 422
        assert "未找到组织 org_nope" in nowhere.text
        assert "organization org_nope not found" not in nowhere.text
    finally:
        client.post("/language", data={"csrf": csrf_of(client), "language": "en"})
    member = signed_in(api, alice)
    member.post("/language", data={"csrf": csrf_of(member), "language": "zh-CN"})
    refused = member.get("/center")
    assert refused.status_code == 403
    assert "只有中心的运维人员可以打开此页面" in refused.text


# --- the audit log ---


def test_the_audit_log_filters_and_pages(
    api: TestClient, alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        submit(api, alice, command="true")
    client = operator(api)
    mine = client.get(f"/center/audit?actor={alice.name}").text
    actors = re.findall(r'<td><a href="/center/audit\?actor=([^"]+)">', mine)
    assert actors and set(actors) == {alice.name}
    assert mine.count("<code>job.submit</code>") == 3
    submits = client.get("/center/audit?action=job.submit").text
    assert set(re.findall(r"<td><code>([a-z_.]+)</code></td>", submits)) == {"job.submit"}
    assert '<option value="job.submit" selected>' in submits
    everything = client.get("/center/audit?action=no.such.action&before=x").text
    assert "org.create" in everything  # an unknown filter or cursor is ignored

    monkeypatch.setattr(center_views, "AUDIT_PAGE", 2)
    first = client.get(f"/center/audit?actor={alice.name}").text
    older = re.search(r'href="(/center/audit\?actor=[^"]+before=(\d+))">Older entries', first)
    assert older is not None
    second = client.get(html.unescape(older.group(1))).text
    assert "Newest entries" in second
    first_ids = re.findall(r"job_[0-9A-Z]+", first)
    assert first_ids and not set(first_ids) & set(re.findall(r"job_[0-9A-Z]+", second))


def test_operator_pages_are_complete_in_both_languages(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = operator(api)
    caplog.set_level(logging.WARNING, logger="aicc.portal")
    for language in ("en", "zh-CN"):
        client.post("/language", data={"csrf": csrf_of(client), "language": language})
        for path in OPERATOR_PAGES:
            page = client.get(path)
            assert page.status_code == 200, path
            assert f'<html lang="{language}">' in page.text
            assert "<script>" not in page.text and " style=" not in page.text  # the CSP's rules
            for field in re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', page.text):
                assert f'for="{field}"' in page.text, (path, field)  # every field labelled
    assert "运维" in client.get("/center").text
    client.post("/language", data={"csrf": csrf_of(client), "language": "en"})
    assert not [r for r in caplog.records if "no message" in r.getMessage()]


def test_operator_pages_on_sqlite_and_postgresql(server: tuple[TestClient, AppState]) -> None:
    """The overview's history, the audit filters and a refused form's savepoint, on both."""
    api, _ = server
    alice = make_person(api, "acme", "alice")
    job = submit(api, alice, name="tiny", command="true")
    wait_job(api, alice, job["id"], TERMINAL)
    client = operator(api)
    page = client.get("/center?hours=1")
    assert page.status_code == 200 and "starts in 1 h" in page.text
    log = client.get("/center/audit?actor=alice&action=job.submit").text
    assert log.count("<code>job.submit</code>") == 1
    assert client.get("/center/nodes").status_code == 200
    assert client.get("/quotas").status_code == 200
    token = csrf_of(client, "/center/tenants")
    lost = client.post(
        "/center/tenants/users", data={"csrf": token, "name": "ghost", "org_id": "org_nope"}
    )
    assert lost.status_code == 422
    assert "ghost" not in {u["name"] for u in api.get("/api/v1/users").json()["items"]}


def test_the_overview_shows_metered_energy_of_real_devices_only(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, state = site
    client = operator(api)
    before = energy_card(client.get("/center?hours=1").text)  # simulated devices only so far
    assert "—" in before and "No metered usage of real accelerators in the last 1 h" in before
    now = utcnow().replace(microsecond=0)
    start, end = now - timedelta(minutes=90), now - timedelta(minutes=30)
    n = unique()
    common = {"kind": "compute", "org_id": alice.org_id, "project_id": alice.project_id,
              "devices": 1, "milli": 1000, "start": start, "end": end, "period": "2000-01",
              "duration_us": 3600 * 10**6, "created_at": end}  # fmt: skip
    real = UsageRow(
        key=f"energy-real-{n}", accelerator="H100-80GB", energy_kwh=2.0, carbon_kg=1.1, **common
    )
    simulated = UsageRow(
        key=f"energy-sim-{n}", accelerator="A100-80GB", simulated=True, energy_kwh=7.0, **common
    )
    with state.db.session() as session:
        session.add_all([real, simulated])
    with state.db.reader() as session:
        admin = session.scalar(select(UserRow).where(UserRow.name == "admin"))
        member = session.get(UserRow, alice.user_id)
        assert admin is not None and member is not None
        who = principal_of(session, admin)
        hour = records.footprint_by_org(session, who, since=now - timedelta(hours=1), until=now)
        day = records.footprint_by_org(session, who, since=now - timedelta(hours=24), until=now)
        with pytest.raises(Forbidden):
            records.footprint_by_org(session, principal_of(session, member), since=start, until=now)
    assert hour[alice.org_id].energy_kwh == pytest.approx(1.0)  # half lies in the last hour
    assert hour[alice.org_id].carbon_kg == pytest.approx(0.55)
    assert day[alice.org_id].energy_kwh == pytest.approx(2.0)  # simulated: draws nothing
    page = client.get("/center?hours=24").text
    card = energy_card(page)
    assert (
        'stat-value">2 <span class="stat-unit">kWh' in card and "metered in the last 24 h" in card
    )
    assert "1.1 kg CO₂e at the grid&#39;s hourly intensity" in card
    assert "Energy (kWh)" in page and "Carbon (kg CO₂e)" in page  # per organization too
    org_name = alice.name.replace("alice", "acme")
    row = page.split(f'<th scope="row">{org_name}</th>')[1].split("</tr>")[0]
    assert '<td class="num opt">2</td>' in row and '<td class="num opt">1.1</td>' in row
    assert 'stat-value">1 <span' in energy_card(client.get("/center?hours=1").text)


def energy_card(page: str) -> str:
    return page.split('class="stat stat-energy"')[1].split("</div>")[0]


def test_an_operator_disables_and_enables_a_user_from_the_users_table(
    api: TestClient, alice: Person
) -> None:
    client = operator(api)
    hers = signed_in(api, alice)
    assert hers.get("/jobs", follow_redirects=False).status_code == 200
    page = client.get("/center/tenants").text
    action = f'action="/center/tenants/users/{alice.user_id}/disable"'
    assert action in page
    me = api.get("/api/v1/me").json()["user"]["id"]
    assert f"/center/tenants/users/{me}/" not in page  # no button to disable oneself

    for token in ("", "forged", csrf_of(hers)):  # the form needs this session's own token
        forged = client.post(f"/center/tenants/users/{alice.user_id}/disable", data={"csrf": token})
        assert forged.status_code == 400 and "form expired" in forged.text
    assert hers.get("/jobs", follow_redirects=False).status_code == 200

    done = client.post(
        f"/center/tenants/users/{alice.user_id}/disable",
        data={"csrf": csrf_of(client, "/center/tenants")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    assert f"User {alice.name} is disabled" in after
    row = re.search(rf'<tr id="user-{alice.user_id}" class="user-disabled">.*?</tr>', after, re.S)
    assert row and "Disabled" in row.group(0) and "/enable" in row.group(0)
    # Her session goes back to sign-in at once, her token is refused, and so is her password.
    gone = hers.get("/jobs", follow_redirects=False)
    assert (gone.status_code, gone.headers["location"]) == (303, "/sign-in?next=%2Fjobs")
    assert api.get("/api/v1/me", headers=alice.headers).status_code == 401
    refused = sign_in(browser(api), alice.name)
    assert refused.status_code == 200 and "do not match" in refused.text

    back = client.post(
        f"/center/tenants/users/{alice.user_id}/enable",
        data={"csrf": csrf_of(client, "/center/tenants")},
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert f"User {alice.name} is enabled again" in client.get(back.headers["location"]).text
    assert (
        hers.get("/jobs", follow_redirects=False).status_code == 303
    )  # the old session stays ended
    again = signed_in(api, alice)  # she signs in anew
    assert again.get("/jobs", follow_redirects=False).status_code == 200
    assert api.get("/api/v1/me", headers=alice.headers).status_code == 200

    myself = client.post(
        f"/center/tenants/users/{me}/disable", data={"csrf": csrf_of(client, "/center/tenants")}
    )
    assert myself.status_code == 409 and "you cannot disable yourself" in myself.text
    assert client.get("/center/tenants").status_code == 200
    nobody = client.post(
        "/center/tenants/users/usr_nope/disable", data={"csrf": csrf_of(client, "/center/tenants")}
    )
    assert nobody.status_code == 404
    audit = client.get("/center/audit?action=user.disable").text
    assert "<code>user.disable</code>" in audit
