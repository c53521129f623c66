"""The inbox page: a person's notifications (in their language, each linking to what it is
about) with the bell's unread count in the top bar, read marks, and their channels (add, refuse
a hostile URL, test: queued, its state in the row; remove), in English and Chinese; another
tenant's channel is the 404 page. In a real browser (Chromium): the page's screenshots in both
languages go to tests/artifacts/portal/inbox-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from portal_support import Person, csrf_of, make_person, sign_in, unique
from test_portal_browser import Watch, _ensure_assets, axe_check, chromium, open_page, shot
from test_portal_browser import sign_in as sign_in_page

from aicc.testing.servers import over_http

__all__ = ["chromium"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client]]:
    """One server over HTTP for the module (the browser's and the forms'), and its admin."""
    _ensure_assets()
    with over_http(tmp_path_factory.mktemp("inbox") / "home", loops=False) as (url, token, _):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        try:
            yield url, api
        finally:
            api.close()


def _person(api: httpx.Client) -> Person:
    n = unique()
    return make_person(api, f"inbox-org-{n}", f"inbox-person-{n}")


def _signed_in(url: str, person: Person) -> httpx.Client:
    """A browser's cookies and forms, signed in with the person's password."""
    client = httpx.Client(timeout=60, base_url=url, follow_redirects=True)
    assert sign_in(client, person.name).status_code == 303  # type: ignore[arg-type]
    return client


def _quota_changed(api: httpx.Client, person: Person) -> None:
    """A cause the person hears of: the center's admin sets their project's quota."""
    answer = api.put(
        f"/api/v1/projects/{person.project_id}/quota", json={"max": {"cpu_milli": 16000}}
    )
    assert answer.status_code == 200, answer.text


def test_the_inbox_its_bell_and_its_channels(served: tuple[str, httpx.Client]) -> None:
    url, api = served
    alice, bob = _person(api), _person(api)
    _quota_changed(api, alice)
    page = _signed_in(url, alice)
    html = page.get("/inbox").text
    assert 'aria-label="Inbox: 1 unread"' in html and 'class="bell-count">1<' in html
    assert "quota of project default changed" in html and "No channels yet" in html
    assert '<a href="/quotas">quota of project default changed</a>' in html  # to its page

    form = {"csrf": csrf_of(page, "/inbox"), "name": "ops", "kind": "webhook", "events": "job.*"}
    refused = page.post("/inbox/channels", data={**form, "target": "http://169.254.169.254/x"})
    assert refused.status_code == 422 and "link-local or metadata address" in refused.text
    added = page.post(
        "/inbox/channels",
        data={**form, "target": "https://hooks.example.com/hook", "project": alice.project_id},
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == "/inbox?added=ops"
    shown = page.get("/inbox").text
    assert "Channel ops added." not in shown  # the flash is the redirect's, not every visit's
    assert "https://hooks.example.com/hook" in shown and "Project default" in shown
    channel_id = re.search(r"/inbox/channels/(nch_[0-9A-Z]+)/test", shown)
    assert channel_id is not None
    tested = page.post(
        f"/inbox/channels/{channel_id[1]}/test", data={"csrf": csrf_of(page, "/inbox")}
    )
    # queued, never sent in the request (this server runs no loops: it stays queued)
    assert "A test message to ops is queued" in tested.text and ">Queued</span>" in tested.text

    other = _signed_in(url, bob)
    theirs = other.post(
        f"/inbox/channels/{channel_id[1]}/delete", data={"csrf": csrf_of(other, "/inbox")}
    )
    assert theirs.status_code == 404
    assert "quota of project default changed" not in other.get("/inbox").text

    page.post("/language", data={"csrf": csrf_of(page), "language": "zh-CN"})
    chinese = page.get("/inbox").text
    assert '<html lang="zh-CN">' in chinese and "收件箱：1 条未读" in chinese
    # the notification itself in the reader's language: its template and values, translated
    assert '<a href="/quotas">项目 default 的配额已变更</a>' in chinese
    assert "设置了项目 default 的配额：max cpu_milli 16000。" in chinese
    assert "quota of project default changed" not in chinese
    assert "添加通知渠道" in chinese and "Webhook 回调" in chinese and "排队中" in chinese
    read = page.post("/inbox/read", data={"csrf": csrf_of(page, "/inbox")})
    assert "已将 1 条标为已读。" in read.text and "bell-count" not in read.text
    gone = page.post(
        f"/inbox/channels/{channel_id[1]}/delete", data={"csrf": csrf_of(page, "/inbox")}
    )
    assert "已删除渠道 ops。" in gone.text


def test_the_inbox_in_a_browser(served: tuple[str, httpx.Client], chromium: Any) -> None:
    from playwright.sync_api import expect

    url, api = served
    ann = _person(api)
    _quota_changed(api, ann)
    mine = {"name": "team-bot", "kind": "feishu", "project": ann.project_id}
    mine["target"] = "https://open.feishu.cn/open-apis/bot/v2/hook/example"
    made = api.post("/api/v1/notify/channels", json=mine, headers=ann.headers)
    assert made.status_code == 201, made.text
    watch = Watch()
    page = open_page(chromium, watch)
    sign_in_page(page, url, ann)
    expect(page.get_by_role("link", name="Inbox: 1 unread")).to_be_visible()
    page.get_by_role("link", name="Inbox: 1 unread").click()
    expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()
    expect(page.get_by_text("quota of project default changed")).to_be_visible()
    expect(page.get_by_role("rowheader", name="team-bot")).to_be_visible()
    axe_check(page, "the inbox")
    shot(page, "inbox-en")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="收件箱", exact=True)).to_be_visible()
    expect(page.get_by_text("飞书机器人").first).to_be_visible()
    shot(page, "inbox-zh")
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.get_by_role("status")).to_contain_text("已将 1 条标为已读")
    expect(page.get_by_role("link", name="收件箱：0 条未读")).to_be_visible()
    assert watch.problems == []


def test_a_notification_is_said_in_its_readers_language_and_links_to_its_object() -> None:
    """A job's failure as stored (templates and values, services/notify/events.py) in Chinese,
    its state and reason codes translated, linking to the job; an event stored before
    templates keeps its text."""
    from datetime import UTC, datetime

    from aicc.portal.i18n import Translator
    from aicc.portal.notify import shown
    from aicc.services.notify.views import InboxItem

    params = {"name": "train-1", "job_id": "job_X", "state": "failed", "reason": "exit_code"}
    text = {
        "subject": "job {name} {state}",
        "body": "Job {name} ({job_id}) {state}: {reason}.\n"
        "`aicc job logs {job_id}` shows its output.",
        "params": {**params, "message": ""},
    }
    item = InboxItem(
        id="nev_1",
        kind="job.failed",
        subject="job train-1 failed",
        body="...",
        project_id=None,
        data={"job_id": "job_X", "text": text},
        at=datetime.now(UTC),
        read=False,
    )
    zh = shown(Translator("zh-CN"), item)
    assert zh.subject == "作业 train-1 失败" and zh.link == "/jobs/job_X"
    assert zh.body.startswith("作业 train-1（job_X）失败：") and "exit_code" not in zh.body
    en = shown(Translator("en"), item)
    assert en.subject == "job train-1 failed" and en.body.startswith("Job train-1 (job_X) failed")
    old = item.model_copy(update={"data": {}, "kind": "lease.ended"})
    assert shown(Translator("zh-CN"), old).subject == "job train-1 failed"
    assert shown(Translator("zh-CN"), old).link == "/quotas"
