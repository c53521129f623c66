"""The marketplace and the low-code wizard in a real browser (Debian's Chromium driven by
Playwright) against a real `aicc serve` process: a person browses and filters the catalog,
opens a template, walks the wizard from a pushed data set to a trained, registered model (a
hyperparameter out of range is named next to its field), opens the model page and sees its
training curve drawn by ECharts, its card and lineage; in English and Chinese, with no console
error and no serious accessibility violation; another tenant gets the 404 page. Screenshots go
to tests/artifacts/portal/market-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portal_support import Person, make_person
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

from aicc.testing import templates
from aicc.testing.datasets import push

pytestmark = pytest.mark.slow
__all__ = ["chromium"]  # the browser fixture, shared with the portal's other browser tests

TEMPLATE = "credit-risk"  # trains in seconds


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Person, Person]]:
    config = {"loop_interval_s": 0.5}
    with portal_server(tmp_path_factory, "portal-market", config) as (server, api):
        dana = make_person(api, "bank", "dana")
        eve = make_person(api, "rival", "eve")
        example = templates.example(TEMPLATE, tmp_path_factory.mktemp("loans") / "loans")
        files = {p.relative_to(example).as_posix(): p.read_bytes() for p in example.rglob("*.*")}
        push(api, "loan-book", files, dana.headers)
        yield server.url, dana, eve


def test_bring_data_take_a_model_in_the_browser(
    served: tuple[str, Person, Person], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, dana, eve = served
    watch = Watch(expected_422s={"/marketplace/train"})
    page = open_page(chromium, watch)
    sign_in(page, url, dana)

    # The catalog: every template, then the finance ones, by a chip and by the selects.
    page.get_by_role("link", name="Marketplace", exact=True).click()
    expect(page.locator("main h1")).to_have_text("Algorithm marketplace")
    expect(page.locator(".market-card")).to_have_count(len(templates.names()))
    shot(page, "market")
    axe_check(page, "the marketplace")
    page.locator(".market-chips").get_by_role("link", name="Finance").click()
    expect(page.locator(".market-card")).to_have_count(1)
    page.get_by_label("Industry").select_option("")
    page.get_by_label("Task").select_option("image-classification")
    page.get_by_role("button", name="Find").click()
    expect(page.locator(".market-card")).not_to_have_count(0)
    expect(page.locator(".market-card", has_text="Credit risk")).to_have_count(0)
    page.get_by_label("Task").select_option("")
    page.get_by_role("searchbox", name="Search templates").fill("loan")
    page.get_by_role("button", name="Find").click()
    expect(page.locator(".market-card")).to_have_count(1)

    # A template's page, then the wizard: the data set, the template (straight to step 3
    # when it fits), and the settings.
    page.get_by_role("link", name="Credit risk assessment").click()
    expect(page.locator("main h1")).to_have_text("Credit risk assessment")
    expect(page.locator("main")).to_contain_text("annual_income")
    shot(page, "market-template")
    axe_check(page, "a template")
    page.get_by_role("link", name="Train on my data").click()
    expect(page.locator(".step.is-current")).to_contain_text("Data set")
    page.get_by_role("link", name="loan-book").click()
    expect(page.locator(".step.is-current")).to_contain_text("Settings")
    page.locator(".wizard-chosen", has_text="Template").get_by_role("link", name="change").click()
    expect(page.locator(".is-unfit")).not_to_have_count(0)
    expect(page.locator(".is-unfit").first).to_contain_text("Why not:")
    shot(page, "market-wizard-templates")
    axe_check(page, "the wizard's templates")
    page.get_by_role("link", name="Credit risk assessment").click()
    expect(page.locator(".estimate-table")).to_contain_text("CPU only")  # before training
    shot(page, "market-wizard-estimate")

    page.get_by_label("Model name").fill("loan-risk")
    page.get_by_label("learning_rate").fill("5")
    page.get_by_label("max_iter").fill("60")
    page.get_by_role("button", name="Start training").click()
    error = page.locator("#train-hp\\.learning_rate-error")
    expect(error).to_contain_text("5.0 is above the most allowed, 1")
    expect(page.get_by_label("max_iter")).to_have_value("60")
    shot(page, "market-wizard-error")
    axe_check(page, "the wizard's settings with an error")
    page.get_by_label("learning_rate").fill("0.1")
    page.get_by_role("button", name="Start training").click()

    # The run's page follows the job; the model's link comes when it is registered.
    expect(page.locator("main h1")).to_have_text("Training loan-risk")
    shot(page, "market-run")
    opened = page.get_by_role("link", name="Open the model")
    expect(opened).to_be_visible(timeout=180_000)
    expect(page.locator("#run-chart canvas")).to_have_count(1)  # the job's own metrics.jsonl
    shot(page, "market-run-done")
    opened.click()
    expect(page.locator("main h1")).to_contain_text("loan-risk")
    expect(page.locator("#curves-chart canvas")).to_have_count(1)
    expect(page.locator(".model-card h3")).to_contain_text("Credit risk assessment")
    lineage = page.locator("section", has=page.locator("#lineage-title"))
    expect(lineage.get_by_role("link", name=TEMPLATE)).to_have_count(1)
    expect(lineage.locator("a.chip", has_text="loan-book@1")).to_have_count(1)
    shot(page, "market-model")
    axe_check(page, "a model")
    page.get_by_role("button", name="Promote loan-risk@1 to production").click()
    expect(page.locator(".alert-ok")).to_contain_text("loan-risk@1 is now in Production")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download loan-risk@1").click()
    assert download.value.suggested_filename == "loan-risk-1.zip"
    model_url = page.url

    # The models, a tab of the marketplace.
    page.goto(url + "/marketplace")
    page.locator(".market-tabs").get_by_role("link", name="Models").click()
    expect(page.locator("main tbody tr", has_text="loan-risk")).to_contain_text("Production")
    shot(page, "market-models")
    axe_check(page, "the models")
    page.goto(model_url)

    # In Chinese, and on a narrow screen.
    page.get_by_role("button", name="中文").click()
    expect(page.locator("#curves-title")).to_contain_text("训练曲线")
    shot(page, "market-model-zh")
    page.goto(url + "/marketplace")
    expect(page.locator("main h1")).to_have_text("算法商城")
    shot(page, "market-zh")
    page.goto(url + "/marketplace/train")
    expect(page.locator(".step.is-current")).to_contain_text("数据集")
    shot(page, "market-wizard-zh")
    narrow = open_page(chromium, watch, NARROW, storage_state=page.context.storage_state())
    model_path = model_url[len(url) :]
    for path, name in (("/marketplace", "market-narrow"), (model_path, "market-model-narrow")):
        narrow.goto(url + path)
        expect(narrow.locator("main h1").first).to_be_visible()
        fits_the_screen(narrow, path)
        shot(narrow, name)
    page.get_by_role("button", name="English").click()

    # Another tenant: the model's page is the 404 page.
    watch.expected_404s.add(model_url[len(url) :])
    other = open_page(chromium, watch)
    sign_in(other, url, eve)
    answer = other.goto(model_url)
    assert answer is not None and answer.status == 404
    expect(other.locator("main")).not_to_contain_text("loan-book")
    assert not watch.problems, "\n".join(watch.problems)
