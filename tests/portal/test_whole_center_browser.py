"""The whole center in a browser: the route walk's world (tests/api/route_walk.py, every kind of
resource in use) served on a real socket, and every portal page opened in Chromium by A's member
in Chinese at 1280 px (the longer labels; tests/api/test_whole_center.py renders every page in
both languages as every role), and the center's pages by the admin: no serious
accessibility violation (axe-core), no table clipped without a way to scroll to what it hides,
and on a phone the navigation takes at most a fifth of the first screen. Screenshots of every
page (Chinese, desktop) and of the phone's first screens are kept under
tests/artifacts/whole-center/."""

from __future__ import annotations

import re
from typing import Any

import pytest
from route_walk import World, world, world_images
from test_portal_browser import (
    NARROW,
    ROOT,
    WIDE,
    Watch,
    _ensure_assets,
    axe_check,
    chromium,
    fits_the_screen,
    open_page,
)
from test_whole_center import _pages, _role

from aicc.portal.auth import LANG_COOKIE
from aicc.testing.servers import serving

__all__ = ["chromium", "world", "world_images"]  # fixtures, used by name

ARTIFACTS = ROOT / "tests" / "artifacts" / "whole-center"
# What a table may not do: be wider than what holds it, unless something between them scrolls
# (a `.table-wrap` with overflow-x) so a person can reach its last columns.
CLIPPED = """() => [...document.querySelectorAll('main table')].filter((table) => {
  for (let box = table.parentElement; box && box !== document.body; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (['auto', 'scroll'].includes(style.overflowX)) return false;
    if (table.getBoundingClientRect().right > box.getBoundingClientRect().right + 1) return true;
  }
  return table.getBoundingClientRect().right > window.innerWidth + 1;
}).map((t) => (t.closest('section, .card') || t).querySelector('h2, h3, caption')?.textContent
  || t.className || 'a table')"""
# The first screen's share that the navigation (the top bar and the operators' bar) takes.
NAV_SHARE = """() => {
  const bars = [...document.querySelectorAll('header.topbar, nav.opsnav')];
  const bottom = Math.max(...bars.map((b) => b.getBoundingClientRect().bottom));
  return bottom / window.innerHeight;
}"""


def _browse(browser: Any, url: str, token: str, language: str, viewport: dict[str, int]) -> Any:
    """A page signed in with `token` (what the sign-in form's token field posts) in
    `language`."""
    watch = Watch()
    page = open_page(browser, watch, viewport)
    host = url.split("//", 1)[1].split(":", 1)[0]
    page.context.add_cookies(
        [{"name": LANG_COOKIE, "value": language, "domain": host, "path": "/"}]
    )
    page.goto(url + "/sign-in")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "aicc_csrf")
    answer = page.context.request.post(
        url + "/sign-in", form={"csrf": csrf, "token": token}, max_redirects=0
    )
    assert answer.status == 303, answer.text()
    return page


def _name(path: str) -> str:
    """A screenshot's name for `path`, the same in every run (ids read as their kind)."""
    stable = re.sub(r"\b([a-z]+)_[0-9A-Z]{26}\b", r"\1", path.split("?")[0]).strip("/")
    return re.sub(r"[^A-Za-z0-9.-]+", "_", stable) or "dashboard"


@pytest.fixture
def site(world: World) -> Any:
    _ensure_assets()
    with serving(world.api.app) as url:
        yield url


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_page_in_a_browser(world: World, site: str, chromium: Any) -> None:
    w, url = world, site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    files = (".csv", ".pdf", "/export", "/download", "/outputs", "/log")  # downloads, not pages
    pages = [p for p in _pages(w) if not p.endswith(files)]
    center = [p for p in pages if p.startswith("/center")]
    tours = [
        ("member", "zh-CN", [p for p in pages if p not in center], True),
        ("admin", "zh-CN", center, True),
    ]
    problems: list[str] = []
    for role, language, paths, shots in tours:
        token = _role(w, role)["Authorization"].split()[1]
        page = _browse(chromium, url, token, language, WIDE)
        for path in paths:
            answer = page.goto(url + path)
            if answer is None or answer.status != 200:
                continue
            if not page.evaluate("!!document.querySelector('main')"):
                continue  # a fragment a page loads into itself (htmx), not a page
            try:
                axe_check(page, f"{path} ({role}, {language})")
            except AssertionError as err:
                problems.append(str(err))
            clipped = page.evaluate(CLIPPED)
            if clipped:
                problems.append(f"{path} ({language}): clipped tables {clipped}")
            if shots:
                page.screenshot(
                    path=str(ARTIFACTS / f"{language}-{_name(path)}.png"), full_page=True
                )
        page.context.close()
    for language in ("zh-CN", "en"):
        for role in ("member", "admin"):
            token = _role(w, role)["Authorization"].split()[1]
            phone = _browse(chromium, url, token, language, NARROW)
            for path in ("/", "/jobs", f"/jobs/{w.a.job_id}"):
                phone.goto(url + path)
                share = phone.evaluate(NAV_SHARE)
                if share > 0.2:
                    problems.append(f"{path} ({role}, {language}, phone): nav takes {share:.0%}")
                fits_the_screen(phone, f"{path} on a phone")
                phone.screenshot(path=str(ARTIFACTS / f"phone-{role}-{language}-{_name(path)}.png"))
            phone.context.close()
    assert not problems, "\n".join(problems)
