"""The quotas page's slowdown table (issue 63.3): per project the reader may read, the mean and
p95 slowdown of its jobs that finished in the last seven days: the read model `aicc queue
slowdown` prints (services/jobs/slowdown.py), never another tenant's projects; in Chinese too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, submit, unique

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.testing.jobs import finish_as
from aicc.testing.servers import in_process


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState]]:
    """A server whose loops are stopped: the test writes its jobs' history itself."""
    with in_process(tmp_path_factory.mktemp("portal") / "home", None) as (api, state):
        state.controller.stop()
        yield api, state


def row_of(page: str, project_id: str) -> list[str]:
    found = re.search(rf'<tr data-project="{project_id}">(.*?)</tr>', page, re.S)
    assert found, page
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", found.group(1), re.S)
    ]


def test_the_quotas_page_shows_each_readable_projects_slowdown(
    site: tuple[TestClient, AppState],
) -> None:
    api, state = site
    n = unique()
    alice: Person = make_person(api, f"acme-{n}", f"alice-{n}")
    bob: Person = make_person(api, f"globex-{n}", f"bob-{n}")
    empty = signed_in(api, bob).get("/quotas")
    assert empty.status_code == 200 and 'id="slowdown"' in empty.text
    assert "No job finished in the last 7 days." in empty.text
    t, s = utcnow() - timedelta(hours=1), timedelta(seconds=1)
    for wait in (0, 300):  # slowdowns 1 and 4
        job = submit(api, alice, command="true")
        finish_as(state.db, job["id"], submitted=t, runs=[(t + wait * s, t + (wait + 100) * s)])

    page = signed_in(api, alice).get("/quotas")
    assert page.status_code == 200
    assert row_of(page.text, alice.project_id) == ["default", "2", "2.50", "4.00"]
    assert alice.project_id not in signed_in(api, bob).get("/quotas").text
    reader = signed_in(api, alice)
    reader.post("/language", data={"csrf": csrf_of(reader), "language": "zh-CN"})
    chinese = reader.get("/quotas").text
    assert "各项目的减速比" in chinese and row_of(chinese, alice.project_id)[1:] == [
        "2",
        "2.50",
        "4.00",
    ]
