"""A failed job's page in a real browser (Debian's Chromium driven by Playwright) against a real
`aicc serve` process (issue 37, point 5): it opens on why the job failed (reason, exit code and
the last lines of stderr, above the log) and on the stderr tab, in English and Chinese, with no
console error and no serious accessibility violation. Screenshots go to
tests/artifacts/portal/job-failed*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from portal_support import Person, make_person
from test_portal_browser import (
    Watch,
    axe_check,
    chromium,
    open_page,
    portal_server,
    shot,
    sign_in,
)

pytestmark = pytest.mark.slow
__all__ = ["chromium"]  # the browser fixture, shared with the portal's other browser tests

NOISY = (
    "python -c \"import sys; [print(f'cleaning chunk {i}', file=sys.stderr) for i in range(8)]; "
    "print('RuntimeError: the sensor table is empty', file=sys.stderr); sys.exit(3)\""
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client, Person]]:
    config = {"loop_interval_s": 0.3}
    with portal_server(tmp_path_factory, "portal-failures", config) as (server, api):
        yield server.url, api, make_person(api, "plant", "dana")


def failed_job(api: httpx.Client, person: Person) -> str:
    spec = {"name": "sensor-clean", "command": NOISY, "resources": {"cpu": "100m"}}
    answer = api.post("/api/v1/jobs", json=spec, headers=person.headers)
    assert answer.status_code == 201, answer.text
    job_id: str = answer.json()["id"]
    deadline = time.monotonic() + 60
    while (job := api.get(f"/api/v1/jobs/{job_id}", headers=person.headers).json())[
        "state"
    ] != "failed":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job_id


def test_a_failed_jobs_page_opens_on_why(
    served: tuple[str, httpx.Client, Person], chromium: Any
) -> None:
    from playwright.sync_api import expect

    url, api, dana = served
    job_id = failed_job(api, dana)
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, url, dana)
    page.goto(f"{url}/jobs/{job_id}")
    box = page.locator("#failure")
    expect(box.get_by_role("heading", name="Why it failed")).to_be_visible()
    expect(box.get_by_role("alert")).to_contain_text("Exited with an error")
    expect(box.get_by_role("alert")).to_contain_text("exit code 3")
    expect(box.locator("pre")).to_contain_text("RuntimeError: the sensor table is empty")
    # the log below opens on stderr, since stdout is empty
    expect(page.locator(".tab.is-current")).to_have_text("Replica 0 · stderr")
    expect(page.locator("#job-log pre")).to_contain_text("cleaning chunk 0")
    # the cause is on the first screen, above the log
    top = box.bounding_box()
    log = page.locator("#log-title").bounding_box()
    assert top is not None and log is not None and top["y"] < log["y"]
    assert top["y"] < 900, top
    shot(page, "job-failed")
    axe_check(page, f"/jobs/{job_id} (failed)")

    page.get_by_role("button", name="中文").click()
    expect(page.locator("#failure").get_by_role("heading", name="失败原因")).to_be_visible()
    expect(page.locator("#failure")).to_contain_text("退出码 3")
    shot(page, "job-failed-zh")
    problems = list(watch.problems)  # before closing, which cancels any poll in flight
    page.context.close()
    assert not problems, problems
