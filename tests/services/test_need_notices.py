"""The loops' `challenges` step on the store (SQLite and PostgreSQL): a challenge whose
deadline passed is told to its poster's project and to the admins of every team's
organizations, once, across passes; a challenge of a withdrawn need, one whose deadline is
still ahead, and one closed more than a week before the step first saw it are told to nobody."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from billing_support import fresh_store
from sqlalchemy import select

from aicc.loops import challenges as step
from aicc.loops.lease import Lease
from aicc.services.common import new_id, utcnow
from aicc.services.needs import notices
from aicc.store.db import Database
from aicc.store.tables.needs import ChallengeRow, ChallengeTeamRow, NeedRow
from aicc.store.tables.notify import NotifyEventRow, NotifyInboxRow
from aicc.store.tables.tenancy import MembershipRow, OrgRow, ProjectRow, UserRow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create_database(f"neednotices{os.getpid()}")
    yield from fresh_store(tmp_path_factory.mktemp("need-notices"), url)


def _org(db: Database, role: str) -> tuple[str, str, str]:
    """A new organization with a project and one user of `role` in it: their ids."""
    now, name = utcnow(), new_id("org").lower()
    with db.session() as session:
        org = OrgRow(id=new_id("org"), name=name, created_at=now)
        project = ProjectRow(id=new_id("prj"), org_id=org.id, name="p", created_at=now)
        session.add_all([org, project])
        session.flush()
        user = UserRow(
            id=new_id("usr"), name=name, org_id=org.id, role=role, created_at=now,
            default_project_id=project.id,
        )  # fmt: skip
        session.add(user)
        session.flush()
        session.add(MembershipRow(user_id=user.id, project_id=project.id))
    return org.id, project.id, user.id


def _challenge(
    db: Database, poster: tuple[str, str, str], teams: list[str], *, deadline: datetime, state: str
) -> str:
    """A need of `poster` with a challenge and a team of each organization of `teams`."""
    now = utcnow()
    org_id, project_id, user_id = poster
    with db.session() as session:
        need = NeedRow(
            id=new_id("ned"), org_id=org_id, project_id=project_id, name=new_id("ned")[-9:].lower(),
            title="t", problem="p", data=None, metric="accuracy", reward="0.00", currency="CNY",
            deadline=deadline, terms={}, state=state, created_by=user_id, created_at=now,
            updated_at=now, closed_at=None,
        )  # fmt: skip
        challenge = ChallengeRow(
            id=new_id("chl"), need_id=need.id, hidden_version_id="dsv_x", hidden_table="t.csv",
            target="y", rows=2, inputs="o/p/i@1", public_pct=30, per_day=5, max_runtime_s=60,
            created_at=now,
        )  # fmt: skip
        session.add(need)
        session.flush()
        session.add(challenge)
        session.flush()
        for number, team_org in enumerate(teams):
            session.add(
                ChallengeTeamRow(
                    id=new_id("tem"),
                    challenge_id=challenge.id,
                    name=f"team-{number}",
                    orgs=[{"id": team_org, "joined": True}],
                    created_by=None,
                    created_at=now,
                )
            )
        return challenge.id


def _told(db: Database, user_id: str) -> list[str]:
    """The keys of the `challenge.closed` events in the user's inbox."""
    with db.reader() as session:
        query = (
            select(NotifyEventRow.key)
            .join(NotifyInboxRow, NotifyInboxRow.event_id == NotifyEventRow.id)
            .where(NotifyInboxRow.user_id == user_id, NotifyEventRow.kind == "challenge.closed")
        )
        return sorted(session.scalars(query))


def test_a_closed_challenge_is_told_once_to_its_poster_and_teams(db: Database) -> None:
    now = utcnow()
    poster, team_a, team_b = _org(db, "member"), _org(db, "org_admin"), _org(db, "org_admin")
    past, ahead = now - timedelta(minutes=1), now + timedelta(hours=1)
    closed = _challenge(db, poster, [team_a[0], team_b[0]], deadline=past, state="open")
    quiet = [
        _challenge(db, poster, [team_a[0]], deadline=past, state="withdrawn"),
        _challenge(db, poster, [team_a[0]], deadline=ahead, state="open"),
        _challenge(db, poster, [team_a[0]], deadline=now - timedelta(days=8), state="open"),
    ]
    with db.reader() as session:
        due = notices.due(session, now)
    assert closed in due and not set(quiet) & set(due)

    lease = Lease(db, name="controller", holder="need-notices-test", ttl_s=30)
    assert lease.try_acquire(utcnow())
    assert step.step(db, lease, utcnow()) >= 1
    for _ in range(3):  # later passes find it told
        assert step.step(db, lease, utcnow()) == 0
    with db.session() as session:  # a repeat of its notices writes nothing either
        notices.closed(session, closed)

    assert _told(db, poster[2]) == [f"challenge.closed:{closed}"]
    assert _told(db, team_a[2]) == [f"challenge.closed:{closed}:{team_a[0]}"]
    assert _told(db, team_b[2]) == [f"challenge.closed:{closed}:{team_b[0]}"]
    with db.reader() as session:
        keys = list(session.scalars(select(NotifyEventRow.key)))
    assert not [k for k in keys for q in quiet if q in k]
