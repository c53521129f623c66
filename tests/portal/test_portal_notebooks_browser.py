"""Notebooks in a real browser (Debian's Chromium driven by Playwright) against a real
`aicc serve` process: a person creates a notebook on the notebooks page, opens it through the
server's proxy (HTTP and the kernel's websocket), runs `print(6*7)` and sees 42; another
tenant's signed-in browser gets a 404 at the same URL. Screenshots go to
tests/artifacts/portal/notebook-*.png."""

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
__all__ = ["chromium"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    pytest.importorskip("jupyterlab", reason="pip install -e '.[notebooks]'")
    config = {"loop_interval_s": 0.3}
    with portal_server(tmp_path_factory, "portal-notebooks", config) as (server, api):
        yield server.url, api


def running(api: httpx.Client, person: Person, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = api.get(f"/api/v1/notebooks/{name}", headers=person.headers).json()
        if found["state"] == "running":
            return found
        assert found["state"] == "starting", found
        assert time.monotonic() < deadline, f"notebook {name} did not start: {found}"
        time.sleep(0.3)


def lab_ready(page: Any, address: str, timeout: float = 180) -> None:
    """Wait until JupyterLab itself answers `address` in this browser's session."""
    deadline = time.monotonic() + timeout
    while (answer := page.request.get(address)).status != 200:
        assert time.monotonic() < deadline, f"JupyterLab did not answer: {answer.status}"
        time.sleep(0.25)


def test_a_person_runs_a_cell_in_their_notebook_and_nobody_else_gets_in(
    served: tuple[str, httpx.Client], chromium: Any
) -> None:
    from playwright.sync_api import expect

    url, api = served
    dana = make_person(api, "lab", "dana")
    eve = make_person(api, "rival", "eve")
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in(page, url, dana)
    page.goto(url + "/notebooks")
    expect(page.get_by_role("heading", name="Notebooks", exact=True)).to_be_visible()
    page.get_by_label("Name", exact=True).fill("scratch")
    page.get_by_label("Memory").fill("2Gi")
    page.get_by_role("button", name="Create and start").click()
    expect(page.get_by_text("Notebook scratch was created and is starting.")).to_be_visible()
    notebook = running(api, dana, "scratch")
    expect(page.get_by_role("link", name="Open notebook scratch")).to_be_visible(timeout=20_000)
    shot(page, "notebook-list")
    axe_check(page, "/notebooks")
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="交互式开发（Notebook）")).to_be_visible()
    shot(page, "notebook-list-zh")

    # The server's own URL, the owner's session: JupyterLab, then a kernel over the websocket.
    lab = page.context.new_page()
    watch.attach(lab)
    # JupyterLab answers (not the 503 page that reloads itself) before the browser opens it:
    # on a loaded machine its first answer can take a minute, and its page many more requests
    lab_ready(lab, url + notebook["url"])
    lab.goto(url + notebook["url"])
    launcher = lab.locator(".jp-LauncherCard[title*='Python 3']").first
    try:
        launcher.click(timeout=120_000)
    except Exception:
        shot(lab, "notebook-no-launcher")  # what the page showed instead
        raise
    cell = lab.locator(".jp-Cell .cm-content").first
    expect(cell).to_be_visible(timeout=30_000)
    # the kernel's websocket, through the proxy: its status reaches the page
    expect(lab.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)
    cell.click()
    lab.keyboard.type("print(6*7)")
    lab.keyboard.press("Shift+Enter")
    expect(lab.locator(".jp-OutputArea-output").first).to_have_text("42", timeout=60_000)
    shot(lab, "notebook-cell")

    # Another tenant, signed in to the portal, gets a 404 at the same address.
    other = open_page(chromium, Watch())
    sign_in(other, url, eve)
    answer = other.goto(url + notebook["url"])
    assert answer is not None and answer.status == 404
    expect(other.locator("main h1")).to_be_visible()  # the portal's own 404 page
    shot(other, "notebook-404-other-tenant")
    answer = other.goto(url + f"/notebooks/{notebook['job_id']}/api/contents")
    assert answer is not None and answer.status == 404
    # Nobody signed in: to the sign-in page, never the notebook.
    anonymous = httpx.get(url + notebook["url"], follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/sign-in")
