"""The CLI's two paths in a real browser (Debian's Chromium driven by Playwright) against a real
`aicc serve` process with its replicas in the bubblewrap sandbox: a running job's page has a
Terminal button whose xterm.js terminal runs commands inside the job (its files, its processes),
full-screen ones and Ctrl-C too, in English and in Chinese, and another tenant's browser gets a
404 there; the submit wizard takes a .tar of code as the job's workdir, and the job runs the
script in it. Screenshots go to tests/artifacts/portal/terminal*.png (terminal-less.png: less on
the alternate screen) and wizard-workdir.png."""

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


SCREEN = "[data-terminal-screen]"


def _screen(page: Any) -> str:
    """The terminal's active buffer as text, one line per row, read from xterm itself."""
    return str(
        page.evaluate(
            """(sel) => { const b = document.querySelector(sel).terminal.buffer.active;
            const lines = [];
            for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
            return lines.join("\\n"); }""",
            SCREEN,
        )
    )


def _buffer_type(page: Any) -> str:
    return str(
        page.evaluate("(s) => document.querySelector(s).terminal.buffer.active.type", SCREEN)
    )


def _shows(page: Any, pattern: str) -> None:
    """The screen comes to have a line matching `pattern` (the shell answers within 20 s)."""
    page.wait_for_function(
        """([sel, pattern]) => { const b = document.querySelector(sel).terminal.buffer.active;
        for (let i = 0; i < b.length; i++)
          if (new RegExp(pattern).test(b.getLine(i).translateToString(true))) return true;
        return false; }""",
        arg=[SCREEN, pattern],
        timeout=20_000,
    )


def test_a_running_jobs_terminal(served: tuple[str, httpx.Client], chromium: Any) -> None:
    """A real terminal: keys to the pty, its bytes to xterm; `tput cols` sees the page's width
    (the resize frame), `less` takes the alternate screen and gives it back, Ctrl-C (the key and
    the button) interrupts a `sleep`, and the exit code is shown. No CSP violation on the
    console (Watch)."""
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
    expect(page.locator("[data-terminal-state=open]")).to_be_attached(timeout=20_000)
    expect(page.locator(f"{SCREEN} .xterm-rows")).to_be_visible()
    cols = page.evaluate("(s) => document.querySelector(s).terminal.cols", SCREEN)
    assert 40 < cols < 300, cols  # fitted to the box, not the pty's first 120

    page.locator(SCREEN).click()
    page.keyboard.type("cat note.txt; echo hi; tput cols; printf '\\033[31m<b>red</b>\\033[0m\\n'")
    page.keyboard.press("Enter")
    _shows(page, "^hi$")
    _shows(page, f"^{cols}$")  # the pty has the page's width
    text = _screen(page)
    assert "seen-by-the-terminal" in text and "<b>red</b>" in text
    assert page.locator(f"{SCREEN} b").count() == 0  # output is text, never markup
    assert _buffer_type(page) == "normal"

    page.keyboard.type("seq 1 500 > many.txt; less many.txt")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(s) => document.querySelector(s).terminal.buffer.active.type === 'alternate'",
        arg=SCREEN,
        timeout=20_000,
    )
    _shows(page, "^1$")
    shot(page, "terminal-less")
    page.keyboard.press("q")
    page.wait_for_function(
        "(s) => document.querySelector(s).terminal.buffer.active.type === 'normal'",
        arg=SCREEN,
        timeout=20_000,
    )

    page.set_viewport_size({"width": 900, "height": 800})  # a narrower window: fewer columns
    page.wait_for_function(f"(s) => document.querySelector(s).terminal.cols < {cols}", arg=SCREEN)
    narrower = page.evaluate("(s) => document.querySelector(s).terminal.cols", SCREEN)
    page.keyboard.type("echo cols-$(tput cols)")
    page.keyboard.press("Enter")
    _shows(page, f"^cols-{narrower}$")  # the pty was told (resize, TIOCSWINSZ)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.keyboard.type("sleep 100; echo not-interrupted")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+C")
    page.keyboard.type("echo status-$?")
    page.keyboard.press("Enter")
    _shows(page, "^status-130$")
    page.keyboard.type("sleep 100; echo not-interrupted")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Interrupt (Ctrl-C)").click()  # for screens without Ctrl
    page.keyboard.type("echo button-$?")  # the button gave the terminal its focus back
    page.keyboard.press("Enter")
    _shows(page, "^button-130$")
    assert "not-interrupted" not in _screen(page).replace("echo not-interrupted", "")
    shot(page, "terminal")
    axe_check(page, "the terminal page")
    page.keyboard.type("exit 3")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("The session ended (exit code 3).")

    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name=re.compile("终端"))).to_be_visible()
    expect(page.locator("[data-terminal-state=open]")).to_be_attached(timeout=20_000)
    expect(page.get_by_role("button", name="中断（Ctrl-C）")).to_be_enabled()
    page.locator(SCREEN).click()
    page.keyboard.type("echo 你好")
    page.keyboard.press("Enter")
    _shows(page, "^你好$")
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
