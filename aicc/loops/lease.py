"""Leader election with fencing, so that only one server on a database schedules and launches.

The lease is a row with a holder, an epoch and an expiry. Acquiring a free or expired lease bumps
the epoch. Every bind transaction calls `fence()`, which renews the lease only if this holder still
has it at the same epoch; the row lock that UPDATE takes serialises two servers, so a server that
lost the lease (a long GC pause, a network split) cannot bind even once more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.store.db import Database
from aicc.store.tables.jobs import LeaseRow


class LostLease(Exception):
    """This server no longer leads; the transaction must roll back."""


class Lease:
    def __init__(
        self,
        db: Database,
        *,
        name: str,
        holder: str,
        ttl_s: float = 15.0,
        holder_dead: Callable[[str], bool] = lambda _holder: False,
    ) -> None:
        """`holder_dead` lets a restarted server take over at once from a holder it knows is gone
        (a crashed process on the same host) instead of waiting out the expiry."""
        self.db = db
        self.holder_dead = holder_dead
        self.name = name
        self.holder = holder
        self.ttl = timedelta(seconds=ttl_s)
        self.epoch: int | None = None
        self._expires: datetime | None = None  # as last written by us

    @property
    def held(self) -> bool:
        return self.epoch is not None

    def try_acquire(self, now: datetime) -> bool:
        """Take the lease if it is free or expired, or renew it if ours. Returns whether we lead.

        A lease with more than half its time left is not renewed here: fences renew it anyway,
        and an idle leader then writes to the database only every ttl/2.
        """
        if (
            self.epoch is not None
            and self._expires is not None
            and self._expires - now > self.ttl / 2
        ):
            return True
        try:
            with self.db.session() as session:
                row = session.scalar(select(LeaseRow).where(LeaseRow.name == self.name))
                if row is None:
                    session.add(
                        LeaseRow(
                            name=self.name, holder=self.holder, epoch=1, expires_at=now + self.ttl
                        )
                    )
                    self.epoch, self._expires = 1, now + self.ttl
                    return True
                if row.holder == self.holder and row.epoch == self.epoch and row.expires_at > now:
                    row.expires_at = self._expires = now + self.ttl
                    return True
                if row.expires_at > now and not self.holder_dead(row.holder):
                    self.epoch = None
                    return False
                # Read the epoch before the UPDATE: the ORM synchronises `row` with what it wrote.
                seen, epoch = row.epoch, row.epoch + 1
                taken = session.execute(
                    update(LeaseRow)
                    .where(LeaseRow.name == self.name, LeaseRow.epoch == seen)
                    .values(holder=self.holder, epoch=epoch, expires_at=now + self.ttl)
                )
                self.epoch = epoch if taken.rowcount == 1 else None  # type: ignore[attr-defined]
                self._expires = now + self.ttl
                return self.epoch is not None
        except IntegrityError:  # another server inserted the row first
            self.epoch = None
            return False

    def current(self, now: datetime) -> str | None:
        """Who holds the lease now, if anyone (read, not taken)."""
        with self.db.reader() as session:
            row = session.scalar(select(LeaseRow).where(LeaseRow.name == self.name))
        return row.holder if row is not None and row.expires_at > now else None

    def renew(self, now: datetime) -> bool:
        """Extend a lease we hold, in a transaction of its own (the heartbeat: a long pass of
        the loops must not let the lease lapse). Returns whether we still lead."""
        if self.epoch is None:
            return False
        try:
            with self.db.session() as session:
                self.fence(session, now)
        except LostLease:
            return False
        return True

    def fence(self, session: Session, now: datetime) -> None:
        """Inside a bind transaction: prove we still lead, or raise LostLease."""
        epoch = self.epoch
        if epoch is None:
            raise LostLease(self.name)
        result = session.execute(
            update(LeaseRow)
            .where(
                LeaseRow.name == self.name,
                LeaseRow.holder == self.holder,
                LeaseRow.epoch == epoch,
                LeaseRow.expires_at > now,
            )
            .values(expires_at=now + self.ttl)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            self.epoch = None
            raise LostLease(self.name)
        self._expires = now + self.ttl

    def release(self) -> None:
        if self.epoch is None:
            return
        with self.db.session() as session:
            session.execute(
                update(LeaseRow)
                .where(
                    LeaseRow.name == self.name,
                    LeaseRow.holder == self.holder,
                    LeaseRow.epoch == self.epoch,
                )
                .values(expires_at=datetime.fromtimestamp(0).astimezone())
            )
        self.epoch = None
