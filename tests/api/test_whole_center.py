"""The whole center at once: the route walk's world (route_walk.py: tenant A with one object of
every kind, among them a job that ran, a data set, a model, a deployment, a notebook, a lease,
a maintenance window, a need with a challenge, a question and an offer, a voucher, a budget, a
notification channel, an image, a settlement; tenant B beside it) and every portal page and
every read route of the API, as each role (the center's admin, A's organization admin, A's
member, B's admin), in English and in Chinese. What a person would notice: no answer is a 5xx,
and no Chinese page shows an English string of the catalog or a raw catalog key.

A new resource joins by adding its object to `build_world` and, for a page with a path
parameter, its value to `PAGE_FILLS` (CONTRIBUTING.md's recipe)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from html.parser import HTMLParser

import pytest
import yaml
from fastapi.testclient import TestClient
from route_walk import World, calls, operations, routes_of, send

from aicc.portal.auth import LANG_COOKIE
from aicc.portal.i18n import catalog
from aicc.services.billing.plans import PRICE_KEYS
from aicc.services.models import templates

ROLES = ("admin", "org-admin", "member", "outsider")
LANGUAGES = ("en", "zh-CN")
# Pages that stream (server-sent events) or proxy a notebook's own server: not pages to render.
STREAMS = re.compile(r"/live$|^/notebooks/\{job_id\}/\{path:path\}$|^/sso/")
# Templates the center ships, whose pages list their hyperparameters (as the wizard's step 3).
SHIPPED_PAGES = ("table-prediction", "image-classification", "series-forecast")
NOT_PAGES = ("/api", "/v1", "/docs", "/openapi", "/redoc", "/static", "/ga4gh", "/healthz")


def _ids(w: World) -> dict[str, str]:
    """Ids the pages name that the world's targets do not hold: found as A's member sees them."""
    need = w.api.get(f"/api/v1/needs/{w.a.need}", headers=w.a_member).json()
    challenges = w.api.get("/api/v1/challenges", headers=w.a_member).json()["items"]
    notebooks = w.api.get("/api/v1/notebooks", headers=w.a_member).json()["items"]
    return {
        "need": need["id"],
        "challenge": challenges[0]["id"] if challenges else "ch_unknown",
        "notebook": notebooks[0]["job_id"] if notebooks else w.a.job_id,
    }


# (the path's word before the parameter, the parameter) -> its value in the world
PAGE_FILLS: dict[tuple[str, str], Callable[[World, dict[str, str]], str]] = {
    ("jobs", "job_id"): lambda w, ids: w.a.job_id,
    ("runs", "job_id"): lambda w, ids: w.a.job_id,
    ("notebooks", "job_id"): lambda w, ids: ids["notebook"],
    ("data", "name"): lambda w, ids: w.a.dataset,
    ("marketplace", "name"): lambda w, ids: w.a.template,
    ("needs", "need_id"): lambda w, ids: ids["need"],
    ("challenges", "challenge_id"): lambda w, ids: ids["challenge"],
    ("models", "name"): lambda w, ids: w.a.model,
    ("deployments", "name"): lambda w, ids: w.a.deployment,
    ("nodes", "name"): lambda w, ids: w.a.node,  # a node's page and power curve (issue 62)
    ("quotas", "kind"): lambda w, ids: "project",  # the quota form of A's project
    ("{kind}", "tenant_id"): lambda w, ids: w.a.project_id,
}


def _pages(w: World) -> list[str]:
    """Every portal page of the app, with A's objects in its path, and the views people open
    with a query (the bills of A's organization for this month, as the admin's filter and A's
    invoice link open it)."""
    ids = _ids(w)
    found: list[str] = []
    for path, methods in routes_of(w.api.app):
        if "GET" not in methods or path.startswith(NOT_PAGES) or STREAMS.search(path):
            continue

        def fill(match: re.Match[str], path: str = path) -> str:
            before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
            key = (before, match.group(1))
            assert key in PAGE_FILLS, f"{path}: add {key} to PAGE_FILLS"
            return PAGE_FILLS[key](w, ids)

        found.append(re.sub(r"\{(\w+)\}", fill, path))
    month = datetime.now(UTC).strftime("%Y-%m")
    found += [f"/bills?month={month}&org={w.a.org_id}", f"/bills?month={month}", "/center?hours=1"]
    found += [f"/marketplace/{name}" for name in SHIPPED_PAGES]  # the center's own templates
    return sorted(set(found))


def _role(w: World, role: str) -> dict[str, str]:
    return {
        "admin": {"Authorization": str(w.api.headers["Authorization"])},
        "org-admin": w.a_admin,
        "member": w.a_member,
        "outsider": w.b_admin,
    }[role]


def _signed_in(w: World, role: str, language: str) -> TestClient:
    """A browser of the app signed in as `role` with its token (the sign-in form's other way),
    in `language` (the language switch's cookie, which signing in keeps as the user's)."""
    browser = TestClient(w.api.app, headers={"Accept-Language": language})
    browser.cookies.set(LANG_COOKIE, language)
    browser.get("/sign-in")
    token = _role(w, role)["Authorization"].split()[1]
    form = {"csrf": browser.cookies.get("aicc_csrf") or "", "token": token}
    answer = browser.post("/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser


class _Text(HTMLParser):
    """The text a person reads on a page: not scripts, styles, code or what forms hold; and,
    in `plain`, what is not a key shown beside its label either (`class="key"`: as the CLI
    takes it, under the words people read)."""

    SKIP = frozenset({"script", "style", "code", "pre", "textarea", "option", "kbd", "samp"})
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.texts: list[str] = []
        self.plain: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, set as code)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.depth += 1
        if tag not in self.VOID:
            classes = (dict(attrs).get("class") or "").split()
            self.open.append((tag, "key" in classes))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.depth:
            self.depth -= 1
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self.depth:
            self.texts.append(text)
            if not any(mono for _, mono in self.open):
                self.plain.append(text)


@cache
def _untranslatable() -> tuple[frozenset[str], frozenset[str]]:
    """The catalog's English strings that Chinese says otherwise (whole, without
    placeholders, with a letter in them; not those that Chinese keeps as they are somewhere,
    as "Notebook"), and its keys."""
    en, zh = catalog("en"), catalog("zh-CN")
    kept = set(zh.values())
    english = {
        text.strip()
        for key, text in en.items()
        if zh.get(key) not in (None, text)
        and text not in kept
        and "{" not in text
        and re.search(r"[A-Za-z]{3}", text)
        and len(text.strip()) >= 4
    }
    keys = {k for k in en if "." in k and " " not in k}
    return frozenset(english), frozenset(keys)


def _untranslated(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    english, keys = _untranslatable()
    return sorted({t for t in parser.texts if t in english or t in keys})


@cache
def _raw_keys() -> frozenset[str]:
    """Keys of the stored shapes that a page must word for people, in either language: the
    shipped templates' hyperparameters (`time_budget_s`), the quota keys (`storage_gib`), the
    price plan's keys. A page may show one beside its label (`class="key"`)."""
    found = {"storage_gib", "cpu_milli", "memory_mib", *PRICE_KEYS}
    for shipped in templates.ROOT.glob("*/template.yaml"):
        found |= set(yaml.safe_load(shipped.read_text())["hyperparameters"] or {})
    return frozenset(k for k in found if "_" in k)


