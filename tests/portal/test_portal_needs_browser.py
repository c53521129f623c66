"""Needs and challenges in a real browser (issue 41; Debian's Chromium driven by Playwright): a
city office signs in, posts a need from the catalog's form and makes it a challenge on its
private data set with the answers; a team signs in, finds it, joins and submits its model (a
job that wrote a `predict.py`, registered through the API); the score appears on the public
board, table and bar chart; the deadline passes (moved in the database), the private board
shows, and the office awards the reward through the form once: the same form sent again from a
second tab is refused with the service's words, and the team's organization holds one voucher.
Before the deadline the lab also offers the office a template of its own, which the office
accepts on the need's page.
The reward is held from the office's own voucher (a compute voucher the center issued it), which
the award spends once. No console error, no serious accessibility violation. Screenshots go to
tests/artifacts/portal/needs-*.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from portal_support import Person, make_person
from sqlalchemy import update
from test_portal_browser import (
    Watch,
    _ensure_assets,
    axe_check,
    chromium,
    narrow_tour,
    open_page,
    shot,
    sign_in,
)
from test_portal_model_apis_browser import one_line

from aicc.server import ServerState
from aicc.store.tables.needs import NeedRow
from aicc.testing import challenges, templates
from aicc.testing.datasets import push
from aicc.testing.jobs import submit
from aicc.testing.servers import over_http

pytestmark = pytest.mark.slow
__all__ = ["chromium"]  # the browser fixture, shared with the portal's other browser tests


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, httpx.Client, Any]]:
    """A whole server over HTTP (the loops run the team's job and the scoring), its admin, and
    its state (the test moves the deadline in its database)."""
    _ensure_assets()
    home = tmp_path_factory.mktemp("needs") / "home"
    with over_http(home) as (url, token, state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        try:
            yield url, api, state
        finally:
            api.close()


def model_job(url: str, team: Person) -> str:
    """The team's job that writes its model (a predict.py); its id, started now."""
    with httpx.Client(timeout=60, base_url=url, headers=team.headers) as http:
        return str(submit(http, challenges.writer(challenges.SAYS_YES))["id"])


def register(url: str, team: Person, job_id: str) -> None:
    with httpx.Client(timeout=60, base_url=url, headers=team.headers) as http:
        challenges.registered(http, job_id, "sayer")


def test_a_challenge_from_posting_to_award_in_a_browser(
    served: tuple[str, httpx.Client, ServerState], chromium: Any
) -> None:
    from playwright.sync_api import expect

    url, api, state = served
    city, team = make_person(api, "city-office", "li-na"), make_person(api, "alpha-lab", "wang")
    job_id = model_job(url, team)  # runs while the office posts its need
    train = "x,answer\n" + "".join(f"{i},{'yes' if i % 3 else 'no'}\n" for i in range(60))
    # published by the center's admin (a member may not publish to the open catalog)
    push(
        api,
        "yes-train",
        {"train.csv": train.encode()},
        project=city.project_id,
        visibility="public",
    )
    answers = "x,answer\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
    push(api, "yes-hidden", {"test.csv": answers.encode()}, city.headers)

    issued = api.post(
        "/api/v1/vouchers", json={"org_id": city.org_id, "name": "City compute", "amount": "80"}
    )
    assert issued.status_code == 201, issued.text

    # The office posts the need from the catalog, its reward held from that voucher, then makes
    # it a challenge.
    watch = Watch()
    office = open_page(chromium, watch)
    sign_in(office, url, city)
    office.get_by_role("link", name="Needs", exact=True).click()
    expect(office.locator("main h1")).to_have_text("Needs")
    one_line(office)  # the menu's new entry keeps the top bar on one line
    office.get_by_label("Name", exact=True).fill("yes-or-no")
    office.get_by_label("Title", exact=True).fill("Will the street flood? Yes or no")
    office.get_by_label("The problem").fill("For each row of sensor readings, say yes or no.")
    office.get_by_label("Metric").select_option("accuracy")
    office.get_by_label("Reward (CNY)").fill("50")
    office.get_by_label("Pay the reward from").select_option(issued.json()["id"])
    office.get_by_label("Public data set").fill("yes-train@1")
    office.get_by_role("button", name="Post need").click()
    expect(office.get_by_role("status")).to_contain_text("Need yes-or-no is posted.")
    need_page = office.url.split("?")[0]
    expect(office.locator(".facts")).to_contain_text("city-office/default/yes-train@1")
    office.get_by_label("Hidden data set version").fill("yes-hidden@1")
    office.get_by_label("Target column").fill("answer")
    office.get_by_label("Max runtime (seconds)").fill("60")
    office.get_by_role("button", name="Make challenge").click()
    expect(office.get_by_role("status")).to_contain_text("The need is a challenge now")
    challenge = office.url.split("?")[0]
    expect(office.locator(".facts")).to_contain_text("yes-hidden@1:test.csv")

    # The team finds it in the catalog, joins, and submits its model.
    register(url, team, job_id)
    mine = open_page(chromium, watch)
    sign_in(mine, url, team)
    mine.get_by_role("link", name="Needs", exact=True).click()
    mine.get_by_role("searchbox", name="Search needs").fill("flood")
    mine.get_by_role("button", name="Apply").click()
    shot(mine, "needs-catalog")
    axe_check(mine, "the needs catalog")
    mine.get_by_role("link", name="Will the street flood? Yes or no").click()
    expect(mine.get_by_text("For each row of sensor readings")).to_be_visible()
    shot(mine, "needs-need")
    axe_check(mine, "a need's page")
    mine.get_by_role("link", name="Open the challenge").click()
    mine.get_by_label("Team name").fill("yes-team")
    mine.get_by_role("button", name="Join", exact=True).click()
    expect(mine.get_by_role("status")).to_contain_text("Your organization is in team yes-team.")
    mine.get_by_label("Model version").fill("sayer@1")
    mine.get_by_role("button", name="Submit", exact=True).click()
    expect(mine.get_by_role("status")).to_contain_text("AICC is scoring it")
    public = mine.locator("section[aria-labelledby='public-board-title'] tbody tr")
    waited = time.monotonic() + 90
    while public.count() == 0:  # the page says what is scored when it is opened
        assert time.monotonic() < waited, mine.locator("#submissions-title ~ *").inner_text()
        mine.wait_for_timeout(500)
        mine.reload()
    expect(public).to_have_count(1)
    expect(public.first).to_contain_text("yes-team")
    expect(mine.locator("#board-chart[data-chart-ready] canvas")).to_have_count(1)
    expect(mine.locator("section[aria-labelledby='submissions-title']")).to_contain_text("Scored")
    expect(mine.get_by_text("The private board opens at the deadline:")).to_be_visible()
    shot(mine, "needs-challenge-public")
    axe_check(mine, "a challenge's page")

    # Without the contest: the lab offers the office a template of its own at 3.00 a run, and
    # the office accepts it on the need's page.
    published = api.post(
        "/api/v1/templates", json={"files": templates.own("flood-router")}, headers=team.headers
    )
    assert published.status_code == 201, published.text
    mine.goto(need_page)
    mine.get_by_label("What you offer").select_option(f"template:{published.json()['ref']}")
    mine.get_by_label("Price (CNY)").fill("3")
    mine.get_by_label("A word to the poster").fill("Trained on ten years of street sensors.")
    mine.get_by_role("button", name="Make the offer").click()
    expect(mine.get_by_role("status")).to_contain_text("Your offer is sent to the poster.")
    office.goto(need_page)
    offers = office.locator("#offers")
    expect(offers).to_contain_text("3.00 CNY a run")
    expect(offers).to_contain_text("Trained on ten years of street sensors.")
    offers.get_by_role("button", name="Accept").click()
    expect(office.get_by_role("status")).to_contain_text("the template is in your catalog")
    expect(office.locator("#offers")).to_contain_text("accepted")
    shot(office, "needs-offers")
    axe_check(office, "a need's offers, the poster's")
    mine.goto(challenge)

    # The deadline passes: the private board opens to everyone.
    with state.db.session() as session:
        session.execute(
            update(NeedRow)
            .where(NeedRow.name == "yes-or-no")
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    mine.reload()
    expect(mine.get_by_role("heading", name="Private board")).to_be_visible()
    expect(mine.get_by_text("Submit a model")).to_have_count(0)

    # The office awards through the form, once; the same form from a second tab is refused.
    office.goto(challenge)
    again = office.context.new_page()
    watch.attach(again)
    again.goto(challenge)
    private = office.locator("section[aria-labelledby='private-board-title']")
    expect(private).to_contain_text("yes-team")
    expect(private).to_contain_text("sayer@1")  # the lineage is the poster's to see
    for page in (office, again):
        page.get_by_label("#1 yes-team").fill("50")
    office.once("dialog", lambda dialog: dialog.accept())
    office.get_by_role("button", name="Award", exact=True).click()
    expect(office.get_by_role("status")).to_contain_text("Awarded to teams: 1.")
    expect(office.locator("section[aria-labelledby='awards-title']")).to_contain_text("50.00")
    shot(office, "needs-challenge-awarded")
    axe_check(office, "the poster's challenge page")
    again.once("dialog", lambda dialog: dialog.accept())
    again.get_by_role("button", name="Award", exact=True).click()
    expect(again.get_by_role("alert")).to_contain_text("need yes-or-no is awarded already")
    shot(again, "needs-challenge-award-refused")
    vouchers = api.get("/api/v1/vouchers", headers=team.headers).json()["items"]
    assert [(v["name"], v["amount"]) for v in vouchers] == [
        ("Reward: yes-or-no (yes-team)", "50.00")
    ]
    (held,) = api.get("/api/v1/vouchers", headers=city.headers).json()["items"]
    assert held["remaining"] == "30.00"  # 80 less the 50 awarded, taken once

    # In Chinese.
    mine.goto(challenge)
    mine.get_by_role("button", name="中文").click()
    expect(mine.get_by_role("heading", name="私有榜")).to_be_visible()
    shot(mine, "needs-challenge-zh")
    one_line(mine)
    narrow_tour(chromium, watch, mine, url, {challenge.removeprefix(url): "needs-challenge-narrow"})
    refused = [p for p in watch.problems if "status of 409" not in p]  # the second award
    assert not refused, "\n".join(refused)
