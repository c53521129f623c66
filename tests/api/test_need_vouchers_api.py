"""A need's reward held from the poster's voucher, and teams' training subsidized from it (issue
41), through the API on SQLite and PostgreSQL: a center admin issues a city office a voucher;
the city posts a need with a reward from it (the voucher shows less left at once, and the
city's invoice holds no escrow), makes it a challenge that subsidizes each new team from the
same voucher (each team's organization gets a voucher valid until the deadline, until the
city's has too little left), and awards part of the reward: the teams' vouchers keep the
source's restrictions and the rest goes back to the city's voucher, once. A withdrawn
voucher-funded need returns its whole hold.

Scoring is not what this tests (tests/api/test_needs_api.py trains and scores real models):
the teams' scored submissions are written to the database as scoring would leave them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from aicc.api.state import AppState
from aicc.core import periods
from aicc.services.common import new_id
from aicc.store.tables.needs import ChallengeSubmissionRow, ChallengeTeamRow, NeedRow
from aicc.testing.datasets import push
from aicc.testing.tenants import Tenant, make_tenant

ANSWERS = "x,answer\n" + "".join(f"{i},{'yes' if i % 3 else 'no'}\n" for i in range(30))


def need(name: str, reward: str, deadline: datetime, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": f"Warn of {name}",
        "problem": "Which days need a warning?",
        "metric": "accuracy",
        "deadline": deadline.isoformat(),
        "reward": reward,
        "terms": {"results_owner": "provider"},
        **more,
    }


def vouchers(api: TestClient, who: Tenant) -> dict[str, dict[str, Any]]:
    """The tenant's vouchers by name, as it lists them."""
    got = api.get("/api/v1/vouchers", headers=who.headers)
    assert got.status_code == 200, got.text
    return {v["name"]: v for v in got.json()["items"]}


def left(api: TestClient, who: Tenant, voucher_id: str) -> str:
    got = api.get(f"/api/v1/vouchers/{voucher_id}", headers=who.headers)
    assert got.status_code == 200, got.text
    return str(got.json()["remaining"])


def escrow_lines(api: TestClient, who: Tenant) -> list[dict[str, Any]]:
    lines = api.get("/api/v1/bills", headers=who.headers).json()["lines"]
    return [line for line in lines if "escrow" in line["kind"]]


def scored(state: AppState, challenge_id: str, team: str, org_id: str) -> None:
    """A scored submission of the team's, as the scoring job leaves one."""
    now = datetime.now(UTC)
    with state.db.session() as session:
        team_id = session.query(ChallengeTeamRow.id).filter_by(challenge_id=challenge_id, name=team)
        session.add(
            ChallengeSubmissionRow(
                id=new_id("csb"),
                challenge_id=challenge_id,
                team_id=team_id.scalar(),
                org_id=org_id,
                user_id="usr_test",
                model=f"{team}/default/model@1",
                model_version_id="dsv_test",
                job_id=None,
                state="scored",
                public_score=0.9,
                private_score=0.8,
                error="",
                lineage={},
                created_at=now,
                scored_at=now,
            )
        )


