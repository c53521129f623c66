"""Failures say why (issue 37, point 5), as a browser's requests: a failed job's page opens on
its cause (the reason, the exit code and the last 40 lines of stderr, above the log) and on its
stderr when stdout is empty, in English and zh-CN; a template run whose training dies with a
`ModuleNotFoundError` shows that line under "No model was made"; a run whose template needs a
library this server's Python lacks is refused before anything is submitted, naming the module
and the command that installs it. The browser's view of a failed job is in
test_portal_failures_browser.py."""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Callable
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in, submit, wait_job

from aicc.testing import templates
from aicc.testing.datasets import push

# 60 lines on stderr, then the error; nothing on stdout
NOISY = (
    "python -c \"import sys; [print(f'line {i}', file=sys.stderr) for i in range(60)]; "
    "print('RuntimeError: the sensor table is empty', file=sys.stderr); sys.exit(3)\""
)
BROKEN_TRAIN = "import fancylib_not_installed  # the runtime lacks it\n"


def failure_box(html: str) -> str:
    found = re.search(r'<section class="card" id="failure".*?</section>', html, re.S)
    assert found, html
    return found.group(0)


def speak(client: TestClient, language: str) -> TestClient:
    client.post("/language", data={"csrf": csrf_of(client), "language": language})
    return client


