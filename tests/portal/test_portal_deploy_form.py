"""The forms that make and change a deployment in the portal, as a browser's requests: Deploy on
a model version's page opens the form with that version chosen and lands on the new
deployment's page; the deployments' page has its own form (a model and version to choose); a
refusal (a taken name, resources no node has, a viewer's role) is the form again with its reason
in the reader's language; the edit form changes the bounds at once and makes a new revision
only for new resources; another tenant's model and deployment are the 404 page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import PASSWORD, Person, csrf_of, signed_in

from aicc.api.state import AppState
from aicc.services.models import models
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow

SMALL = {"cpu": "0.1", "memory": "128MiB", "gpus": ""}


def register(state: AppState, person: Person, name: str) -> str:
    """A tiny model version in the person's project; its reference as the form names it."""
    with state.db.session() as session:
        user = session.get(UserRow, person.user_id)
        assert user is not None
        who = principal_of(session, user)
        made = models.register(session, who, state.chunks, name, [("w.bin", b"weights")])
        found = models.get(session, who, name)
    return f"{found.project}/{made.ref}"


@pytest.fixture
def state(site: tuple[TestClient, AppState]) -> AppState:
    return site[1]


@pytest.fixture
def stopping(api: TestClient) -> Iterator[list[tuple[Person, str]]]:
    """Deployments a test made, stopped at its end so that no replica keeps running."""
    made: list[tuple[Person, str]] = []
    yield made
    for person, name in made:
        api.post(
            f"/api/v1/deployments/{name}/stop",
            params={"project": person.project_id},
            headers=person.headers,
        )


def form_of(ref: str, name: str, person: Person, **extra: str) -> dict[str, str]:
    values = {"name": name, "project": person.project_id, "model": ref, "engine": "auto"}
    return values | {"min_replicas": "1", "max_replicas": "2", **SMALL, **extra}