def test_a_voucher_pays_the_reward_and_subsidizes_the_teams(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    city = make_tenant(api, "city", role="org_admin")
    alpha, beta, gamma, delta = (make_tenant(api, n) for n in ("alpha", "beta", "gamma", "delta"))
    deadline = datetime.now(UTC) + timedelta(days=10)
    last_day = (deadline + timedelta(days=60)).date()

    def issue(org: Tenant, amount: str, **more: Any) -> str:
        body = {"org_id": org.org_id, "name": f"vouch-{amount}", "amount": amount, **more}
        made = api.post("/api/v1/vouchers", json=body)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    source = issue(city, "6000", accelerators=["A100"], valid_until=last_day.isoformat())
    dollars = issue(city, "9000", currency="USD")
    short = issue(city, "9000", valid_until=(date.today() + timedelta(days=2)).isoformat())
    theirs = issue(alpha, "9000")

    def post_need(body: dict[str, Any]) -> Any:
        return api.post("/api/v1/needs", json=body, headers=city.headers)

    # What a voucher cannot hold is refused with what is wrong, and holds nothing.
    for voucher, status, words in (
        (dollars, 422, f"{dollars} is in USD, not CNY"),
        (short, 422, f"{short} ends on"),
        (theirs, 404, f"voucher {theirs} not found"),
    ):
        refused = post_need(need("bad", "100", deadline, voucher=voucher))
        assert refused.status_code == status and words in refused.json()["detail"], refused.text
    zero = post_need(need("bad", "0", deadline, voucher=source))
    assert zero.status_code == 422 and "above 0" in zero.json()["detail"]

    # The reward is held from the voucher at once; nothing of it is on the city's invoice.
    made = post_need(need("flood", "5000", deadline, voucher=source))
    assert made.status_code == 201, made.text
    assert made.json()["voucher"] == source and made.json()["reward"] == "5000.00"
    assert left(api, city, source) == "1000.00"
    assert vouchers(api, city)["vouch-6000"]["remaining"] == "1000.00"
    assert escrow_lines(api, city) == []
    # Others see that the reward is a voucher's (awarded as vouchers), not which one.
    catalog = api.get("/api/v1/needs/flood", params={"org": "city"}, headers=alpha.headers)
    assert catalog.json()["voucher"] is None and catalog.json()["from_voucher"] is True
    listed = api.get("/api/v1/needs", headers=alpha.headers).json()["items"]
    assert [(n["voucher"], n["from_voucher"]) for n in listed] == [(None, True)]
    mine = api.get("/api/v1/needs/flood", headers=city.headers).json()
    assert mine["voucher"] == source and mine["from_voucher"] is True
    again = post_need(need("storm", "2000", deadline, voucher=source))
    assert again.status_code == 422, again.text
    assert "has 1000.00 CNY left, less than 2000.00" in again.json()["detail"]
    assert api.get("/api/v1/needs/storm", headers=city.headers).status_code == 404

    # A challenge subsidizes each new team with 400 of the same voucher.
    push(api, "flood-answers", {"test.csv": ANSWERS.encode()}, headers=city.headers)
    challenge = {"hidden": "flood-answers@1", "target": "answer"}
    for change, words in (
        ({"subsidy_voucher": source}, "give both the voucher and the amount per team"),
        ({"subsidy_voucher": dollars, "subsidy_per_team": "400"}, "is in USD"),
        ({"subsidy_voucher": source, "subsidy_per_team": "1500"}, "has 1000.00 CNY left"),
    ):
        refused = api.post(
            "/api/v1/needs/flood/challenge", json={**challenge, **change}, headers=city.headers
        )
        assert refused.status_code in (409, 422) and words in refused.text, refused.text
    made = api.post(
        "/api/v1/needs/flood/challenge",
        json={**challenge, "subsidy_voucher": source, "subsidy_per_team": "400"},
        headers=city.headers,
    )
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    assert made.json()["subsidy_per_team"] == "400.00" and made.json()["subsidy_voucher"] == source
    seen = api.get(f"/api/v1/challenges/{cid}", headers=alpha.headers).json()
    assert seen["subsidy_per_team"] == "400.00" and seen["subsidy_voucher"] is None

    def join(who: Tenant, team: str) -> dict[str, Any]:
        joined = api.post(
            f"/api/v1/challenges/{cid}/join", json={"team": team}, headers=who.headers
        )
        assert joined.status_code == 200, joined.text
        return dict(joined.json())

    a = join(alpha, "alpha")
    assert a["subsidy_state"] == "given" and a["subsidy"] == "400.00"
    training = vouchers(api, alpha)["Training for flood (alpha)"]
    assert training["id"] == a["subsidy_voucher"] and training["remaining"] == "400.00"
    deadline_day = periods.day_of(deadline, state.settings.site.timezone)
    assert training["valid_until"] == deadline_day.isoformat()
    assert training["accelerators"] == ["A100-80GB"]
    assert left(api, city, source) == "600.00"
    assert join(beta, "beta")["subsidy_state"] == "given"
    assert left(api, city, source) == "200.00"
    # An organization joining a team that invited it gets no subsidy of its own.
    invited = api.post(
        f"/api/v1/challenges/{cid}/invite", json={"org": "delta"}, headers=alpha.headers
    )
    assert invited.status_code == 200, invited.text
    assert join(delta, "alpha")["orgs"] == ["alpha", "delta"]
    assert vouchers(api, delta) == {}
    # Too little left: the team is formed all the same, and its view says no subsidy was left.
    g = join(gamma, "gamma")
    assert g["subsidy_state"] == "none_left" and g["subsidy"] is None
    assert vouchers(api, gamma) == {} and left(api, city, source) == "200.00"

    # The deadline passes; the award gives 3,000 as vouchers with the source's restrictions,
    # and the 2,000 not awarded go back to the city's voucher; once.
    with state.db.session() as session:
        session.execute(
            update(NeedRow)
            .where(NeedRow.name == "flood")
            .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    scored(state, cid, "alpha", alpha.org_id)
    scored(state, cid, "beta", beta.org_id)
    awards = {"awards": [{"team": "alpha", "amount": "2000"}, {"team": "beta", "amount": "1000"}]}
    awarded = api.post(f"/api/v1/challenges/{cid}/award", json=awards, headers=city.headers)
    assert awarded.status_code == 201, awarded.text
    alpha_award = vouchers(api, alpha)["Reward: flood (alpha)"]
    beta_award = vouchers(api, beta)["Reward: flood (beta)"]
    delta_award = vouchers(api, delta)["Reward: flood (alpha)"]  # alpha's team split in two
    assert (alpha_award["amount"], delta_award["amount"], beta_award["amount"]) == (
        "1000.00",
        "1000.00",
        "1000.00",
    )
    for given in (alpha_award, beta_award, delta_award):
        assert given["valid_until"] == last_day.isoformat()
        assert given["accelerators"] == ["A100-80GB"]
    assert left(api, city, source) == "2200.00"
    twice = api.post(f"/api/v1/challenges/{cid}/award", json=awards, headers=city.headers)
    assert twice.status_code == 409
    assert left(api, city, source) == "2200.00"
    assert set(vouchers(api, alpha)) == {
        "vouch-9000",
        "Training for flood (alpha)",
        "Reward: flood (alpha)",
    }
    assert escrow_lines(api, city) == []

    # A withdrawn voucher-funded need returns its whole hold, once.
    made = post_need(need("quake", "1500", deadline, voucher=source))
    assert made.status_code == 201, made.text
    assert left(api, city, source) == "700.00"
    withdrawn = api.post("/api/v1/needs/quake/withdraw", headers=city.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert left(api, city, source) == "2200.00"
    assert api.post("/api/v1/needs/quake/withdraw", headers=city.headers).status_code == 409
    assert left(api, city, source) == "2200.00" and escrow_lines(api, city) == []

    # Each move is in the audit log; the city's admins read their voucher's.
    entries = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    moves = [(e["action"], e["object_id"]) for e in entries if e["action"].startswith("voucher.")]
    assert moves.count(("voucher.hold", source)) == 2
    assert moves.count(("voucher.release", source)) == 2
    assert moves.count(("voucher.give", source)) == 2
    assert ("voucher.subsidy", a["subsidy_voucher"]) in moves
    mine = api.get("/api/v1/audit", params={"limit": 500}, headers=city.headers).json()["items"]
    assert {"voucher.hold", "voucher.release", "voucher.give"} <= {e["action"] for e in mine}
