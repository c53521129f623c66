"""The marketplace, the low-code wizard and the model pages, as a browser's requests (the
browser itself walks them in test_portal_marketplace_browser.py): the catalog filtered, a
template's page, the wizard from a pushed data set (templates that do not fit greyed out with
the reason, a hyperparameter out of range named next to its field in the reader's language) to
a trained model, whose page shows its curve, card, lineage and stages, and downloads as a zip;
another tenant gets the 404 page."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in

from aicc.portal.models import markdown
from aicc.testing import templates
from aicc.testing.datasets import push

TEMPLATE = "credit-risk"  # trains in seconds


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def loans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return files_of(templates.example(TEMPLATE, tmp_path_factory.mktemp("loans") / "loans"))


def test_the_catalog_filters_by_words_industry_and_task(api: TestClient, alice: Person) -> None:
    page = signed_in(api, alice)
    everything = page.get("/marketplace")
    assert everything.status_code == 200
    cards = re.findall(r'<h3><a href="/marketplace/([a-z0-9-]+)">', everything.text)
    assert len(cards) == len(templates.names()) >= 10
    assert 'aria-current="page">Marketplace<' in everything.text  # the nav entry

    finance = page.get("/marketplace", params={"industry": "finance"}).text
    assert re.findall(r'<h3><a href="/marketplace/([a-z0-9-]+)">', finance) == [TEMPLATE]
    assert "Credit risk assessment" in finance and "auc" in finance
    tasks = page.get("/marketplace", params={"task": "image-classification"}).text
    assert '"/marketplace/defect-inspection"' in tasks and TEMPLATE not in tasks
    words = page.get("/marketplace", params={"q": "loan default"}).text
    assert f'"/marketplace/{TEMPLATE}"' in words and "defect-inspection" not in words
    malformed = page.get("/marketplace/train", params={"data": "Not A Name@1"})
    assert malformed.status_code == 422 and "data set name" in malformed.text  # not a 500
    nothing = page.get("/marketplace", params={"q": "no-such-words-anywhere"}).text
    assert "No template matches" in nothing

    chinese = speak(page, "zh-CN").get("/marketplace", params={"industry": "finance"}).text
    speak(page, "en")
    assert "信贷风险评估" in chinese and "金融" in chinese and "算法商城" in chinese


def speak(client: TestClient, language: str) -> TestClient:
    """The signed-in person's pages from now on in `language` (the header's switch)."""
    client.post("/language", data={"csrf": csrf_of(client), "language": language})
    return client


def test_a_template_page_says_what_it_needs(api: TestClient, alice: Person) -> None:
    page = signed_in(api, alice)
    text = page.get(f"/marketplace/{TEMPLATE}").text
    for words in ("annual_income", "learning_rate", "0.001", "Apache-2.0", "auc", "0.75"):
        assert words in text, words
    assert f'href="/marketplace/train?template={TEMPLATE}"' in text
    assert "申请人年龄" in speak(page, "zh-CN").get(f"/marketplace/{TEMPLATE}").text
    speak(page, "en")
    missing = page.get("/marketplace/no-such-template", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "<html" in missing.text


def wait_for(check: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return found


def test_from_a_data_set_to_a_trained_model_and_its_page(
    api: TestClient, alice: Person, bob: Person, loans: dict[str, bytes]
) -> None:
    push(api, "loans", loans, alice.headers)
    push(api, "notes", {"notes.csv": b"a,b\n1,2\n"}, alice.headers)
    page = signed_in(api, alice)

    step1 = page.get("/marketplace/train").text
    refs = re.findall(r"data=([^&\"]+)", step1)
    assert any("loans%401" in r for r in refs) and any("notes%401" in r for r in refs)
    data = next(r for r in refs if "loans%40" in r).replace("%2F", "/").replace("%40", "@")

    # Step 2 on a table that fits nothing of the credit template: greyed out, with the reason.
    notes = data.replace("loans@", "notes@")
    unfit = page.get("/marketplace/train", params={"data": notes}).text
    assert "does not fit" in unfit and "notes.csv has no column age" in unfit
    assert f"template={TEMPLATE}&" not in unfit  # no link into step 3, only to match columns
    zh = speak(page, "zh-CN").get("/marketplace/train", params={"data": notes}).text
    assert "notes.csv 缺少列 age" in zh

    fits = page.get("/marketplace/train", params={"data": data}).text
    assert f"template={TEMPLATE}" in fits and "适合您的数据" in fits  # still in Chinese
    step3 = page.get("/marketplace/train", params={"data": data, "template": TEMPLATE}).text
    assert 'name="hp.learning_rate"' in step3 and 'value="0.05"' in step3
    # The estimate before training: time, wait and price on CPU only (this center has no GPU);
    # the test center prices nothing, so the price says so, as the job wizard's does.
    assert "训练前预估" in step3 and "仅 CPU" in step3 and "未定价" in step3

    # Out of range: the page again, the error next to the field, in the reader's language.
    form = {"csrf": csrf_of(page, "/marketplace"), "data": data, "template": TEMPLATE}
    form |= {"model": "loan-risk", "hp.learning_rate": "5", "hp.max_iter": "40"}
    bad = page.post("/marketplace/train", data=form)  # still in Chinese
    assert bad.status_code == 422
    error = re.search(r'id="train-hp.learning_rate-error">(.*?)</p>', bad.text, re.S)
    assert error and "5.0 大于允许的最大值 1" in error.group(1)
    assert 'value="40"' in bad.text  # what was typed stays
    assert api.get("/api/v1/jobs", headers=alice.headers).json()["items"] == []
    speak(page, "en")

    form["hp.learning_rate"] = "0.1"
    form["key"] = re.findall(r'name="key" value="([^"]+)"', step3)[0]
    sent = page.post("/marketplace/train", data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    run = sent.headers["location"]
    assert run.startswith("/marketplace/runs/")
    # A double click sends the form twice: one run, the same page.
    twice = page.post("/marketplace/train", data=form, follow_redirects=False)
    assert twice.headers["location"] == run
    assert len(api.get("/api/v1/jobs", headers=alice.headers).json()["items"]) == 1
    job_id = run.rsplit("/", 1)[1]
    assert "Training loan-risk" in page.get(run).text
    assert bob_sees_404(api, bob, run)

    def registered() -> str | None:
        text: str = page.get(f"{run}/live").text
        return text if "Open the model" in text or "No model was made" in text else None

    live = wait_for(registered)
    link = re.search(r'href="(/models/loan-risk\?[^"]+)"', live)
    assert link, live
    model = page.get(link.group(1).replace("&amp;", "&")).text
    assert "loan-risk@1" in model and "Staging" in model
    chart = re.search(r"data-chart='([^']+)'", model)
    assert chart and '"type": "curves"' in chart.group(1) and '"val_loss"' in chart.group(1)
    assert f'href="/jobs/{job_id}"' in model  # lineage: the job,
    assert 'href="/marketplace/credit-risk"' in model  # the template,
    assert re.search(r'href="/data/loans\?project=[^"]+version=1"', model)  # the data set
    assert "<h3>Credit risk assessment / 信贷风险评估</h3>" in model  # the card, rendered
    assert "learning_rate=0.1" in model

    # Stages: promote (CSRF as every form), then archive.
    project = re.search(r'/models/loan-risk/stage\?project=([^"]+)"', model)
    assert project
    stage_url = f"/models/loan-risk/stage?project={project.group(1)}"
    csrf = csrf_of(page, link.group(1).replace("&amp;", "&"))
    refused = page.post(stage_url, data={"csrf": "forged", "version": "1", "stage": "production"})
    assert refused.status_code == 400
    moved = page.post(stage_url, data={"csrf": csrf, "version": "1", "stage": "production"})
    assert moved.status_code == 200 and "loan-risk@1 is now in Production" in moved.text
    version = api.get("/api/v1/models/loan-risk/versions/1", headers=alice.headers).json()
    assert version["stage"] == "production"
    wrong = page.post(stage_url, data={"csrf": csrf, "version": "1", "stage": "live"})
    assert wrong.status_code == 422 and "one of staging, production, archived" in wrong.text
    garbled = page.post(stage_url, data={"csrf": csrf, "version": "one", "stage": "archived"})
    assert garbled.status_code == 422 and "<html" in garbled.text  # the error page, not JSON

    # The download: every file of the version in one zip, the inference script among them.
    got = page.get(f"/models/loan-risk/download?project={project.group(1)}&version=1")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(got.content)).namelist()
    for name in ("predict.py", "metrics.json", "metrics.jsonl", "report.json"):
        assert f"loan-risk-1/{name}" in names, names

    # The list, the template's page (lineage the other way), and another tenant.
    assert 'href="/models/loan-risk?' in page.get("/models").text
    assert "loan-risk@1" in page.get(f"/marketplace/{TEMPLATE}").text
    data_page = page.get("/data/loans", params={"version": 1}).text  # the other way
    assert re.search(
        r'href="/models/loan-risk\?project=[^"]+version=1">[^<]*loan-risk@1<', data_page
    )
    model_url = link.group(1).replace("&amp;", "&")
    assert bob_sees_404(api, bob, model_url)
    other = signed_in(api, bob)
    forged = other.post(
        stage_url, data={"csrf": csrf_of(other), "version": "1", "stage": "archived"}
    )
    assert forged.status_code == 404
    assert other.get(f"/models/loan-risk/download?project={project.group(1)}").status_code == 404
    assert "loan-risk" not in other.get("/models").text


def bob_sees_404(api: TestClient, bob: Person, path: str) -> bool:
    answer = signed_in(api, bob).get(path, headers={"Accept": "text/html"})
    return answer.status_code == 404 and "loan-risk" not in answer.text.split("<main", 1)[-1]


def test_the_card_is_escaped() -> None:
    html = str(markdown("# Title <b>\n\n- a `x<y`\n- **b**\n\n<script>alert(1)</script>\n"))
    assert "<h3>Title &lt;b&gt;</h3>" in html and "<code>x&lt;y</code>" in html
    assert "<strong>b</strong>" in html and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_table_with_other_column_names_is_matched_by_hand(
    api: TestClient, alice: Person, loans: dict[str, bytes]
) -> None:
    """A non-programmer's table names a column differently: the wizard asks which of theirs it
    is, and the run learns from it."""
    (path, table), *_ = loans.items()
    renamed = table.replace(b'"age"', b'"applicant_age"', 1)
    push(api, "my-loans", {path: renamed}, alice.headers)
    page = signed_in(api, alice)
    step1 = page.get("/marketplace/train").text
    ref = next(r for r in re.findall(r"data=([^&\"]+)", step1) if "my-loans" in r)
    data = ref.replace("%2F", "/").replace("%40", "@")

    chosen = {"data": data, "template": TEMPLATE}
    asked = page.get("/marketplace/train", params=chosen).text
    assert "Match your columns" in asked and f"{path} has no column age" in asked
    assert 'name="col.age"' in asked and '<option value="applicant_age">' in asked
    assert 'name="col.annual_income"' in asked  # the others preselected by their own names
    wrong = page.get("/marketplace/train", params={**chosen, "col.age": "region"}).text
    assert "column region is" in wrong and 'name="col.age"' in wrong  # still step 2
    matched = page.get("/marketplace/train", params={**chosen, "col.age": "applicant_age"})
    assert 'name="hp.learning_rate"' in matched.text  # step 3
    assert 'name="col.age" value="applicant_age"' in matched.text
    key = re.findall(r'name="key" value="([^"]+)"', matched.text)[0]
    form = {"csrf": csrf_of(page, "/marketplace"), **chosen, "model": "mine", "key": key}
    sent = page.post(
        "/marketplace/train", data={**form, "col.age": "applicant_age"}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    job_id = sent.headers["location"].rsplit("/", 1)[1]

    def ended() -> dict[str, Any] | None:
        job = api.get(f"/api/v1/jobs/{job_id}", headers=alice.headers).json()
        return job if job["state"] in ("succeeded", "failed", "cancelled") else None

    assert wait_for(ended)["state"] == "succeeded"

    def delivered() -> dict[str, Any] | None:  # by the outputs pass after the job ended
        model = api.get("/api/v1/models/mine", headers=alice.headers)
        return model.json() if model.status_code == 200 and model.json()["versions"] else None

    model = wait_for(delivered, timeout=30)
    assert model["versions"][0]["metrics"]["auc"] > 0.6