def _raw(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    raw = _raw_keys()
    return sorted({t for t in parser.plain if t in raw})


@pytest.mark.parametrize("role", ROLES)
def test_every_page_as_every_role_in_both_languages(world: World, role: str) -> None:
    w = world
    failures: list[str] = []
    untranslated: dict[str, list[str]] = {}
    pages = _pages(w)
    assert len(pages) >= 50, pages
    shown = 0
    # What a page reads does not depend on its language: on PostgreSQL the Chinese walk alone
    # (it checks the translations as well), both on SQLite.
    languages = LANGUAGES if w.state.db.dialect == "sqlite" else ("zh-CN",)
    for language in languages:
        browser = _signed_in(w, role, language)
        for page in pages:
            answer = browser.get(page, follow_redirects=False)
            shown += answer.status_code == 200
            if answer.status_code >= 500:
                failures.append(f"{language} {page}: {answer.status_code} {answer.text[:300]}")
                continue
            kind = answer.headers.get("content-type", "")
            if answer.status_code == 200 and "text/html" in kind:
                found = _untranslated(answer.text) if language == "zh-CN" else []
                found += [f"raw key {key}" for key in _raw(answer.text)]
                if found:
                    untranslated[f"{language} {page}"] = found
    assert not failures, f"as {role}:\n" + "\n".join(failures)
    assert not untranslated, f"as {role}, English on Chinese pages or raw keys: {untranslated}"
    walked = len(languages) * len(pages)
    assert shown >= walked // 4, f"as {role}: {shown} pages shown of {walked}"


@pytest.mark.parametrize("role", ROLES)
def test_every_read_route_as_every_role(world: World, role: str) -> None:
    """Every GET of the API, naming A's objects, as each role: answered, never a 5xx."""
    w = world
    auth = _role(w, role)
    failures = []
    for op in operations(w.api.app):
        if op.method != "GET":
            continue
        for call in calls(op, w.a):
            if "/stream" in call.url or call.url.endswith("/follow"):
                continue
            answer = send(w.api, call, auth)
            if answer.status_code >= 500:
                failures.append(f"GET {call.url}: {answer.status_code} {answer.text[:300]}")
    assert not failures, f"as {role}:\n" + "\n".join(failures)
