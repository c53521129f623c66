"""A model that speaks the user's data, in the portal as a browser's requests: a person's own
weather table trained with the generic `table-prediction` template (the column to predict
chosen), the model page's card (the training's facts and charts, in English and Chinese), and
a deployment of it whose playground is a form built from the model's input schema: one row
predicted, a CSV of rows predicted and downloaded as CSV, and what is wrong with a bad file
said on the page (a 4xx, never a 500); another tenant gets the 404 page everywhere."""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, make_person, signed_in, unique

from aicc.api.state import AppState
from aicc.testing.datasets import push
from aicc.testing.jobs import wait_state
from aicc.testing.polling import wait

CLASSES = ("sun", "rain", "fog")
COLUMNS = ("date", "temperature", "humidity", "wind", "weather")


def weather_csv(
    rows: int, *, seed: int = 7, start: date = date(2021, 1, 1), label: bool = True
) -> str:
    """A person's own daily weather table, dates written as `2021/03/04`: the weather follows
    from the humidity and the wind (rain when humid, fog when damp and still, else sun)."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS if label else COLUMNS[:-1])
    for i in range(rows):
        day = start + timedelta(days=i)
        humidity = round(rng.uniform(20, 100), 1)
        wind = round(rng.uniform(0, 12), 1)
        temperature = round(rng.uniform(-5, 35), 1)
        weather = "rain" if humidity > 75 else "fog" if humidity > 50 and wind < 4 else "sun"
        cells: list[Any] = [day.strftime("%Y/%m/%d"), temperature, humidity, wind]
        writer.writerow([*cells, weather] if label else cells)
    return out.getvalue()


@dataclass
class Served:
    api: TestClient
    owner: Person
    model: str
    deployment: str

    @property
    def page(self) -> str:
        return f"/deployments/{self.deployment}?project={self.owner.project_id}"

    @property
    def predict(self) -> str:
        return f"/deployments/{self.deployment}/predict?project={self.owner.project_id}"


def deployed(
    api: TestClient | Any,
    owner: Person,
    *,
    template: str,
    files: dict[str, bytes],
    columns: dict[str, str],
    model: str,
    deployment: str,
) -> None:
    """The person's table as data set `MODEL-table`, `template` trained on it with the columns
    chosen, and the model deployed; returns once a replica answers."""
    push(api, f"{model}-table", files, owner.headers)
    body = {
        "data": f"{model}-table@1",
        "model": model,
        "columns": columns,
        "params": {"time_budget_s": 5},
    }
    run = api.post(f"/api/v1/templates/{template}/runs", json=body, headers=owner.headers)
    assert run.status_code == 201, run.text
    job = wait_state(api, run.json()["id"], {"succeeded", "failed", "cancelled"}, timeout=240)
    assert job["state"] == "succeeded", job

    def registered() -> dict[str, Any] | None:
        found = api.get(f"/api/v1/models/{model}", headers=owner.headers)
        return found.json() if found.status_code == 200 and found.json()["versions"] else None

    wait(f"model {model} registered", registered, timeout=60)
    made = api.post(
        "/api/v1/deployments",
        json={
            "name": deployment,
            "model": f"{model}@1",
            "resources": {"cpu": 0.5, "memory": "1Gi"},
        },
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text

    def ready() -> bool:
        shown = api.get(f"/api/v1/deployments/{deployment}", headers=owner.headers).json()
        return shown["state"] == "ready" or None  # type: ignore[return-value]

    wait(f"deployment {deployment} ready", ready, timeout=120)


@pytest.fixture(scope="module")
def served(site: tuple[TestClient, AppState]) -> Iterator[Served]:
    api = site[0]
    n = unique()
    owner = make_person(api, f"meteo-{n}", f"mei-{n}")
    deployed(
        api,
        owner,
        template="table-prediction",
        files={"weather.csv": weather_csv(240).encode()},
        columns={"target": "weather"},
        model="weather-model",
        deployment="weather",
    )
    yield Served(api, owner, "weather-model", "weather")


def open_as(served: Served, language: str = "en") -> TestClient:
    """The owner's browser, the pages in `language` (a person's choice is kept across tests)."""
    page = signed_in(served.api, served.owner)
    page.post("/language", data={"csrf": csrf_of(page), "language": language})
    return page


def fields(html: str) -> dict[str, str]:
    """The playground's inputs: column name -> the form field's name."""
    found = re.findall(r'<label for="predict-(in-\d+)">([^<]+?)\s*(?:<|</label>)', html)
    return {label.strip(): key for key, label in found}


def test_the_model_page_tells_the_facts_of_the_training_with_charts(served: Served) -> None:
    page = open_as(served)
    link = f"/models/{served.model}?project={served.owner.project_id}"
    shown = page.get(link)
    assert shown.status_code == 200, shown.text
    text = shown.text
    assert "What weather-model@1 learned" in text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", text))
    assert facts["Predicts"] == "weather" and facts["Task"] == "classification"
    assert int(facts["Rows"].replace(",", "")) > 150  # the rows it learned from, not a guess
    score = re.search(r'id="card-score">([^<]+)<', text)
    assert score and "against" in score.group(1) and "held-out" in score.group(1)
    charts = re.findall(r"data-chart='([^']*)'", text)
    kinds = {re.search(r'"type": "(\w+)"', c).group(1) for c in charts}  # type: ignore[union-attr]
    assert {"confusion", "importance"} <= kinds
    assert "Columns weather-model@1 takes" in text and ">humidity<" in text

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get(link).text
    assert "weather-model@1 学到了什么" in chinese and "混淆矩阵" in chinese
    assert "预测目标" in chinese and "留出数据上的" in chinese


def test_the_playground_is_a_form_of_the_models_inputs(served: Served) -> None:
    page = open_as(served)
    shown = page.get(served.page)
    assert shown.status_code == 200
    html = shown.text
    named = fields(html)
    assert set(named) == {"date", "temperature", "humidity", "wind"}  # not the target
    humidity = re.search(rf'<input id="predict-{named["humidity"]}"[^>]*>', html)
    assert humidity and 'type="number"' in humidity.group(0)
    assert re.search(r'min="[0-9.]+"', humidity.group(0)) and 'max="' in humidity.group(0)
    day = re.search(rf'<input id="predict-{named["date"]}"[^>]*>', html)
    assert (
        day and 'type="date"' in day.group(0) and re.search(r'value="2021-\d\d-\d\d"', day.group(0))
    )
    assert 'id="chat-message"' not in html  # a table model has no chat
    assert "Many rows" in html and "Download CSV" not in html


def test_one_row_is_predicted_from_the_form_and_logged(served: Served) -> None:
    page = open_as(served)
    named = fields(page.get(served.page).text)
    row = {"date": "2022-06-01", "temperature": "18", "humidity": "92", "wind": "2"}
    form = {"csrf": csrf_of(page, served.page), "mode": "row"}
    form |= {named[column]: value for column, value in row.items()}
    answered = page.post(served.predict, data=form)
    assert answered.status_code == 200, answered.text
    value = re.search(r'id="predict-value">([^<]+)<', answered.text)
    assert value and value.group(1) == "rain", answered.text[-3000:]
    chances = re.findall(
        r'<dt>(\w+)</dt><dd><meter min="0" max="1" value="([0-9.e-]+)"', answered.text
    )
    assert {c for c, _ in chances} == set(CLASSES)
    assert abs(sum(float(p) for _, p in chances) - 1) < 1e-3
    logged = served.api.get(
        "/api/v1/requests",
        params={"deployment": served.deployment, "project": served.owner.project_id},
        headers=served.owner.headers,
    ).json()["items"]
    assert any(r["route"] == "predict" and r["key"] == f"user:{served.owner.name}" for r in logged)

    wrong = page.post(served.predict, data={**form, named["temperature"]: "warm"})
    assert wrong.status_code == 422
    assert "temperature: warm is not a number" in wrong.text


def test_a_csv_of_rows_is_predicted_and_downloaded(served: Served) -> None:
    page = open_as(served)
    csrf = csrf_of(page, served.page)
    new_rows = weather_csv(25, seed=99, start=date(2022, 1, 1), label=False)
    answered = page.post(
        served.predict,
        data={"csrf": csrf, "mode": "table"},
        files={"table": ("new-days.csv", new_rows.encode(), "text/csv")},
    )
    assert answered.status_code == 200, answered.text
    table = re.search(
        r'<table class="table table-compact" id="predictions">(.*?)</table>', answered.text, re.S
    )
    assert table and len(re.findall(r"<tr>", table.group(1))) == 26  # the header and 25 rows
    assert "weather_predicted" in table.group(1) and "probability_fog" in table.group(1)
    sent = re.search(r'name="rows" value="([^"]*)"', answered.text)
    assert sent
    import html as markup

    download = page.post(
        f"/deployments/{served.deployment}/predictions.csv?project={served.owner.project_id}",
        data={"csrf": csrf, "rows": markup.unescape(sent.group(1))},
    )
    assert download.status_code == 200
    assert download.headers["content-disposition"].endswith('filename="weather-predictions.csv"')
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert len(rows) == 25 and {r["weather_predicted"] for r in rows} <= set(CLASSES)
    assert rows[0]["date"] == "2022/01/01" and rows[0]["humidity"]  # the user's own columns


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "the file is empty"),
        (
            b"date,temperature,wind\n2022/01/01,3,4\n",
            "the table lacks columns the model needs: humidity",
        ),
        (b"date,temperature,humidity,wind\n", "the file has a header line but no rows"),
        (
            weather_csv(1001, label=False).encode(),
            "1001 rows is more than 1000 at once: use a batch prediction",
        ),
        (b"\xff\xfe\x00\x01\x02garbage\x80\x81", "upload a CSV file"),
    ],
)
def test_a_bad_file_is_refused_on_the_page_saying_why(
    served: Served, content: bytes, said: str
) -> None:
    page = open_as(served)
    answered = page.post(
        served.predict,
        data={"csrf": csrf_of(page, served.page), "mode": "table"},
        files={"table": ("mine.csv", content, "text/csv")},
    )
    assert answered.status_code == 422, answered.text[-2000:]
    refused = re.search(r'id="predict-refused">(.*?)</div>', answered.text, re.S)
    assert refused and said in refused.group(1)


def test_a_refusal_is_said_in_chinese(served: Served) -> None:
    page = open_as(served, "zh-CN")
    answered = page.post(
        served.predict,
        data={"csrf": csrf_of(page, served.page), "mode": "table"},
        files={"table": ("mine.csv", b"date,wind\n2022/01/01,3\n", "text/csv")},
    )
    assert answered.status_code == 422
    assert "表格缺少模型需要的列：temperature, humidity" in answered.text
    assert "批量行" in answered.text and "预测" in answered.text


def test_another_tenant_gets_the_404_page(served: Served, api: TestClient, bob: Person) -> None:
    outsider = signed_in(api, bob)
    csrf = csrf_of(outsider, "/deployments")
    assert outsider.get(served.page).status_code == 404
    tried = outsider.post(served.predict, data={"csrf": csrf, "mode": "row"})
    assert tried.status_code == 404
    download = outsider.post(
        f"/deployments/{served.deployment}/predictions.csv?project={served.owner.project_id}",
        data={"csrf": csrf, "rows": "[]"},
    )
    assert download.status_code == 404
    model = outsider.get(f"/models/{served.model}?project={served.owner.project_id}")
    assert model.status_code == 404


def test_a_batch_prediction_from_the_model_page_makes_a_data_set_version(served: Served) -> None:
    page = open_as(served)
    owner = served.owner
    push(
        served.api,
        "next-week",
        {"days.csv": weather_csv(40, seed=5, label=False).encode()},
        owner.headers,
    )
    push(served.api, "half", {"days.csv": b"date,wind\n2022/01/01,3\n"}, owner.headers)
    link = f"/models/{served.model}?project={owner.project_id}"
    shown = page.get(link).text
    assert "Batch prediction" in shown and '<option value="next-week@1"' in shown
    action = f"/models/{served.model}/predictions?project={owner.project_id}"
    form = {"csrf": csrf_of(page, link), "version": "1", "output": "next-week-weather"}
    refused = page.post(action, data={**form, "data": "half@1"})
    assert refused.status_code == 422
    said = re.search(r'id="batch-refused">([^<]+)<', refused.text)
    assert said and "humidity" in said.group(1) and "temperature" in said.group(1)

    sent = page.post(action, data={**form, "data": "next-week@1"}, follow_redirects=False)
    assert sent.status_code == 303, sent.text[-2000:]
    job = re.search(r"batch=(job_[0-9A-Za-z]+)", sent.headers["location"])
    assert job
    following = page.get(sent.headers["location"]).text
    assert f'href="/jobs/{job.group(1)}"' in following and 'hx-trigger="every 3s"' in following

    def done() -> str | None:
        text = page.get(link).text
        made = re.search(r'<a class="mono" href="(/data/next-week-weather[^"]*)">([^<]+)</a>', text)
        return made.group(1) if made else None

    data_page = wait("the predictions as a data set version", done, timeout=90)
    assert page.get(data_page.replace("&amp;", "&")).status_code == 200
    preview = served.api.get(
        "/api/v1/datasets/next-week-weather/versions/1/preview",
        params={"limit": 100},
        headers=owner.headers,
    )
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    columns = [c["name"] for c in shown["columns"]]
    assert "weather_predicted" in columns and len(shown["rows"]) == 40
