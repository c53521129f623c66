"""What the people of a need and its challenge are told (issue 41), walked on a real server
with its loops: a question reaches the poster's project and its answer the asker; a team
taking the challenge reaches the poster, an invitation the invited organization's admins; a
scored submission reaches its submitter and the team's other organization, a failed one its
submitter with why; the deadline passing reaches the poster and every team's organizations
(the loops' `challenges` step), and the award each awarded organization with the amounts.
Each lands in the right inboxes exactly once: repeats (a second answer, a second invitation,
passes of the loop) tell nobody again, and a withdrawn challenge's deadline tells nobody."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from aicc.loops import challenges as step
from aicc.services.common import utcnow
from aicc.services.needs import notices
from aicc.store.tables.needs import NeedRow
from aicc.testing import challenges
from aicc.testing.datasets import push
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

# A model that fails.
BREAKS = "import sys\nprint('no model here', file=sys.stderr)\nsys.exit(3)\n"
TOLD = ("need.", "challenge.")


def inbox(who: httpx.Client) -> list[dict[str, Any]]:
    """The caller's inbox items of needs and challenges, oldest first."""
    got = who.get("/api/v1/notify/inbox", params={"limit": 200})
    assert got.status_code == 200, got.text
    return [i for i in reversed(got.json()["items"]) if i["kind"].startswith(TOLD)]


def kinds(who: httpx.Client) -> Counter[str]:
    return Counter(i["kind"] for i in inbox(who))


def settled(team: httpx.Client, cid: str, submission: str) -> dict[str, Any]:
    for _ in range(900):
        (found,) = [
            s
            for s in team.get(f"/api/v1/challenges/{cid}/submissions").json()
            if s["id"] == submission
        ]
        if found["state"] != "scoring":
            return dict(found)
        time.sleep(0.2)
    raise AssertionError(f"never scored: {found}")


