"""The submit wizard and the YAML editor through TestClient: the estimate table from the compute
service, inline messages for bad scenario input and bad specs (never a 500), CSRF on every POST,
a job submitted from step 3 running to `succeeded`, and one tenant unable to submit into
another's project."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, operator, signed_in, wait_job
from sqlalchemy import update

from aicc.api.state import AppState
from aicc.config import DEFAULT_PRICING
from aicc.store.tables.tenancy import UserRow
from aicc.testing import templates
from aicc.testing.datasets import push
from aicc.testing.servers import in_process

FINETUNE = {"scenario": "llm-finetune", "params": "7B", "tokens": "1B"}


@pytest.fixture(scope="module", autouse=True)
def priced(site: tuple[TestClient, AppState]) -> None:
    """A center plan with prices, so the estimate has priced options."""
    api, _ = site
    start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    plan = {
        "name": "center-test",
        "effective_from": start.isoformat(),
        "accelerator_hour": {"A100-80GB": "12.00"},
        "pflops_hour": "9.50",
    }
    answer = api.post("/api/v1/price-plans", json=plan)
    assert answer.status_code == 201, answer.text


def jobs_of(api: TestClient, person: Person) -> list[dict[str, object]]:
    items: list[dict[str, object]] = api.get("/api/v1/jobs", headers=person.headers).json()["items"]
    return items


def test_the_wizard_shows_every_scenario_with_labelled_fields(
    api: TestClient, alice: Person
) -> None:
    client = signed_in(api, alice)
    page = client.get("/submit")
    assert page.status_code == 200
    for name in ("LLM pre-training", "LLM fine-tuning", "LoRA fine-tuning", "LLM inference",
                 "Vision", "Speech", "Recommendation", "Just a command"):  # fmt: skip
        assert name in page.text
    assert 'for="scenario-params"' in page.text and 'for="scenario-tokens"' in page.text
    vision = client.get("/submit?scenario=vision-train", headers={"HX-Request": "true"})
    assert vision.status_code == 200 and vision.text.lstrip().startswith('<div id="wizard">')
    assert 'for="scenario-family"' in vision.text and "resnet-50" in vision.text
    assert 'for="scenario-params"' not in vision.text


def test_the_estimate_table_comes_from_the_compute_service(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    page = client.get("/submit/estimate", params={**FINETUNE, "offer": "here"})
    assert page.status_code == 200, page.text
    rows = re.findall(r'<tr class="option-row[^"]*">(.*?)</tr>', page.text, re.S)
    assert rows and all("A100-80GB" in row for row in rows)  # this center's devices only
    assert "CNY" in rows[0] and re.search(r"\d+\.\d\d", rows[0])
    api_answer = api.post(
        "/api/v1/estimate",
        json={"scenario": FINETUNE, "accelerator": ["A100-80GB"]},
        headers=alice.headers,
    ).json()
    assert len(rows) == len(api_answer["options"])
    first = api_answer["options"][0]
    assert f"{float(first['net']):,.2f}" in rows[0]  # the same price as the API's
    assert "Assumptions" in page.text and "flops_rule" in page.text
    cheap = client.get("/submit/estimate", params={**FINETUNE, "sort": "cost"})
    assert "Cheapest first" in cheap.text and 'aria-current="true">Cheapest first' in cheap.text
    everything = client.get("/submit/estimate", params={**FINETUNE, "offer": "all"})
    assert "H100-SXM" in everything.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"params": "lots"}, "is not a number such as 7e9"),
        ({"tokens": ""}, "This field is required"),
        ({"epochs": "-1"}, "greater than 0"),
    ],
)
def test_bad_scenario_input_is_shown_on_its_field(
    api: TestClient, alice: Person, params: dict[str, str], message: str
) -> None:
    client = signed_in(api, alice)
    query = {**FINETUNE, **params}
    page = client.get("/submit/estimate", params=query)
    assert page.status_code == 422
    assert message in page.text
    field = next(iter(params))
    assert f'id="scenario-{field}-error"' in page.text
    assert re.search(rf'id="scenario-{field}"[^>]*aria-invalid="true"', page.text, re.S)
    htmx = client.get("/submit/estimate", params=query, headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and message in htmx.text  # htmx swaps it in
    assert "option-row" not in page.text


def test_picking_an_option_prefills_the_job(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    query = {**FINETUNE, "accelerator": "A100-80GB", "count": "2", "hours": "3"}
    page = client.get("/submit/details", params=query, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert 'id="job-count" name="count" type="text"\n         value="2"' in page.text
    assert 'value="3h36m"' in page.text  # 3 h plus 20%
    assert 'value="A100-80GB"' in page.text
    assert "llm-finetune" in page.text  # the scenario travels with the job


def test_step_three_submits_a_job_that_runs(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    form = {
        "csrf": csrf_of(client, "/submit"),
        "name": "wizard-hello",
        "command": "echo hi-from-the-wizard",
        "replicas": "1",
        "cpu": "100m",
        "memory": "64MiB",
        "accelerator": "A100-80GB",
        "count": "1",
        "max_runtime": "10m",
        "scenario_json": '{"scenario": "llm-finetune", "params": "7B", "tokens": "1B"}',
        "key": "wizard-key-1",
    }
    forged = client.post("/submit", data={**form, "csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 400 and not jobs_of(api, alice)
    answer = client.post("/submit", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    job_id = answer.headers["location"].removeprefix("/jobs/")
    again = client.post("/submit", data=form, follow_redirects=False)  # a double click
    assert again.headers["location"] == answer.headers["location"]
    assert len(jobs_of(api, alice)) == 1
    job = wait_job(api, alice, job_id, {"succeeded", "failed"})
    assert job["state"] == "succeeded", job["message"]
    assert job["spec"]["scenario"]["scenario"] == "llm-finetune"
    assert job["spec"]["resources"]["accelerator"]["count"] == 1
    assert job["spec"]["max_runtime_s"] == 600
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200 and "wizard-hello" in page.text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"cpu": "lots"}, "cpu", "cpu"),
        ({"command": "  "}, "command", "command must not be empty"),
        ({"max_runtime": "soon"}, "max_runtime", "duration"),
        ({"name": "Not OK"}, "name", "pattern"),
        ({"count": "64", "accelerator": "A100-80GB"}, "", ""),  # no node holds it
        ({"accelerator": "Z9000"}, "accelerator", "Z9000"),
    ],
)
def test_a_refused_job_comes_back_on_its_field(
    api: TestClient, alice: Person, change: dict[str, str], field: str, message: str
) -> None:
    client = signed_in(api, alice)
    form = {
        "csrf": csrf_of(client, "/submit"),
        "command": "echo hi",
        "replicas": "1",
        "cpu": "100m",
        "memory": "64MiB",
        "count": "0",
        **change,
    }
    answer = client.post("/submit", data=form, follow_redirects=False)
    assert answer.status_code == 422, answer.text
    assert "Job details" in answer.text and 'role="alert"' in answer.text
    if field:
        assert f'id="job-{field}-error"' in answer.text
        assert message in answer.text
    assert not jobs_of(api, alice)


def test_another_tenants_project_is_not_found(api: TestClient, alice: Person, bob: Person) -> None:
    client = signed_in(api, bob)
    form = {
        "csrf": csrf_of(client, "/submit"),
        "command": "echo sneaky",
        "project": alice.project_id,
        "replicas": "1",
        "cpu": "100m",
        "memory": "64MiB",
        "count": "0",
    }
    answer = client.post("/submit", data=form, follow_redirects=False)
    assert answer.status_code == 404
    assert alice.project_id not in re.sub(r'value="[^"]*"', "", answer.text.split("<form")[0])
    assert not jobs_of(api, bob)
    estimate = client.get("/submit/estimate", params={**FINETUNE, "project": alice.project_id})
    assert estimate.status_code == 404


# --- the YAML editor ---

GOOD = """
name: yaml-hello
command: echo hi-from-yaml
resources: {cpu: 100m, memory: 64MiB}
max_runtime: 5m
"""


def test_the_editor_is_a_labelled_textarea(api: TestClient, alice: Person) -> None:
    page = signed_in(api, alice).get("/submit/yaml")
    assert page.status_code == 200
    assert '<label for="yaml-spec">' in page.text and 'id="yaml-spec" name="spec"' in page.text


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("command: [unclosed", "line 1, column", "expected"),
        ("just words", "", "a job spec is a mapping"),
        ("name: x\n", "command", "is required"),
        (
            "command: hi\nresources: {accelerator: {count: many}}",
            "resources.accelerator.count",
            "must be a whole number",
        ),
        ("command: hi\nreplicas: 0", "replicas", "must be at least 1"),
        ("command: hi\nworkdir: .", "workdir", "the portal cannot upload"),
        ("command: hi\nresources: {accelerator: {count: 64}}", "", "node"),
        ("command: hi\nsecrets: [missing]", "secrets", "not found"),
        # issue 16: a reset connection (OverflowError) and a RecursionError before
        (f"command: hi\npriority: {10**26}", "priority", "must be at most"),
        ("command: hi\nscenario: " + "[" * 5000 + "]" * 5000, "", "nested too deeply"),
        ("command: hi\nscenario: " + "[" * 100 + "]" * 100, "scenario", "nested deeper"),
        ("command: hi\nresources: {cpu: .nan}", "resources.cpu", "finite number"),
        ("command: hi\nmax_runtime: 100000000h", "max_runtime", "must be at most"),
    ],
)
def test_check_lists_each_problem_with_its_path(
    api: TestClient, alice: Person, text: str, path: str, message: str
) -> None:
    client = signed_in(api, alice)
    form = {"csrf": csrf_of(client, "/submit/yaml"), "spec": text, "action": "check"}
    answer = client.post("/submit/yaml", data=form)
    assert 400 <= answer.status_code < 500, answer.text
    problems = answer.text.split('id="yaml-problems"')[1].split("</div>")[0]
    assert path in problems and message in problems, problems
    assert 'aria-invalid="true"' in answer.text
    assert text.split("\n")[0] in answer.text  # the text stays in the editor
    assert not jobs_of(api, alice)


def test_check_keeps_nothing_and_submit_submits(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    csrf = csrf_of(client, "/submit/yaml")
    no_token = client.post("/submit/yaml", data={"spec": GOOD, "action": "submit"})
    assert no_token.status_code == 400
    checked = client.post("/submit/yaml", data={"csrf": csrf, "spec": GOOD, "action": "check"})
    assert checked.status_code == 200 and "would be accepted" in checked.text
    assert not jobs_of(api, alice)
    form = {"csrf": csrf, "spec": GOOD, "action": "submit", "key": "yaml-1"}
    answer = client.post("/submit/yaml", data=form, follow_redirects=False)
    assert answer.status_code == 303
    job_id = answer.headers["location"].removeprefix("/jobs/")
    assert wait_job(api, alice, job_id, {"succeeded", "failed"})["state"] == "succeeded"


def test_a_center_without_prices_shows_the_time_and_says_no_price(tmp_path: Path) -> None:
    """A center whose plan prices nothing (a test server's, unless it gives `pricing`): the
    options keep their times, the price column says so (in the reader's language), and a note
    says how an operator sets prices."""
    with in_process(tmp_path / "home") as (api, state):
        client = operator(api)
        params = {"scenario": "llm-lora", "params": "7B", "tokens": "1e8", "offer": "all"}
        english = client.get("/submit/estimate", params=params)
        assert english.status_code == 200, english.text
        rows = re.findall(r'<tr class="option-row[^"]*">(.*?)</tr>', english.text, re.S)
        assert rows and all("no price" in row for row in rows)
        assert "the time is estimated" in english.text
        with state.db.session() as session:
            session.execute(update(UserRow).where(UserRow.name == "admin").values(language="zh-CN"))
        chinese = client.get("/submit/estimate", params=params).text
        rows = re.findall(r'<tr class="option-row[^"]*">(.*?)</tr>', chinese, re.S)
        assert rows and all("未定价" in row for row in rows)
        assert "时间已估算" in chinese and "aicc admin price-plan set" in chinese


def test_the_shipped_price_plan_prices_both_wizards_alike(tmp_path: Path) -> None:
    """Out of the box (`config.DEFAULT_PRICING`), the job wizard's options and the training
    wizard's, CPU only included, all show a price in CNY, neither "no price" nor a bare 0.00
    where the other has a price: one function (`pricing.charge`) prices both."""
    shipped = DEFAULT_PRICING.model_dump(mode="json")
    with in_process(tmp_path / "home", pricing=shipped) as (api, _state):
        client = operator(api)
        params = {"scenario": "llm-lora", "params": "7B", "tokens": "1e8", "offer": "all"}
        job = client.get("/submit/estimate", params=params)
        assert job.status_code == 200, job.text
        rows = re.findall(r'<tr class="option-row[^"]*">(.*?)</tr>', job.text, re.S)
        assert rows and all("CNY" in row and "no price" not in row for row in rows)
        loans = templates.example("credit-risk", tmp_path / "loans")
        files = {p.relative_to(loans).as_posix(): p.read_bytes() for p in loans.rglob("*")
                 if p.is_file()}  # fmt: skip
        push(api, "loans", files)
        step1 = client.get("/marketplace/train").text
        ref = next(r for r in re.findall(r"data=([^&\"]+)", step1) if "loans%40" in r)
        data = ref.replace("%2F", "/").replace("%40", "@")
        step3 = client.get("/marketplace/train", params={"data": data, "template": "credit-risk"})
        table = re.search(r'<table class="table estimate-table">(.*?)</table>', step3.text, re.S)
        assert table, step3.text
        prices = re.findall(r'<td class="num">([^<]*)</td></tr>', table.group(1))
        assert prices and all(p.endswith(" CNY") for p in prices), prices


# --- the low-code wizard (/marketplace/train): a generic template asks for the column ---


def weather_csv(rows: int = 60) -> bytes:
    """A person's own table: IDs, a date as `2021/03/04`, numbers, and the weather."""
    lines = ["id,ticket,date,temp_max,temp_min,wind,weather"]
    for i in range(rows):
        day = datetime(2021, 3, 1) + timedelta(days=i)
        weather = ("sun", "rain", "fog")[i % 3]
        high = 20 + (i % 7) - (5 if weather == "rain" else 0) + (i % 10) / 10
        low = high - 8 - i % 3
        lines.append(
            f"{i + 1},T{i:04d},{day:%Y/%m/%d},{high:.1f},{low:.1f},{(i * 7) % 11},{weather}"
        )
    return ("\n".join(lines) + "\n").encode()


def speak(client: TestClient, language: str) -> TestClient:
    client.post("/language", data={"csrf": csrf_of(client), "language": language})
    return client


def test_the_wizard_asks_which_column_to_predict_and_trains_it(
    api: TestClient, alice: Person
) -> None:
    push(api, "weather", {"weather.csv": weather_csv()}, alice.headers)
    page = signed_in(api, alice)
    step1 = page.get("/marketplace/train").text
    refs = re.findall(r"data=([^&\"]+)", step1)
    data = next(r for r in refs if "weather%40" in r).replace("%2F", "/").replace("%40", "@")

    step2 = page.get("/marketplace/train", params={"data": data}).text
    # the generic templates come first, then the industry presets
    first = step2.index('id="pick-table-prediction"')
    assert first < step2.index('id="pick-credit-risk"')
    assert "For any data" in step2 and "Industry presets" in step2
    assert "fits — choose the column to predict" in step2
    target = re.search(
        r'<label for="choose-table-prediction-target">(.*?)</label>\s*'
        r'<select id="choose-table-prediction-target" name="col.target" required>(.*?)</select>',
        step2,
        re.S,
    )
    assert target and target.group(1) == "The column to predict", step2
    offered = re.findall(r'<option value="([^"]*)"', target.group(2))
    assert offered[0] == "" and "weather" in offered and "temp_max" in offered
    assert "ticket" not in offered  # an ID is no column to predict
    # the series' only date column is picked; the number to forecast is the person's to choose
    assert 'name="col.time" value="date"' in step2
    zh = speak(page, "zh-CN").get("/marketplace/train", params={"data": data}).text
    assert "适合 — 请选择要预测的列" in zh and ">要预测的列</label>" in zh and "时间列" in zh
    assert "适用于任何数据" in zh and "行业预置模板" in zh

    # Chosen: step 3 says what it learns (the task the check infers) and carries the column.
    chosen = {"data": data, "template": "table-prediction", "col.target": "weather"}
    step3 = page.get("/marketplace/train", params=chosen).text
    assert "将要学习的内容" in step3 and "分类（预测该列的取值之一）" in step3
    speak(page, "en")
    step3 = page.get("/marketplace/train", params=chosen).text
    assert 'name="col.target" value="weather"' in step3
    assert "What it will learn" in step3 and "Classification" in step3
    assert ", 3 classes" in step3
    regression = page.get("/marketplace/train", params={**chosen, "col.target": "temp_max"}).text
    assert "Regression (predicts a number)" in regression
    # a template with its column unchosen is step 2 again, not a run
    unchosen = page.get("/marketplace/train", params={"data": data, "template": "table-prediction"})
    assert 'name="hp.time_budget_s"' not in unchosen.text and "col.target" in unchosen.text

    form = {"csrf": csrf_of(page, "/marketplace"), "data": data, "template": "table-prediction"}
    form |= {"model": "weather-model", "hp.time_budget_s": "10", "key": "k-weather"}
    refused = page.post("/marketplace/train", data=form)  # no column chosen: said, not a 500
    assert refused.status_code == 422 and "choose the column to predict" in refused.text
    sent = page.post("/marketplace/train", data={**form, "col.target": "weather"})
    assert sent.status_code == 200 and sent.url.path.startswith("/marketplace/runs/"), sent.text
    job_id = sent.url.path.rsplit("/", 1)[1]
    job = wait_job(api, alice, job_id, {"succeeded", "failed"}, timeout=240)
    assert job["state"] == "succeeded", page.get(f"/jobs/{job_id}").text

    # The job's events, in Chinese: no English left of what the server wrote.
    chinese = speak(page, "zh-CN").get(f"/jobs/{job_id}").text
    speak(page, "en")
    assert "所有副本均以 0 退出" in chinese and "已放置到" in chinese
    assert "all replicas exited 0" not in chinese and "bound to" not in chinese


def test_a_column_that_cannot_be_predicted_is_refused_in_the_readers_language(
    api: TestClient, alice: Person
) -> None:
    push(api, "weather", {"weather.csv": weather_csv()}, alice.headers)
    page = signed_in(api, alice)
    refs = re.findall(r"data=([^&\"]+)", page.get("/marketplace/train").text)
    data = next(r for r in refs if "weather%40" in r).replace("%2F", "/").replace("%40", "@")
    chosen = {"data": data, "template": "table-prediction", "col.target": "ticket"}
    english = page.get("/marketplace/train", params=chosen).text
    assert "has a different value on every row (an ID)" in english
    assert 'name="hp.time_budget_s"' not in english  # no step 3
    chinese = speak(page, "zh-CN").get("/marketplace/train", params=chosen).text
    speak(page, "en")
    assert "列 ticket 每行的值都不同（是 ID）" in chinese


def test_every_reason_a_template_does_not_fit_is_in_chinese(api: TestClient, alice: Person) -> None:
    push(api, "weather", {"weather.csv": weather_csv()}, alice.headers)
    page = speak(signed_in(api, alice), "zh-CN")
    refs = re.findall(r"data=([^&\"]+)", page.get("/marketplace/train").text)
    data = next(r for r in refs if "weather%40" in r).replace("%2F", "/").replace("%40", "@")
    step2 = page.get("/marketplace/train", params={"data": data}).text
    reasons = re.findall(r'<span class="small unfit-reason">(.*?)</span>', step2, re.S)
    assert len(reasons) >= 8  # the industry presets that want their own columns
    for said in reasons:
        # what stays as it is: the file, the template's column it lacks, the table's columns
        words = re.sub(r"缺少列 \S+（|现有列：.*$|weather\.csv|\.png", "", said)
        assert said.startswith("原因：") and not re.search(r"[A-Za-z]{3,}", words), said
    speak(page, "en")
