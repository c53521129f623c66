"""The job page's Metrics panel: through TestClient (the panel, its poll, the empty state, another
tenant's 404) and in a real browser (Debian's Chromium driven by Playwright, against a real
`aicc serve`): a job logging with `aicc.log_metrics` is drawn by ECharts while it runs, the
curves grow by themselves, and the poll stops when it ends; in English and Chinese, with no
console error and no serious accessibility violation. Screenshots go to
tests/artifacts/portal/job-metrics*.png."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from portal_support import TERMINAL, Person, make_person, signed_in, submit, wait_job
from test_portal_browser import (
    NARROW,
    Watch,
    axe_check,
    chromium,
    fits_the_screen,
    open_page,
    portal_server,
    shot,
    sign_in,
)

__all__ = ["chromium"]  # the browser fixture, shared with the portal's other browser tests

# Twenty steps at once, then twenty more after the gate file appears in its outputs.
TRAIN = """
import math, os, pathlib, time, aicc
def log(step):
    loss = 2.0 * math.exp(-step / 12) + 0.05
    aicc.log_metrics(step=step, loss=loss, accuracy=1 - 0.5 * math.exp(-step / 9))
for step in range(20):
    log(step)
gate = pathlib.Path(os.environ["AICC_OUTPUT_DIR"], "release")
while not gate.exists():
    time.sleep(0.1)
for step in range(20, 40):
    log(step)
    time.sleep(0.05)
"""
WRITTEN = """printf '%s\\n' '{"step": 0, "reward": 1.5}' '{"step": 1, "reward": 2.5}' \
> "$AICC_OUTPUT_DIR/metrics.jsonl"; sleep 30"""


def charts_of(html: str) -> dict[str, list[list[float]]]:
    """The chart data the panel hands ECharts: metric name -> its [step, value] points."""
    found = {}
    for raw in re.findall(r"data-chart='([^']*)'", html):
        chart = json.loads(raw.replace("&#34;", '"'))
        found[chart["name"]] = chart["points"]
    return found


def test_the_panel_polls_while_running_then_shows_the_curves_and_stops(
    api: TestClient, alice: Person, bob: Person
) -> None:
    job = submit(api, alice, name="reward-writer", command=WRITTEN)
    client = signed_in(api, alice)
    panel_url = f"/jobs/{job['id']}/metrics"
    for _ in range(100):
        panel = client.get(panel_url, headers={"HX-Request": "true"}).text
        if "data-chart=" in panel:
            break
        time.sleep(0.2)
    assert panel.lstrip().startswith('<section id="job-metrics"')
    assert f'hx-get="{panel_url}" hx-trigger="every 3s"' in panel
    assert charts_of(panel) == {"reward": [[0, 1.5], [1, 2.5]]}
    assert "2.5 at step 1" in panel and "min 1.5 · max 2.5" in panel
    assert charts_of(client.get(f"/jobs/{job['id']}").text) == charts_of(panel)

    assert signed_in(api, bob).get(panel_url).status_code == 404  # another tenant's job

    api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice.headers)
    wait_job(api, alice, job["id"], TERMINAL)
    ended = client.get(panel_url, headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in ended and charts_of(ended) == {"reward": [[0, 1.5], [1, 2.5]]}


def test_a_job_without_metrics_says_how_to_log_them(api: TestClient, alice: Person) -> None:
    job = submit(api, alice, name="quiet", command="true")
    wait_job(api, alice, job["id"], TERMINAL)
    client = signed_in(api, alice)
    text = client.get(f"/jobs/{job['id']}").text
    assert "This job logged no metrics" in text and "aicc.log_metrics(step=…, loss=…)" in text
    assert "data-chart=" not in text and f"/jobs/{job['id']}/metrics" not in text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Person]]:
    config = {"loop_interval_s": 0.5}
    with portal_server(tmp_path_factory, "portal-metrics", config) as (server, api):
        yield server.url, server.home, make_person(api, "lab", "mira")


@pytest.mark.slow
def test_the_curves_are_drawn_and_grow_while_the_job_runs(
    served: tuple[str, Path, Person], chromium: Any
) -> None:
    from playwright.sync_api import expect

    url, home, mira = served
    api = httpx.Client(timeout=60, base_url=url, headers=mira.headers)

    def logged(step: int) -> None:
        for _ in range(300):
            answer = api.get(f"/api/v1/jobs/{job['id']}/metrics").json()
            if answer["last_step"] == step:
                break
            time.sleep(0.2)
        assert answer["last_step"] == step, answer

    job = submit(api, mira, name="curve-fit", command=["python", "-c", TRAIN])
    logged(19)

    watch = Watch()
    page = open_page(chromium, watch)
    page.clock.install()  # time flows as usual; the test moves it on to the page's next polls
    sign_in(page, url, mira)
    page.goto(f"{url}/jobs/{job['id']}")
    panel = page.locator("#job-metrics")
    expect(panel.get_by_role("heading", name="Metrics")).to_be_visible()
    expect(panel.locator("[data-chart-ready] canvas")).to_have_count(2)  # loss, accuracy
    expect(panel.locator("figure", has_text="loss")).to_contain_text("at step 19")
    expect(panel).to_contain_text("Live: refreshes while the job runs")
    panel.scroll_into_view_if_needed()
    shot(page, "job-metrics-live")

    # The job goes on: the panel redraws itself with the new steps, then stops polling. Once
    # the steps are logged, and again once the job is over, the page's clock jumps to its polls
    # (the panel's every 3 s, the head's every 2 s) instead of the test waiting for them.
    (home / "runs" / job["id"] / "outputs" / "release").touch()
    logged(39)
    page.clock.fast_forward(3_000)
    expect(panel.locator("figure", has_text="loss")).to_contain_text("at step 39", timeout=30_000)
    assert wait_job(api, mira, job["id"], TERMINAL)["state"] == "succeeded"
    api.close()
    page.clock.fast_forward(3_000)
    expect(page.locator("#job-live .badge")).to_contain_text("Succeeded", timeout=30_000)
    expect(panel).not_to_have_attribute("hx-trigger", re.compile("."), timeout=10_000)
    expect(panel.locator("[data-chart-ready] canvas")).to_have_count(2)
    shot(page, "job-metrics")
    axe_check(page, "the job page with metrics")

    page.get_by_role("button", name="中文").click()
    expect(page.locator("#job-metrics h2")).to_have_text("训练指标")
    expect(page.locator("#job-metrics")).to_contain_text("第 39 步")
    shot(page, "job-metrics-zh")

    narrow = open_page(chromium, watch, NARROW, storage_state=page.context.storage_state())
    narrow.goto(f"{url}/jobs/{job['id']}")
    expect(narrow.locator("#job-metrics [data-chart-ready] canvas")).to_have_count(2)
    fits_the_screen(narrow, "the job page")
    shot(narrow, "job-metrics-narrow")
    assert not watch.problems, "\n".join(watch.problems)