def test_each_need_and_challenge_event_reaches_its_people_once(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home") as (url, token, state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        # Each organization's one user is its admin, so an organization's event reaches them.
        names = ("city", "alpha", "beta", "gamma")
        made = {n: make_tenant(api, n, role="org_admin") for n in names}
        clients = {
            n: httpx.Client(timeout=60, base_url=url, headers=t.headers) for n, t in made.items()
        }
        city, alpha, beta, gamma = (clients[n] for n in names)
        try:
            answers = "x,answer\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
            push(city, "answers", {"test.csv": answers.encode()})
            for name in ("yes-or-no", "dropped"):
                posted = city.post(
                    "/api/v1/needs",
                    json={
                        "name": name,
                        "title": "Yes or no?",
                        "problem": "Say yes or no.",
                        "metric": "accuracy",
                        "deadline": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
                        "reward": "60",
                    },
                )
                assert posted.status_code == 201, posted.text
                challenge = city.post(
                    f"/api/v1/needs/{name}/challenge",
                    json={"hidden": "answers@1", "target": "answer", "max_runtime_s": 60},
                )
                assert challenge.status_code == 201, challenge.text
            cid = city.get("/api/v1/challenges/yes-or-no").json()["id"]

            # A question, and its answer (given twice: the asker hears of the first).
            asked = alpha.post(
                "/api/v1/needs/yes-or-no/questions?org=city", json={"text": "Is maybe allowed?"}
            )
            assert asked.status_code == 201, asked.text
            (question,) = inbox(city)
            assert question["kind"] == "need.question" and "Is maybe allowed?" in question["body"]
            assert question["project_id"] == made["city"].project_id
            assert question["data"]["question_id"] == asked.json()["id"]
            for words in ("No.", "No: yes or no."):
                answered = city.post(
                    f"/api/v1/needs/yes-or-no/questions/{asked.json()['id']}/answer",
                    json={"text": words},
                )
                assert answered.status_code == 200, answered.text
            (told,) = inbox(alpha)
            assert told["kind"] == "need.answered" and "No." in told["body"]

            # Teams: alpha forms one and invites gamma (twice), gamma joins it, beta forms one.
            def join(who: httpx.Client, team: str) -> None:
                joined = who.post(f"/api/v1/challenges/{cid}/join", json={"team": team})
                assert joined.status_code == 200, joined.text

            join(alpha, "alpha")
            join(alpha, "alpha")  # already in it: nothing new
            for _ in range(2):
                invited = alpha.post(f"/api/v1/challenges/{cid}/invite", json={"org": "gamma"})
                assert invited.status_code == 200, invited.text
            (invitation,) = inbox(gamma)
            assert invitation["kind"] == "challenge.invited"
            assert "Team alpha (alpha) invites your organization" in invitation["body"]
            join(gamma, "alpha")
            join(beta, "beta")
            joins = [i for i in inbox(city) if i["kind"] == "challenge.joined"]
            assert [(i["data"]["team"], i["data"]["org"]) for i in joins] == [
                ("alpha", "alpha"),
                ("alpha", "gamma"),
                ("beta", "beta"),
            ]

            # Submissions: alpha's model is scored, beta's fails.
            challenges.model(alpha, "sayer", challenges.SAYS_YES)
            challenges.model(beta, "breaker", BREAKS)
            sent = {}
            for who, name in ((alpha, "sayer"), (beta, "breaker")):
                got = who.post(f"/api/v1/challenges/{cid}/submissions", json={"model": name})
                assert got.status_code == 201, got.text
                sent[name] = got.json()["id"]
            scored = settled(alpha, cid, sent["sayer"])
            failed = settled(beta, cid, sent["breaker"])
            assert scored["state"] == "scored" and failed["state"] == "failed", (scored, failed)
            for who in (alpha, gamma):  # the submitter, and the team's other organization
                (event,) = [i for i in inbox(who) if i["kind"] == "challenge.scored"]
                assert event["data"]["submission_id"] == sent["sayer"]
                assert event["data"]["public_score"] == scored["public_score"]
                assert f"{scored['public_score']:.6g} on the public board" in event["body"]
                named = [*event["data"], *event["data"]["text"]["params"]]
                assert not [k for k in named if "private" in k]  # the private score waits
            (broke,) = [i for i in inbox(beta) if i["kind"] == "challenge.failed"]
            assert broke["data"]["submission_id"] == sent["breaker"]
            assert failed["error"] and failed["error"] in broke["body"]

            # The deadline passes (and the other challenge's need is withdrawn first): the
            # loops' step tells the poster and each team's organizations, once.
            assert city.post("/api/v1/needs/dropped/withdraw").status_code == 200
            with state.db.session() as session:
                session.execute(
                    update(NeedRow).values(deadline=datetime.now(UTC) - timedelta(seconds=1))
                )
            for who in (city, alpha, beta, gamma):
                wait(
                    "challenge.closed",
                    lambda who=who: kinds(who)["challenge.closed"] or None,
                    timeout=60,
                )
            lease = state.controller.lease
            assert step.step(state.db, lease, utcnow()) == 0  # told already: nothing is due
            with state.db.reader() as session:
                assert notices.due(session, utcnow()) == []
            (closed,) = [i for i in inbox(city) if i["kind"] == "challenge.closed"]
            assert closed["data"]["challenge_id"] == cid and "award" in closed["body"]
            assert closed["data"]["teams"] == ["alpha", "beta"]

            # The award: alpha's team shares 60 between alpha and gamma.
            share = {"awards": [{"team": "alpha", "amount": "60"}]}
            awarded = city.post(f"/api/v1/challenges/{cid}/award", json=share)
            assert awarded.status_code == 201, awarded.text
            for who in (alpha, gamma):
                (award,) = [i for i in inbox(who) if i["kind"] == "challenge.awarded"]
                assert (award["data"]["amount"], award["data"]["part"]) == ("60.00", "30.00")
                assert "Team alpha won 60.00 CNY" in award["subject"]

            # Each inbox, whole: every kind exactly once where it belongs, nothing elsewhere.
            time.sleep(2)  # a few more passes of the loops: nothing is told twice
            assert kinds(city) == Counter(
                {"need.question": 1, "challenge.joined": 3, "challenge.closed": 1}
            )
            assert kinds(alpha) == Counter(
                {
                    "need.answered": 1,
                    "challenge.scored": 1,
                    "challenge.closed": 1,
                    "challenge.awarded": 1,
                }
            )
            assert kinds(gamma) == Counter(
                {
                    "challenge.invited": 1,
                    "challenge.scored": 1,
                    "challenge.closed": 1,
                    "challenge.awarded": 1,
                }
            )
            assert kinds(beta) == Counter({"challenge.failed": 1, "challenge.closed": 1})
            assert not [i for i in inbox(api) if i["data"].get("need_id")]  # the center's admin
            # The scoring jobs ran as the center's admin: the teams' notices tell their ends,
            # and no `job.*` notice of theirs lands in the admin's inbox.
            items = api.get("/api/v1/notify/inbox", params={"limit": 200}).json()["items"]
            assert not [i for i in items if i["kind"].startswith("job.")], items
        finally:
            for client in clients.values():
                client.close()
