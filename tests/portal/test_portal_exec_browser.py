"""The CLI's two paths in a real browser (Debian's Chromium driven by Playwright) against a real
`aicc serve` process with its replicas in the bubblewrap sandbox: a running job's page has a
Terminal button whose console runs commands inside the job (its files, its processes), in
English and in Chinese, and another tenant's browser gets a 404 there; the submit wizard takes
a .tar of code as the job's workdir, and the job runs the script in it. Screenshots go to
tests/artifacts/portal/terminal*.png and wizard-workdir.png."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portal_support import Person, make_person, submit, wait_job
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
__all__ = ["chromium"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    config = {"loop_interval_s": 0.3, "sandbox": "bwrap"}
    with portal_server(tmp_path_factory, "portal-exec", config) as (server, api):
        yield server.url, api


def _running(api: httpx.Client, person: Person) -> str:
    job = submit(
        api, person, name="with-a-shell", command="echo seen-by-the-terminal > note.txt; sleep 600"
    )
    wait_job(api, person, job["id"], {"running"})
    return str(job["id"])


def test_a_running_jobs_terminal(served: tuple[str, httpx.Client], chromium: Any) -> None:
    from playwright.sync_api import expect

    url, api = served
    ana = make_person(api, "term", "ana")
    eve = make_person(api, "term-rival", "eve")
    job_id = _running(api, ana)
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, url, ana)
    page.goto(f"{url}/jobs/{job_id}")
    page.get_by_role("link", name="Terminal", exact=True).click()
    expect(page).to_have_url(f"{url}/jobs/{job_id}/terminal")
    line = page.get_by_label("Command", exact=True)
    expect(line).to_be_enabled(timeout=20_000)  # the websocket is open
    line.fill("cat note.txt; printf '\\033[31m<b>red</b>\\033[0m\\n'; ls /proc | wc -l")
    page.get_by_role("button", name="Run", exact=True).click()
    console = page.locator("pre[data-terminal-output]")
    expect(console).to_contain_text("seen-by-the-terminal")
    expect(console).to_contain_text("<b>red</b>")  # as text: no markup, no escapes
    assert page.locator("pre[data-terminal-output] b").count() == 0
    assert "\x1b" not in console.text_content()
    shot(page, "terminal")
    axe_check(page, "the terminal page")
    line.fill("exit 3")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("The session ended (exit code 3).")
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name=re.compile("终端"))).to_be_visible()
    expect(page.get_by_label("命令", exact=True)).to_be_enabled(timeout=20_000)
    shot(page, "terminal-zh")
    assert not watch.problems, watch.problems

    other = open_page(chromium, Watch(expected_404s={f"/jobs/{job_id}/terminal"}))
    sign_in(other, url, eve)
    answer = other.goto(f"{url}/jobs/{job_id}/terminal")
    assert answer is not None and answer.status == 404
    api.post(f"/api/v1/jobs/{job_id}/cancel", headers=ana.headers).raise_for_status()


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_the_wizard_uploads_a_workdir(
    served: tuple[str, httpx.Client], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, api = served
    ben = make_person(api, "code", "ben")
    archive = tmp_path / "code.tar"
    script = b"import sys\nprint('the uploaded script ran with', sys.argv[1])\n"
    archive.write_bytes(_tar({"train.py": script, "data/readme.txt": b"hello\n"}))
    zipped = tmp_path / "code.zip"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    watch = Watch(expected_422s={"/submit"})
    page = open_page(chromium, watch)
    sign_in(page, url, ben)
    page.goto(url + "/submit")
    page.get_by_label("Just a command").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    page.get_by_label("Job name").fill("from-a-tar")
    page.get_by_label("Command", exact=True).fill("python3 train.py well && cat data/readme.txt")
    page.get_by_label("Or an archive (.tar, .tar.gz)").set_input_files(str(zipped))
    page.get_by_role("button", name="Submit job").click()
    expect(page.locator("#job-workdir-error")).to_contain_text(".zip")  # refused, said why
    page.get_by_label("Or an archive (.tar, .tar.gz)").set_input_files(str(archive))
    shot(page, "wizard-workdir")
    page.get_by_role("button", name="Submit job").click()
    expect(page).to_have_url(re.compile(r"/jobs/job_"))
    expect(page.locator("#job-live h1 .badge")).to_have_text("Succeeded", timeout=60_000)
    expect(page.locator("#job-log pre")).to_contain_text("the uploaded script ran with well")
    expect(page.locator("#job-log pre")).to_contain_text("hello")
