"""Disabling and enabling users: who may, the rules that keep the center reachable, and what
the change ends (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.common import Conflict, Forbidden, NotFound, ServiceError, utcnow
from aicc.services.tenancy import audit, sessions, tenancy, tokens, views
from aicc.store.tables.tenancy import AuditRow, PortalSessionRow, UserRow


def _person(state: AppState, name: str, role: Role, org_id: str) -> tuple[str, Principal]:
    with state.db.session() as session:
        user = tenancy.create_user(session, None, name=name, role=role, org_id=org_id)
        return user.id, tenancy.principal_of(session, user)


def _disable(state: AppState, who: Principal, user_id: str, disabled: bool = True) -> views.User:
    with state.db.session() as session:
        return tenancy.set_disabled(session, who, user_id, disabled)


def _refused(state: AppState, who: Principal, user_id: str) -> ServiceError:
    with pytest.raises(ServiceError) as refused:
        _disable(state, who, user_id)
    return refused.value


def test_who_may_disable_whom(server: tuple[TestClient, AppState]) -> None:
    _, state = server
    with state.db.session() as session:
        acme = tenancy.create_org(session, None, name="acme").id
        globex = tenancy.create_org(session, None, name="globex").id
    root_id, root = _person(state, "root", Role.ADMIN, acme)
    boss_id, boss = _person(state, "boss", Role.ORG_ADMIN, acme)
    ann_id, ann = _person(state, "ann", Role.MEMBER, acme)
    vic_id, vic = _person(state, "vic", Role.VIEWER, acme)
    gus_id, _ = _person(state, "gus", Role.MEMBER, globex)

    # Another organization's user does not exist for an org admin, a member or a viewer.
    for caller in (boss, ann, vic):
        refusal = _refused(state, caller, gus_id)
        assert isinstance(refusal, NotFound) and refusal.status == 404
    assert isinstance(_refused(state, boss, "usr_nope"), NotFound)
    # A center admin in the org admin's own organization is beyond the org admin.
    refusal = _refused(state, boss, root_id)
    assert isinstance(refusal, Forbidden) and "only center admins" in refusal.detail
    # Members and viewers disable no one, not even in their organization.
    for caller, target in ((ann, vic_id), (vic, ann_id)):
        refusal = _refused(state, caller, target)
        assert isinstance(refusal, Forbidden) and refusal.status == 403
    # Nobody disables themselves.
    for caller in (root, boss, ann):
        refusal = _refused(state, caller, caller.user_id)
        assert isinstance(refusal, Conflict) and "yourself" in refusal.detail
    with state.db.reader() as session:
        assert not any(session.scalars(select(UserRow.disabled)))

    assert _disable(state, boss, ann_id).disabled  # org admin: own organization
    assert _disable(state, root, gus_id).disabled  # center admin: anyone
    assert _disable(state, root, boss_id).disabled
    assert not _disable(state, root, ann_id, False).disabled
    with state.db.reader() as session:
        disabled = set(session.scalars(select(UserRow.name).where(UserRow.disabled.is_(True))))
    assert disabled == {"gus", "boss"}


def test_every_change_is_audited_once(server: tuple[TestClient, AppState]) -> None:
    _, state = server
    with state.db.session() as session:
        acme = tenancy.create_org(session, None, name="acme").id
    _, boss = _person(state, "boss", Role.ORG_ADMIN, acme)
    ann_id, _ = _person(state, "ann", Role.MEMBER, acme)
    for disabled in (True, True, False, False):  # the repeats change nothing
        _disable(state, boss, ann_id, disabled)
    with state.db.reader() as session:
        rows = list(
            session.scalars(
                select(AuditRow).where(AuditRow.object_id == ann_id).order_by(AuditRow.id)
            )
        )
        seen = [(r.action, r.user_name, r.org_id, r.detail) for r in rows]
        assert seen == [
            ("user.create", "system", acme, {"role": "member"}),
            ("user.disable", "boss", acme, {"name": "ann"}),
            ("user.enable", "boss", acme, {"name": "ann"}),
        ]
        # The org admin reads them in the organization's log.
        mine = audit.entries(session, boss, limit=10, before_id=None, action=None, actor="boss")
        assert [e.action for e in mine] == ["user.enable", "user.disable"]


def test_disabling_ends_tokens_and_sessions_and_enabling_revives_only_tokens(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    with state.db.session() as session:
        acme = tenancy.create_org(session, None, name="acme").id
    _, boss = _person(state, "boss", Role.ORG_ADMIN, acme)
    ann_id, _ = _person(state, "ann", Role.MEMBER, acme)
    now = utcnow()
    with state.db.session() as session:
        ann = session.get(UserRow, ann_id)
        assert ann is not None
        token, secret = tokens.issue(session, None, user_id=ann_id, name="laptop")
        by_password, _ = sessions.start(session, ann, client="10.0.0.1", now=now)
        by_token, _ = sessions.start(session, ann, client="10.0.0.1", now=now, token=token)

    _disable(state, boss, ann_id)
    with state.db.session() as session:
        assert tokens.authenticate(session, tokens.digest(secret)) == (None, None)
        assert sessions.resolve(session, by_password, now=now) is None
        count = select(func.count()).select_from(PortalSessionRow)
        assert session.scalar(count.where(PortalSessionRow.user_id == ann_id)) == 0

    _disable(state, boss, ann_id, False)
    later = now + timedelta(seconds=1)
    with state.db.session() as session:
        caller, _ = tokens.authenticate(session, tokens.digest(secret))
        assert caller is not None and caller.who.user_id == ann_id  # the token works again
        for cookie in (by_password, by_token):  # the sessions stay ended: sign in again
            assert sessions.resolve(session, cookie, now=later) is None
        ann = session.get(UserRow, ann_id)
        assert ann is not None
        fresh, _ = sessions.start(session, ann, client="10.0.0.1", now=later)
        signed_in = sessions.resolve(session, fresh, now=later)
        assert signed_in is not None and signed_in.who.user_id == ann_id


def test_two_admins_disabling_each_other_at_once_leave_one_enabled(
    server: tuple[TestClient, AppState],
) -> None:
    """The last enabled center admin stays enabled, also when two admins race: the second
    transaction waits for the first and then sees it would leave no admin."""
    _, state = server
    with state.db.reader() as session:
        admin = session.scalar(select(UserRow).where(UserRow.name == "admin"))
        assert admin is not None
        first_id, first = admin.id, tenancy.principal_of(session, admin)
        org = first.org_id
    second_id, second = _person(state, "second", Role.ADMIN, org)
    started = threading.Event()
    outcome: list[BaseException | None] = []

    def other_side() -> None:
        started.wait(10)
        try:
            _disable(state, second, first_id)
            outcome.append(None)
        except BaseException as err:  # recorded for the assertion below
            outcome.append(err)

    racer = threading.Thread(target=other_side)
    racer.start()
    with state.db.session() as session:
        tenancy.set_disabled(session, first, second_id, True)
        started.set()
        time.sleep(0.5)  # the other transaction now waits on this one's locks
    racer.join(30)
    (err,) = outcome
    assert isinstance(err, Conflict), err
    assert "last enabled center admin" in err.detail
    with state.db.reader() as session:
        enabled = session.scalars(
            select(UserRow.name).where(UserRow.role == "admin", UserRow.disabled.is_(False))
        )
        assert list(enabled) == ["admin"]
