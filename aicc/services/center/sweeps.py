"""When the retention sweep (loops/janitor.py) last ran: a setting of the center's, kept so that
however long the server was down, the next sweep covers everything since and no job is skipped.
The jobs it purges are the jobs context's (`jobs.retention.ended_between`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from aicc.store.tables.center import SettingRow

LAST_SWEEP = "janitor.last_sweep"


def last_sweep(session: Session) -> datetime:
    """When the last sweep ran; the epoch before the first."""
    row = session.get(SettingRow, LAST_SWEEP)
    return datetime.fromisoformat(row.value["at"]) if row else datetime.fromtimestamp(0, UTC)


def swept(session: Session, now: datetime) -> None:
    """A sweep covered everything up to `now`."""
    session.merge(SettingRow(key=LAST_SWEEP, value={"at": now.isoformat()}))