def wait_for(probe: Callable[[], str | None], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


def test_a_failed_jobs_page_opens_on_why_and_on_its_stderr(api: TestClient, alice: Person) -> None:
    job = submit(api, alice, name="sensor-clean", command=NOISY)
    wait_job(api, alice, job["id"], {"failed"})
    page = signed_in(api, alice)
    html = page.get(f"/jobs/{job['id']}").text
    box = failure_box(html)
    assert "Why it failed" in box and "Exited with an error" in box and "exit code 3" in box
    assert "RuntimeError: the sensor table is empty" in box
    # the last 40 lines of stderr: line 20 to the error, not what came before
    assert "line 21\n" in box and "line 59\n" in box and "line 19\n" not in box
    # above the log, and the log opens on stderr (stdout is empty)
    assert html.index('id="failure"') < html.index('id="log-title"')
    current = re.search(r'class="tab is-current"\s+href="[^"]*stream=(\w+)', html)
    assert current and current.group(1) == "stderr"
    assert "line 0\n" in html  # the whole stderr is in the log box
    # a page open while the job failed gets the cause with its last poll of the head
    assert "RuntimeError: the sensor table is empty" in failure_box(
        page.get(f"/jobs/{job['id']}/live").text
    )
    # asked for stdout by name, stdout it is (empty), the cause still on top
    asked = page.get(f"/jobs/{job['id']}", params={"stream": "stdout"}).text
    current = re.search(r'class="tab is-current"\s+href="[^"]*stream=(\w+)', asked)
    assert current and current.group(1) == "stdout" and 'id="failure"' in asked

    zh = speak(page, "zh-CN").get(f"/jobs/{job['id']}").text
    box = failure_box(zh)
    assert "失败原因" in box and "退出码 3" in box and "stderr 的最后几行" in box
    speak(page, "en")


def test_a_job_that_succeeded_has_no_failure_box(api: TestClient, alice: Person) -> None:
    job = submit(api, alice, name="fine", command="echo fine")
    wait_job(api, alice, job["id"], {"succeeded"})
    html = signed_in(api, alice).get(f"/jobs/{job['id']}").text
    assert 'id="failure"' not in html and "fine" in html


def _publish(api: TestClient, person: Person, name: str, **changes: Any) -> None:
    files = templates.own(name)
    manifest = yaml.safe_load(files["template.yaml"])
    manifest.update(changes.pop("manifest", {}))
    files |= {"template.yaml": yaml.safe_dump(manifest), **changes}
    made = api.post("/api/v1/templates", json={"files": files}, headers=person.headers)
    assert made.status_code == 201, made.text


def test_the_run_page_says_why_no_model_was_made(api: TestClient, alice: Person) -> None:
    _publish(api, alice, "broken-mean", **{"train.py": BROKEN_TRAIN})
    sent = api.post("/api/v1/templates/broken-mean/runs", json={}, headers=alice.headers)
    assert sent.status_code == 201, sent.text
    job_id = sent.json()["id"]
    page = signed_in(api, alice)

    def ended() -> str | None:
        text: str = page.get(f"/marketplace/runs/{job_id}/live").text
        return text if "No model was made" in text else None

    live = wait_for(ended)
    box = failure_box(live)
    assert "ModuleNotFoundError: No module named &#39;fancylib_not_installed&#39;" in box, box
    assert f'href="/jobs/{job_id}?replica=0&amp;stream=stderr#log-title"' in box
    full = page.get(f"/marketplace/runs/{job_id}").text
    assert "Why it failed" in failure_box(full)


def test_a_run_whose_runtime_lacks_a_library_is_refused_before_it_is_submitted(
    api: TestClient, alice: Person, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = api.get("/api/v1/jobs", headers=alice.headers).json()["items"]
    # A template that declares a library nobody installed: its own name, and pip for it.
    _publish(api, alice, "needs-lib", manifest={"requirements": ["fancylib-not-installed>=1"]})
    refused = api.post("/api/v1/templates/needs-lib/runs", json={}, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "fancylib_not_installed" in detail and "`pip install fancylib-not-installed`" in detail
    assert "remote engine" in detail  # what is not checked

    # A built-in whose library is missing here: the project's own extra installs it.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    refused = api.post("/api/v1/templates/credit-risk/runs", json={}, headers=alice.headers)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "sklearn" in detail and "`pip install 'aicc[templates]'`" in detail
    assert api.get("/api/v1/jobs", headers=alice.headers).json()["items"] == before

    # The wizard's step 3 says the same, in the reader's language.
    example = templates.example("credit-risk", tmp_path / "loans")
    files = {p.relative_to(example).as_posix(): p.read_bytes() for p in example.rglob("*.*")}
    push(api, "loans", files, alice.headers)
    page = speak(signed_in(api, alice), "zh-CN")
    step1 = page.get("/marketplace/train").text
    ref = re.findall(r"data=([^&\"]+)", step1)[0].replace("%2F", "/").replace("%40", "@")
    form = {"csrf": csrf_of(page, "/marketplace"), "template": "credit-risk", "data": ref}
    answer = page.post("/marketplace/train", data=form)
    assert answer.status_code == 422
    assert "需要本服务器缺少的 Python 模块：sklearn" in answer.text, answer.text
    assert "pip install &#39;aicc[templates]&#39;" in answer.text


def test_a_failed_job_is_run_again_or_cloned_from_its_page(
    api: TestClient, alice: Person, bob: Person
) -> None:
    """The dead end of a failed job, gone: "Run again" submits its spec anew (a double click
    makes one job), "Clone and edit" opens the YAML editor with the spec as a person writes it;
    another tenant gets a 404 for both."""
    spec = {"name": "flaky-step", "command": "exit 3", "max_runtime": "90s"}
    job = submit(api, alice, **spec, resources={"cpu": "500m", "memory": "96MiB"})
    wait_job(api, alice, job["id"], {"failed"})
    page = signed_in(api, alice)
    html = page.get(f"/jobs/{job['id']}").text
    assert "Run again" in html and f'href="/submit/yaml?from={job["id"]}"' in html
    key = re.search(r'name="key" value="([^"]+)"', html)
    assert key, html
    form = {"csrf": csrf_of(page, f"/jobs/{job['id']}"), "key": key.group(1)}
    first = page.post(f"/jobs/{job['id']}/resubmit", data=form, follow_redirects=False)
    again = page.post(f"/jobs/{job['id']}/resubmit", data=form, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == again.headers["location"]
    new_id = first.headers["location"].rsplit("/", 1)[-1]
    assert new_id != job["id"]
    rerun = api.get(f"/api/v1/jobs/{new_id}", headers=alice.headers).json()
    assert (rerun["name"], rerun["project_id"]) == ("flaky-step", job["project_id"])

    editor = page.get(f"/submit/yaml?from={job['id']}")
    assert editor.status_code == 200
    text = re.search(r"<textarea[^>]*>(.*?)</textarea>", editor.text, re.S)
    assert text, editor.text
    written = yaml.safe_load(html_unescape(text.group(1)))
    assert written["command"] == "exit 3" and written["max_runtime"] == "1m30s"
    assert written["resources"] == {"cpu": "500m", "memory": "96MiB"}

    theirs = signed_in(api, bob)
    assert theirs.get(f"/submit/yaml?from={job['id']}").status_code == 404
    form = {"csrf": csrf_of(theirs, "/jobs"), "key": "x"}
    assert theirs.post(f"/jobs/{job['id']}/resubmit", data=form).status_code == 404
