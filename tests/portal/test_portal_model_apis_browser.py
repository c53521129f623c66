"""The model APIs' pages in a real browser (Debian's Chromium driven by Playwright) against a
real `aicc serve` process with a real replica (`aicc/testing/upstream.py`): a person opens a
deployment's page, sees its live charts drawn, chats in the playground and sees the answer and
the request in the log, then the API keys page; in English and in Chinese, the top bar on one
line at 1280 px. Screenshots go to tests/artifacts/portal/model-api-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from portal_support import make_person
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

from aicc.testing.deployments import deploy

pytestmark = pytest.mark.slow
__all__ = ["chromium"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    with portal_server(
        tmp_path_factory, "portal-model-apis", {"loop_interval_s": 0.2, "limits": {"grace_s": 1.0}}
    ) as (server, api):
        yield server.url, api


def one_line(page: Any) -> None:
    """The top bar on one line: the brand, every entry and the person's menu side by side."""
    boxes = page.eval_on_selector_all(
        ".brand, .mainnav li, .usermenu",
        "items => items.map(i => { const r = i.getBoundingClientRect();"
        " return [Math.round(r.top + r.height / 2), Math.round(r.width)]; })",
    )
    print("top bar", page.url, boxes)
    assert len({middle for middle, _ in boxes}) == 1, f"the top bar wraps: {boxes}"


def test_a_person_watches_a_deployment_and_chats_with_it(
    served: tuple[str, httpx.Client], chromium: Any
) -> None:
    from playwright.sync_api import expect

    url, api = served
    carol = make_person(api, "labs", "carol")
    deploy(api, "chat", headers=carol.headers, project=carol.project_id)
    watch = Watch()
    page = open_page(chromium, watch)
    page.clock.install()  # time flows as usual; the test moves it on to the page's next poll
    sign_in(page, url, carol)
    one_line(page)
    page.get_by_role("link", name="Model APIs").click()
    page.get_by_role("link", name="chat", exact=True).click()
    expect(page.get_by_role("heading", name="Live traffic")).to_be_visible()
    expect(page.locator("#deployment-rate[data-chart-ready] canvas")).to_be_visible()
    expect(page.locator("#deployment-latency[data-chart-ready] canvas")).to_be_visible()

    page.get_by_label("Message").fill("say hello")
    page.get_by_label("Max tokens").fill("16")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-text")).to_contain_text("hello from the upstream")
    log = page.locator("section", has=page.get_by_role("heading", name="Recent requests"))
    expect(log.get_by_text("user:carol")).to_be_visible()
    # the live panel's next poll (every 5 s; the page's clock jumps there) counts the request
    page.clock.fast_forward(5_000)
    expect(page.locator("#deployment-live dd").first).to_have_text("1", timeout=30_000)
    expect(page.locator("#deployment-rate[data-chart-ready] canvas")).to_be_visible()
    one_line(page)
    shot(page, "model-api-deployment")
    axe_check(page, "/deployments/chat")

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("app")
    page.get_by_label("Requests a minute").fill("60")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key-secret")).to_have_value(re.compile("^aicc-sk-"))
    shot(page, "model-api-keys")
    axe_check(page, "/keys")

    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    one_line(page)
    page.goto(url + f"/deployments/chat?project={carol.project_id}")
    expect(page.get_by_role("heading", name="实时流量")).to_be_visible()
    expect(page.locator("#deployment-rate[data-chart-ready] canvas")).to_be_visible()
    page.get_by_label("消息").fill("你好")
    page.get_by_role("button", name="发送").click()
    expect(page.locator(".chat-text")).to_contain_text("hello from the upstream")
    one_line(page)
    shot(page, "model-api-deployment-zh")
    page.goto(url + "/keys")
    shot(page, "model-api-keys-zh")
    pages = {
        f"/deployments/chat?project={carol.project_id}": "model-api-deployment-narrow",
        "/keys": "model-api-keys-narrow",
    }
    narrow_tour(chromium, watch, page, url, pages).close()
    assert not watch.problems, watch.problems
