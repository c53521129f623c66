"""Issue 57, item 5: a challenge's rules hold against concurrent requests, on SQLite and on
PostgreSQL, through a real server's HTTP (uvicorn serves each request on a thread of its own).

On 9e3f5a8 PostgreSQL broke two of them, which read, then wrote, with no lock (SQLite's one
writer hid it): 12 submits at once against a limit of 3 a day admitted more than 3, and one
organization's 12 joins at once made more than one team (or a 500 where two raced for one
name). Awards (the need's row locked) and the subsidy's voucher (its row locked) held already;
their probes stay, so that no change takes the locks away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from aicc.api.state import AppState
from aicc.services.common import new_id
from aicc.store.tables.billing import VoucherRow
from aicc.store.tables.needs import (
    ChallengeAwardRow,
    ChallengeSubmissionRow,
    ChallengeTeamRow,
    NeedRow,
)
from aicc.testing import challenges
from aicc.testing.datasets import push
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

ANSWERS = "x,answer\n" + "".join(f"{i},{'yes' if i % 3 else 'no'}\n" for i in range(30))
AT_ONCE = 12


@pytest.fixture
def served(tmp_path: Path, db_url: str | None) -> Iterator[tuple[httpx.Client, AppState]]:
    with (
        over_http(tmp_path / "home", db_url) as (url, token, state),
        httpx.Client(
            timeout=120, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api,
    ):
        yield api, state


def _challenge(api: httpx.Client, poster: Tenant, **more: Any) -> str:
    """A need of `poster`'s with a reward of 1000 (its results the teams'), made a challenge
    on a hidden table of 30 rows; the challenge's id."""
    push(api, "answers", {"test.csv": ANSWERS.encode()}, headers=poster.headers)
    need = {
        "name": "race",
        "title": "t",
        "problem": "p",
        "metric": "accuracy",
        "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "reward": "1000",
        "terms": {"results_owner": "provider"},
    }
    made = api.post("/api/v1/needs", json=need, headers=poster.headers)
    assert made.status_code == 201, made.text
    body = {"hidden": "answers@1", "target": "answer", **more}
    made = api.post("/api/v1/needs/race/challenge", json=body, headers=poster.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Each call on a thread of its own, released together; their answers."""
    start = threading.Barrier(len(calls))
    answers: list[httpx.Response] = []

    def run(call: Callable[[], httpx.Response]) -> None:
        start.wait()
        answers.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(answers) == len(calls)
    return answers


def _codes(answers: list[httpx.Response]) -> list[int]:
    return sorted(a.status_code for a in answers)


def test_concurrent_submits_admit_the_days_limit_and_no_more(
    served: tuple[httpx.Client, AppState],
) -> None:
    api, state = served
    city, alpha = make_tenant(api, "city"), make_tenant(api, "alpha")
    cid = _challenge(api, city, per_day=3)
    join = api.post(f"/api/v1/challenges/{cid}/join", json={"team": "a"}, headers=alpha.headers)
    assert join.status_code == 200, join.text
    with httpx.Client(timeout=120, base_url=str(api.base_url), headers=alpha.headers) as team:
        challenges.model(team, "m")

    def submit() -> httpx.Response:
        return api.post(
            f"/api/v1/challenges/{cid}/submissions", json={"model": "m"}, headers=alpha.headers
        )

    answers = _at_once([submit] * AT_ONCE)
    assert _codes(answers) == [201] * 3 + [429] * (AT_ONCE - 3), [a.text for a in answers]
    refused = [a for a in answers if a.status_code == 429]
    assert all("3 submissions of today" in a.json()["detail"] for a in refused)
    with state.db.reader() as session:
        count = session.scalar(
            select(func.count()).where(ChallengeSubmissionRow.challenge_id == cid)
        )
    assert count == 3


def test_concurrent_joins_of_one_organization_make_one_team(
    served: tuple[httpx.Client, AppState],
) -> None:
    api, state = served
    city, alpha = make_tenant(api, "city"), make_tenant(api, "alpha")
    cid = _challenge(api, city)

    def join(who: Tenant, team: str) -> Callable[[], httpx.Response]:
        url = f"/api/v1/challenges/{cid}/join"
        return lambda: api.post(url, json={"team": team}, headers=who.headers)

    # one organization, twelve team names at once: one team, its organization in it once
    answers = _at_once([join(alpha, f"alpha-{i}") for i in range(AT_ONCE)])
    assert _codes(answers) == [200] + [409] * (AT_ONCE - 1), [a.text for a in answers]
    assert all("is in team alpha-" in a.json()["detail"] for a in answers if a.status_code == 409)
    teams = api.get(f"/api/v1/challenges/{cid}", headers=alpha.headers).json()["teams"]
    assert [t["orgs"] for t in teams] == [["alpha"]], teams

    # twelve organizations, one new team name at once: one makes it, the others are told to
    # ask for an invitation (never a 500 from the name's unique key)
    others = [make_tenant(api, f"org-{i}") for i in range(AT_ONCE)]
    answers = _at_once([join(who, "shared") for who in others])
    assert _codes(answers) == [200] + [409] * (AT_ONCE - 1), [a.text for a in answers]
    assert all("ask it to invite" in a.json()["detail"] for a in answers if a.status_code == 409)
    with state.db.reader() as session:
        (shared,) = session.scalars(
            select(ChallengeTeamRow).where(
                ChallengeTeamRow.challenge_id == cid, ChallengeTeamRow.name == "shared"
            )
        )
        assert len(shared.orgs) == 1


def test_concurrent_new_teams_share_the_subsidy_the_voucher_has(
    served: tuple[httpx.Client, AppState],
) -> None:
    """A voucher with room for 2 subsidies, 12 teams formed at once: 2 are subsidized."""
    api, state = served
    city = make_tenant(api, "city", role="org_admin")
    made = api.post(
        "/api/v1/vouchers", json={"org_id": city.org_id, "name": "grant", "amount": "1000"}
    )
    assert made.status_code == 201, made.text
    voucher = made.json()["id"]
    cid = _challenge(api, city, subsidy_voucher=voucher, subsidy_per_team="400")
    teams = {f"team-{i}": make_tenant(api, f"team-{i}") for i in range(AT_ONCE)}

    def join(name: str, who: Tenant) -> Callable[[], httpx.Response]:
        url = f"/api/v1/challenges/{cid}/join"
        return lambda: api.post(url, json={"team": name}, headers=who.headers)

    answers = _at_once([join(name, who) for name, who in teams.items()])
    assert _codes(answers) == [200] * AT_ONCE, [a.text for a in answers]
    given = sorted(a.json()["subsidy_state"] for a in answers)
    assert given == ["given"] * 2 + ["none_left"] * (AT_ONCE - 2)
    left = api.get(f"/api/v1/vouchers/{voucher}", headers=city.headers).json()["remaining"]
    assert left == "200.00"
    with state.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(VoucherRow)) == 3


def test_concurrent_awards_give_one(served: tuple[httpx.Client, AppState]) -> None:
    api, state = served
    city = make_tenant(api, "city", role="org_admin")
    alpha = make_tenant(api, "alpha")
    cid = _challenge(api, city)
    join = api.post(f"/api/v1/challenges/{cid}/join", json={"team": "a"}, headers=alpha.headers)
    assert join.status_code == 200, join.text
    now = datetime.now(UTC)
    with state.db.session() as session:  # a scored submission, as scoring leaves one
        team_id = session.scalar(
            select(ChallengeTeamRow.id).where(ChallengeTeamRow.challenge_id == cid)
        )
        session.add(
            ChallengeSubmissionRow(
                id=new_id("csb"), challenge_id=cid, team_id=team_id, org_id=alpha.org_id,
                user_id="usr_test", model="alpha/default/m@1", model_version_id="dsv_test",
                job_id=None, state="scored", public_score=0.9, private_score=0.8, error="",
                lineage={}, created_at=now, scored_at=now,
            )
        )  # fmt: skip
        session.execute(
            update(NeedRow)
            .where(NeedRow.name == "race")
            .values(deadline=now - timedelta(seconds=1))
        )

    def award(amount: int) -> Callable[[], httpx.Response]:
        body = {"awards": [{"team": "a", "amount": str(amount)}]}
        return lambda: api.post(f"/api/v1/challenges/{cid}/award", json=body, headers=city.headers)

    answers = _at_once([award(100 + i) for i in range(AT_ONCE)])
    assert _codes(answers) == [201] + [409] * (AT_ONCE - 1), [a.text for a in answers]
    (won,) = [a.json() for a in answers if a.status_code == 201]
    with state.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(ChallengeAwardRow)) == 1
    vouchers = api.get("/api/v1/vouchers", headers=alpha.headers).json()["items"]
    assert [v["amount"] for v in vouchers] == [won[0]["amount"]]
