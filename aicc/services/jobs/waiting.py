"""Jobs waiting (pending or admitted) per user and per queue, counted as they change.

A submit checks the user's and the queue's limits on waiting jobs. Counting the jobs each time
walked an index entry per waiting job (5.5 ms a submit on PostgreSQL once 11,600 waited), so
the counts are kept in `waiting` rows. `enter` and `moved` note a change in the session; the
notes are written when its transaction (or savepoint) commits, after its last flush, in the
owners' order, as its last writes. So no two transactions wait on each other's counts in a
cycle (two servers' batches of submits, the scheduling pass, a cancel), and a count's row is
locked only from there to the commit.

A limit is checked twice: at the submit (`check`), against the counts committed plus this
transaction's notes (the refusal a user gets), and again at the commit under the row's lock,
because under PostgreSQL's READ COMMITTED another server may have committed submits of the same
user since. The commit then fails with the same refusal, and a batch of submits runs each again
alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Executable, bindparam, event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from aicc.core.states import WAITING, JobState
from aicc.services.common import ServiceError
from aicc.store import group_commit
from aicc.store.tables.base import table
from aicc.store.tables.jobs import JobRow, WaitingRow


@dataclass(frozen=True)
class Limit:
    """At most `most` jobs waiting; `refusal` is what a submit past it raises."""

    most: int
    refusal: Callable[[], ServiceError]


_Note = tuple[int, Limit | None]  # an owner's change in this transaction, and its limit
_NOTES = "aicc.waiting"  # session.info: {owner: _Note}
# session.info: each open savepoint's notes as they were when it began, put back if it rolls back
_BEFORE = "aicc.waiting.before"


def of_user(user_id: str) -> str:
    return f"user/{user_id}"


def of_queue(queue_id: str) -> str:
    return f"queue/{queue_id}"


def counts(session: Session, owners: list[str], *, shared: bool = False) -> list[int]:
    """The jobs waiting of each owner, as this transaction will leave them. `shared`: the
    stored counts read once per batch of submits (`group_commit.shared`), as they stand until
    its commit writes its notes (under PostgreSQL's READ COMMITTED another server's commit may
    have moved them since: the commit checks the limits again under the rows' locks)."""

    def read() -> dict[str, int]:
        return {owner: jobs for owner, jobs in session.execute(_COUNTS, {"owners": owners})}

    stored = group_commit.shared(session, (_COUNTS, *owners), read) if shared else read()
    notes = _notes(session)
    return [stored.get(owner, 0) + notes.get(owner, (0, None))[0] for owner in owners]


def drift(session: Session) -> dict[str, tuple[int, int]]:
    """Owners whose kept count is not the jobs waiting: (kept, waiting). Empty while every
    write path keeps them (the chaos harness and the tests check it; it walks all jobs)."""
    kept = {owner: jobs for owner, jobs in session.execute(select(_T.c.owner, _T.c.jobs))}
    waiting: dict[str, int] = {}
    in_waiting = _JOBS.c.state.in_([s.value for s in WAITING])
    for scope, column in (("user", _JOBS.c.user_id), ("queue", _JOBS.c.queue_id)):
        query = select(column, func.count()).where(in_waiting).group_by(column)
        waiting.update({f"{scope}/{owner}": jobs for owner, jobs in session.execute(query)})
    owners = set(kept) | set(waiting)
    return {
        owner: (kept.get(owner, 0), waiting.get(owner, 0))
        for owner in sorted(owners)
        if kept.get(owner, 0) != waiting.get(owner, 0)
    }


def check(session: Session, limits: Mapping[str, Limit | None]) -> None:
    """Raises the refusal of the first owner of `limits` already at its limit (None: none).
    In a batch of submits the counts stored are read once for the batch; a refusal is given
    only from the counts read again."""
    owners = [owner for owner, limit in limits.items() if limit is not None]
    if not _full(limits, owners, counts(session, owners, shared=True)):
        return
    refused = _full(limits, owners, counts(session, owners))
    if refused is not None:
        raise refused.refusal()


def _full(limits: Mapping[str, Limit | None], owners: list[str], found: list[int]) -> Limit | None:
    """The limit of the first of `owners` that `found` puts at it or past it, if any."""
    for owner, count in zip(owners, found, strict=True):
        limit = limits[owner]
        if limit is not None and count >= limit.most:
            return limit
    return None


def enter(session: Session, limits: Mapping[str, Limit | None]) -> None:
    """One job more waiting for each owner of `limits`, checked again at the commit."""
    for owner, limit in limits.items():
        _note(session, owner, +1, limit)


def moved(session: Session, user_id: str, queue_id: str, was: JobState, now: JobState) -> None:
    """A job changed state: counted out when it stops waiting, in again when it is requeued."""
    change = (now in WAITING) - (was in WAITING)
    if change:
        _note(session, of_user(user_id), change, None)
        _note(session, of_queue(queue_id), change, None)


def _note(session: Session, owner: str, change: int, limit: Limit | None) -> None:
    notes = session.info.setdefault(_NOTES, {})
    before, kept = notes.get(owner, (0, None))
    notes[owner] = (before + change, limit or kept)


def _notes(session: Session) -> dict[str, _Note]:
    found: dict[str, _Note] = session.info.get(_NOTES, {})
    return found


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    """The notes written, in the owners' order, after the transaction's own writes."""
    notes = session.info.pop(_NOTES, None)
    if not notes:
        return
    session.flush()
    upsert = _upsert(session)
    for owner in sorted(notes):
        change, limit = notes[owner]
        if change == 0:
            continue
        jobs = session.execute(upsert, {"owner": owner, "jobs": change}).scalar_one()
        if limit is not None and change > 0 and jobs > limit.most:
            raise limit.refusal()


@event.listens_for(Session, "after_transaction_create")
def _begin(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_BEFORE, {})[transaction] = dict(_notes(session))


@event.listens_for(Session, "after_soft_rollback")
def _undo(session: Session, transaction: SessionTransaction) -> None:
    """A savepoint rolled back takes its notes with it; the transaction, all of them."""
    before = session.info.get(_BEFORE, {}).pop(transaction, None)
    if transaction.nested and before is not None:
        session.info[_NOTES] = before
    elif not transaction.nested:
        session.info.pop(_NOTES, None)
        session.info.pop(_BEFORE, None)


@event.listens_for(Session, "after_commit")
def _done(session: Session) -> None:
    """A transaction committed: no savepoint of it can roll back any more."""
    if not session.in_nested_transaction():
        session.info.pop(_BEFORE, None)


_T, _JOBS = table(WaitingRow), table(JobRow)
_COUNTS = select(_T.c.owner, _T.c.jobs).where(_T.c.owner.in_(bindparam("owners", expanding=True)))
_UPSERTS: dict[str, Executable] = {}  # per dialect, built once


def _upsert(session: Session) -> Executable:
    """Add to an owner's count (its row made at its first job) and return the new count."""
    dialect = session.get_bind().dialect.name
    if dialect not in _UPSERTS:
        from sqlalchemy.dialects import postgresql, sqlite

        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(_T)
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[_T.c.owner], set_={"jobs": _T.c.jobs + statement.excluded.jobs}
        ).returning(_T.c.jobs)
    return _UPSERTS[dialect]