def get(api: TestClient, person: Person, name: str) -> dict[str, Any]:
    answer = api.get(
        f"/api/v1/deployments/{name}", params={"project": person.project_id}, headers=person.headers
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_deploy_from_a_model_lands_on_the_deployment(
    api: TestClient, state: AppState, alice: Person, stopping: list[tuple[Person, str]]
) -> None:
    ref = register(state, alice, "tiny")
    page = signed_in(api, alice)
    org_project = ref.rsplit("/", 1)[0]
    shown = page.get("/models/tiny", params={"project": org_project}).text
    link = re.search(r'href="(/deploy\?model=[^"]+)"', shown)
    assert link and ">Deploy<" in shown
    form = page.get(html.unescape(link.group(1)))
    assert form.status_code == 200
    assert 'name="name" type="text"\n         value="tiny"' in form.text  # named after the model
    assert f'<option value="{ref}" selected>' in form.text
    assert f'<option value="{alice.project_id}" selected>' in form.text

    sent = page.post(
        "/deploy",
        data={"csrf": csrf_of(page, "/deploy"), **form_of(ref, "tiny", alice)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    stopping.append((alice, "tiny"))
    where = sent.headers["location"]
    assert where == f"/deployments/tiny?project={alice.project_id}&done=create"
    landed = page.get(where).text
    assert "Created: its replicas are starting." in landed and ref in landed
    assert f'href="/deployments/tiny/edit?project={alice.project_id}"' in landed
    made = get(api, alice, "tiny")
    assert made["model"] == ref and made["revision"] == 1
    assert (made["min_replicas"], made["max_replicas"]) == (1, 2)
    assert made["resources"] == {"cpu": "0.1", "memory": "128MiB"}
    assert made["engine"] == "auto" and made["target_concurrency"] is None

    listed = page.get("/deployments").text
    assert 'href="/deploy"' in listed and "New deployment" in listed


def test_the_deployments_page_has_a_form_and_an_empty_state_without_the_cli(
    api: TestClient, state: AppState, alice: Person, stopping: list[tuple[Person, str]]
) -> None:
    page = signed_in(api, alice)
    empty = page.get("/deployments").text
    assert "aicc deploy create" not in empty and "New deployment" in empty
    assert "No model yet" in page.get("/deploy").text  # nothing to choose yet
    ref = register(state, alice, "scorer")
    blank = page.get("/deploy").text
    assert "Choose a model version" in blank and f'<option value="{ref}">' in blank
    missing = page.post(
        "/deploy",
        data={"csrf": csrf_of(page, "/deploy"), **form_of("", "scorer-api", alice)},
    )
    assert missing.status_code == 422 and "This field is required." in missing.text
    sent = page.post(
        "/deploy",
        data={
            "csrf": csrf_of(page, "/deploy"),
            **form_of(ref, "scorer-api", alice, target_concurrency="4", min_replicas="0"),
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    stopping.append((alice, "scorer-api"))
    made = get(api, alice, "scorer-api")
    assert made["target_concurrency"] == 4 and made["min_replicas"] == 0


def test_refusals_are_shown_on_the_form_in_the_readers_language(
    api: TestClient, state: AppState, alice: Person, stopping: list[tuple[Person, str]]
) -> None:
    ref = register(state, alice, "risk")
    page = signed_in(api, alice)
    token = csrf_of(page, "/deploy")
    bad = page.post("/deploy", data={"csrf": token, **form_of(ref, "Risk API", alice)})
    assert bad.status_code == 422
    assert 'id="deploy-name-error"' in bad.text and "Use lower-case letters" in bad.text
    assert 'value="Risk API"' in bad.text  # what was typed stays
    huge = page.post("/deploy", data={"csrf": token, **form_of(ref, "risk", alice, cpu="500")})
    assert huge.status_code == 422
    assert "no node of this center can ever run this job" in huge.text
    assert 'id="deploy-resources-error"' in huge.text
    cores = page.post("/deploy", data={"csrf": token, **form_of(ref, "risk", alice, cpu="5000")})
    assert 'id="deploy-cpu-error"' in cores.text and "resources.cpu_milli" not in cores.text
    wrong = page.post(
        "/deploy",
        data={"csrf": token, **form_of(ref, "risk", alice, max_replicas="0", min_replicas="0")},
    )
    assert wrong.status_code == 422 and 'id="deploy-max_replicas-error"' in wrong.text
    assert (
        page.post("/deploy", data={"csrf": "x", **form_of(ref, "risk", alice)}).status_code == 400
    )
    assert (
        api.get(
            "/api/v1/deployments/risk", params={"project": alice.project_id}, headers=alice.headers
        ).status_code
        == 404
    )  # nothing was left behind

    made = page.post(
        "/deploy", data={"csrf": token, **form_of(ref, "risk", alice)}, follow_redirects=False
    )
    assert made.status_code == 303
    stopping.append((alice, "risk"))
    page.post("/language", data={"csrf": token, "language": "zh-CN"})
    twice = page.post("/deploy", data={"csrf": token, **form_of(ref, "risk", alice)})
    assert twice.status_code == 422 and "该名称已被使用。" in twice.text
    huge = page.post("/deploy", data={"csrf": token, **form_of(ref, "risk2", alice, cpu="500")})
    assert "本中心没有任何节点能运行此作业" in huge.text and "部署模型" in huge.text

    viewer = api.post(
        "/api/v1/users",
        json={
            "name": f"{alice.name}-viewer",
            "role": "viewer",
            "org_id": alice.org_id,
            "projects": [alice.project_id],
            "password": PASSWORD,
        },
    )
    assert viewer.status_code == 201, viewer.text
    looker = signed_in(api, f"{alice.name}-viewer")
    refused = looker.post(
        "/deploy",
        data={"csrf": csrf_of(looker, "/deploy"), **form_of(ref, "risk3", alice)},
    )
    assert refused.status_code == 403
    assert "Your role does not allow this." in refused.text
    assert "viewers cannot change deployments" in refused.text


def test_the_edit_form_rescales_at_once_and_revises_for_new_resources(
    api: TestClient, state: AppState, alice: Person, stopping: list[tuple[Person, str]]
) -> None:
    ref = register(state, alice, "churn")
    page = signed_in(api, alice)
    token = csrf_of(page, "/deploy")
    made = page.post(
        "/deploy", data={"csrf": token, **form_of(ref, "churn", alice)}, follow_redirects=False
    )
    assert made.status_code == 303
    stopping.append((alice, "churn"))
    edit = f"/deployments/churn/edit?project={alice.project_id}"
    shown = page.get(edit).text
    assert 'value="0.1"' in shown and 'value="128MiB"' in shown and 'value="2"' in shown
    assert "Change churn" in shown

    same = {"model": ref, "engine": "auto", "min_replicas": "1", "max_replicas": "2", **SMALL}
    scaled = page.post(
        edit, data={"csrf": token, **same, "max_replicas": "3"}, follow_redirects=False
    )
    assert scaled.status_code == 303, scaled.text
    assert scaled.headers["location"].endswith("done=edit")
    after = get(api, alice, "churn")
    assert (after["revision"], after["max_replicas"]) == (1, 3)  # no new revision for bounds

    bigger = page.post(
        edit,
        data={"csrf": token, **same, "max_replicas": "3", "cpu": "0.2"},
        follow_redirects=False,
    )
    assert bigger.status_code == 303
    after = get(api, alice, "churn")
    assert after["revision"] == 2 and after["resources"] == {"cpu": "0.2", "memory": "128MiB"}
    assert "Saved" in page.get(bigger.headers["location"]).text

    refused = page.post(edit, data={"csrf": token, **same, "min_replicas": "5"})
    assert refused.status_code == 422 and 'id="deploy-min_replicas-error"' in refused.text
    assert get(api, alice, "churn")["max_replicas"] == 3  # unchanged


def test_another_tenants_model_and_deployment_are_404(
    api: TestClient,
    state: AppState,
    alice: Person,
    bob: Person,
    stopping: list[tuple[Person, str]],
) -> None:
    ref = register(state, alice, "private")
    mine = signed_in(api, alice)
    made = mine.post(
        "/deploy",
        data={"csrf": csrf_of(mine, "/deploy"), **form_of(ref, "private", alice)},
        follow_redirects=False,
    )
    assert made.status_code == 303
    stopping.append((alice, "private"))

    outsider = signed_in(api, bob)
    token = csrf_of(outsider, "/deploy")
    assert ref not in outsider.get("/deploy").text
    assert outsider.get("/deploy", params={"model": ref}).status_code == 404
    taken = outsider.post("/deploy", data={"csrf": token, **form_of(ref, "mine", bob)})
    assert taken.status_code == 404
    edit = f"/deployments/private/edit?project={alice.project_id}"
    assert outsider.get(edit).status_code == 404
    same = {"engine": "auto", "min_replicas": "1", "max_replicas": "5", **SMALL}
    assert outsider.post(edit, data={"csrf": token, **same}).status_code == 404
    assert get(api, alice, "private")["max_replicas"] == 2
