"""Issue 37's path in a real browser (Debian's Chromium driven by Playwright) against a real
`aicc serve` process, with no CLI and no code: a person with a weather table of their own
(written here, dates as `2021/03/04`) uploads it as a data set, picks the generic
`table-prediction` template and the column to predict in the wizard, trains, opens the model
page (the card's facts and charts drawn), deploys it with the form, predicts one row in the
playground built from the model's schema, predicts a CSV of new days and downloads the
predictions; then the whole path again in Chinese. No console error, no serious accessibility
violation. Screenshots go to tests/artifacts/portal/predict-*.png."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from portal_support import Person, make_person
from test_portal_browser import (
    Watch,
    axe_check,
    chromium,
    narrow_tour,
    open_page,
    portal_server,
    shot,
    sign_in,
)
from test_portal_predict import CLASSES, weather_csv

pytestmark = pytest.mark.slow
__all__ = ["chromium"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Person]]:
    config = {"loop_interval_s": 0.3, "limits": {"grace_s": 1.0}}
    with portal_server(tmp_path_factory, "portal-predict", config) as (server, api):
        yield server.url, make_person(api, "meteo", "mei")


def until_ready(page: Any, name: str) -> None:
    """On the page of deployment `name`, just made: reload until a replica is ready."""
    from playwright.sync_api import expect

    expect(page.locator("main h1")).to_contain_text(name)
    deadline = time.monotonic() + 150  # no less than the 90 reloads it replaces
    while time.monotonic() < deadline:
        if page.locator("main h1 .state-ready").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("main h1 .state-ready")).to_have_count(1)


def test_my_table_to_a_model_api_in_the_browser(
    served: tuple[str, Person], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, mei = served
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, url, mei)

    # My table, uploaded as a data set.
    (tmp_path / "weather.csv").write_text(weather_csv(300))
    page.get_by_role("link", name="Data", exact=True).click()
    page.get_by_label("Name", exact=True).fill("my-weather")
    page.get_by_role("button", name="Create data set").click()
    page.set_input_files("#upload-files", str(tmp_path / "weather.csv"))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_url("**uploaded=1**")
    expect(page.locator(".preview-table")).to_contain_text("2021/01/01")
    shot(page, "predict-data")

    # The wizard: the data set, the generic template with the column to predict, the settings.
    page.goto(url + "/marketplace/train")
    page.get_by_role("link", name="my-weather").click()
    generic = page.locator("#pick-table-prediction")
    expect(generic).to_contain_text("The column to predict")
    generic.get_by_label("The column to predict").select_option("weather")
    shot(page, "predict-wizard-choose")
    axe_check(page, "the wizard's templates")
    generic.get_by_role("button", name="Continue").click()
    page.get_by_label("Model name").fill("weather-model")
    page.get_by_label("time_budget_s").fill("5")
    shot(page, "predict-wizard-settings")
    page.get_by_role("button", name="Start training").click()
    opened = page.get_by_role("link", name="Open the model")
    expect(opened).to_be_visible(timeout=180_000)
    shot(page, "predict-run-done")

    # The model page: the card's facts and charts.
    opened.click()
    expect(page.locator("#facts-title")).to_contain_text("What weather-model@1 learned")
    facts = page.locator("#model-facts")
    expect(facts).to_contain_text("weather")
    expect(page.locator("#card-score")).to_contain_text("against")
    expect(page.locator("#confusion-chart[data-chart-ready] canvas").first).to_be_visible()
    expect(page.locator("#importance-chart[data-chart-ready] canvas").first).to_be_visible()
    shot(page, "predict-model")
    axe_check(page, "a model's card")
    model_url = page.url

    # Deploy with the form, and wait until a replica is ready.
    page.get_by_role("link", name="Deploy weather-model@1").click()
    page.get_by_label("Name", exact=True).fill("weather")
    shot(page, "predict-deploy-form")
    page.get_by_role("button", name="Deploy", exact=True).click()
    until_ready(page, "weather")
    deployment_path = page.url[len(url) :].partition("#")[0]

    # One row in the form built from the model's schema.
    form = page.locator("form", has=page.locator("#predict-one-title"))
    expect(form.get_by_label("date")).to_have_attribute("type", "date")
    form.get_by_label("humidity").fill("92")
    form.get_by_label("wind").fill("2")
    form.get_by_role("button", name="Predict").click()
    expect(page.locator("#predict-value")).to_have_text("rain")
    expect(page.locator(".predict-bars meter")).to_have_count(len(CLASSES))
    shot(page, "predict-one-row")
    axe_check(page, "the predict playground")

    # Many rows: a CSV of new days, the predictions shown and downloaded.
    new_days = weather_csv(30, seed=11, start=date(2022, 5, 1), label=False)
    (tmp_path / "new-days.csv").write_text(new_days)
    page.set_input_files("#predict-table", str(tmp_path / "new-days.csv"))
    page.get_by_role("button", name="Predict the file").click()
    expect(page.locator("#predictions tbody tr")).to_have_count(30)
    shot(page, "predict-csv")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == "weather-predictions.csv"
    saved = tmp_path / "predictions.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert len(rows) == 30 and rows[0]["date"] == "2022/05/01"
    assert {r["weather_predicted"] for r in rows} <= set(CLASSES)

    # The key steps in Chinese.
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#playground-title")).to_have_text("预测")
    form = page.locator("form", has=page.locator("#predict-one-title"))
    expect(page.locator("#predict-one-title")).to_have_text("单行预测")
    form.get_by_label("humidity").fill("30")
    form.get_by_label("wind").fill("8")
    form.get_by_role("button", name="预测", exact=True).click()
    expect(page.locator("#predict-value")).to_have_text("sun")
    shot(page, "predict-one-row-zh")
    page.set_input_files("#predict-table", str(tmp_path / "new-days.csv"))
    page.get_by_role("button", name="预测该文件").click()
    expect(page.locator("#predictions tbody tr")).to_have_count(30)
    expect(page.get_by_role("button", name="下载 CSV")).to_be_visible()
    shot(page, "predict-csv-zh")
    page.goto(model_url)
    expect(page.locator("#facts-title")).to_contain_text("学到了什么")
    expect(page.locator("#confusion-chart[data-chart-ready] canvas").first).to_be_visible()
    shot(page, "predict-model-zh")
    page.get_by_role("button", name="English").click()

    # On a phone: the card and the playground fit the screen (wide tables scroll inside).
    narrow = narrow_tour(
        chromium,
        watch,
        page,
        url,
        {
            model_url[len(url) :]: "predict-model-narrow",
            deployment_path: "predict-deployment-narrow",
        },
    )
    narrow.close()
    assert not watch.problems, "\n".join(watch.problems)
    # Its replica gives its cores back for the next test's training.
    stopped = httpx.post(f"{url}/api/v1/deployments/weather/stop", headers=mei.headers)
    assert stopped.status_code == 200, stopped.text


def test_the_same_path_in_chinese(
    served: tuple[str, Person], chromium: Any, tmp_path: Path
) -> None:
    """Every step again with the portal in zh-CN: upload, the column to predict, training, the
    card, the deploy form, one row, a CSV and its download."""
    from playwright.sync_api import expect

    url, mei = served
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, url, mei)
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    (tmp_path / "weather.csv").write_text(weather_csv(300, seed=5))
    page.get_by_role("link", name="数据", exact=True).click()
    page.get_by_label("名称", exact=True).fill("tianqi")
    page.get_by_role("button", name="创建数据集").click()
    page.set_input_files("#upload-files", str(tmp_path / "weather.csv"))
    page.get_by_role("button", name="上传", exact=True).click()
    page.wait_for_url("**uploaded=1**")
    expect(page.locator(".preview-table")).to_contain_text("2021/01/01")

    page.goto(url + "/marketplace/train")
    page.get_by_role("link", name="tianqi").click()
    generic = page.locator("#pick-table-prediction")
    expect(generic).to_contain_text("要预测的列")
    generic.get_by_label("要预测的列").select_option("weather")
    generic.get_by_role("button", name="继续").click()
    page.get_by_label("模型名称").fill("tianqi-model")
    page.get_by_label("time_budget_s").fill("5")
    shot(page, "predict-wizard-settings-zh")
    page.get_by_role("button", name="开始训练").click()
    opened = page.get_by_role("link", name="查看模型")
    expect(opened).to_be_visible(timeout=180_000)

    opened.click()
    expect(page.locator("#facts-title")).to_contain_text("tianqi-model@1 学到了什么")
    expect(page.locator("#confusion-chart[data-chart-ready] canvas").first).to_be_visible()

    page.get_by_role("link", name="部署 tianqi-model@1").click()
    page.get_by_label("名称", exact=True).fill("tianqi")
    shot(page, "predict-deploy-form-zh")
    page.get_by_role("button", name="部署", exact=True).click()
    until_ready(page, "tianqi")

    form = page.locator("form", has=page.locator("#predict-one-title"))
    expect(page.locator("#predict-one-title")).to_have_text("单行预测")
    form.get_by_label("humidity").fill("92")
    form.get_by_label("wind").fill("2")
    form.get_by_role("button", name="预测", exact=True).click()
    expect(page.locator("#predict-value")).to_have_text("rain")

    new_days = weather_csv(30, seed=12, start=date(2022, 6, 1), label=False)
    (tmp_path / "new-days.csv").write_text(new_days)
    page.set_input_files("#predict-table", str(tmp_path / "new-days.csv"))
    page.get_by_role("button", name="预测该文件").click()
    expect(page.locator("#predictions tbody tr")).to_have_count(30)
    with page.expect_download() as download:
        page.get_by_role("button", name="下载 CSV").click()
    saved = tmp_path / "downloaded.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert len(rows) == 30 and rows[0]["date"] == "2022/06/01"
    assert {r["weather_predicted"] for r in rows} <= set(CLASSES)
    shot(page, "predict-csv-zh-path")
    page.get_by_role("button", name="English").click()
    assert not watch.problems, "\n".join(watch.problems)
