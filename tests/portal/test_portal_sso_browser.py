"""Single sign-on in a real browser: Chromium (Debian's, driven by Playwright) clicks "Sign in
with Test IdP" on the portal, signs in on the real provider's pages (oidc-provider from npm),
allows AICC, and lands on the dashboard signed in; a person no rule maps, in Chinese, is sent
back to the sign-in page with the reason. Screenshots go to tests/artifacts/portal/sso-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from portal_support import unique
from sso_support import Provider, provider, settings
from test_portal_browser import (
    ARTIFACTS,
    _ensure_assets,
    axe_check,
    chromium,
)

from aicc.testing.servers import free_port, over_http

__all__ = ["chromium"]  # the browser fixture, shared with the portal's other browser tests

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Provider, str]]:
    """The provider and AICC (over HTTP, with the organization acme): (provider, AICC's URL)."""
    _ensure_assets()
    port = free_port()
    callback = f"http://127.0.0.1:{port}/sso/oidc/callback"
    with provider(tmp_path_factory.mktemp("idp"), [callback]) as idp:
        home = tmp_path_factory.mktemp("sso-browser") / "home"
        with over_http(home, loops=False, port=port, oidc=settings(idp.issuer)) as (url, token, _):
            auth = {"Authorization": f"Bearer {token}"}
            httpx.post(f"{url}/api/v1/orgs", json={"name": "acme"}, headers=auth).raise_for_status()
            yield idp, url


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_page(chromium: Any, url: str, locale: str = "en-US") -> tuple[Any, list[str]]:
    """A new browser context's page, and the console errors of AICC's pages in it (the
    provider's development pages load a web font from the internet, which fails here)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(f"{page.url}: {m.text}")
            if m.type == "error" and page.url.startswith(url) and "status of 403" not in m.text
            else None
        ),
    )
    page.on("pageerror", lambda err: errors.append(f"{page.url}: {err}"))
    return page, errors


def sign_in_at_provider(page: Any, login: str, shot_name: str | None = None) -> None:
    """On the provider's pages: the login form, then allowing AICC."""
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    if shot_name:
        shot(page, shot_name)
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]:has-text('Continue')")
    page.click("button[type=submit]:has-text('Continue')")


def test_sign_in_through_the_provider_lands_on_the_dashboard(
    site: tuple[Provider, str], chromium: Any
) -> None:
    idp, url = site
    login = f"erin{unique()}"
    idp.set_account(
        login, preferred_username=login, email=f"{login}@example.com", groups=["acme-admins"]
    )
    page, errors = open_page(chromium, url)
    page.goto(f"{url}/sign-in")
    button = page.get_by_role("link", name="Sign in with Test IdP")
    assert button.is_visible()
    shot(page, "sso-sign-in")
    axe_check(page, "the sign-in page with single sign-on")
    button.click()
    assert page.url.startswith(idp.issuer)
    sign_in_at_provider(page, login, "sso-provider-login")
    page.wait_for_url(f"{url}/")
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name=f"Welcome, {login}").is_visible()
    shot(page, "sso-dashboard")
    assert not errors, errors
    page.context.close()


def test_a_person_no_rule_maps_reads_why_in_chinese(
    site: tuple[Provider, str], chromium: Any
) -> None:
    idp, url = site
    login = f"frank{unique()}"
    idp.set_account(login, preferred_username=login, groups=["marketing"])
    page, errors = open_page(chromium, url, locale="zh-CN")
    page.goto(f"{url}/sign-in")
    page.get_by_role("link", name="使用 Test IdP 登录").click()
    sign_in_at_provider(page, login)
    page.wait_for_url(f"{url}/sso/oidc/callback*")
    alert = page.get_by_role("alert")
    assert "在此处没有对应的组织" in alert.inner_text()
    assert page.get_by_role("link", name="使用 Test IdP 登录").is_visible()
    shot(page, "sso-refused-zh")
    axe_check(page, "the sign-in page saying why single sign-on refused")
    assert not errors, errors
    page.context.close()
