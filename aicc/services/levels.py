"""A project's stored bytes over time, as data sets (`data_storage_levels`, data/storage.py) and
images (`image_storage_levels`, images/images.py) append them: the two tables have one shape,
so one writer and one reader serve both, and the meter bills GiB-days of each alike
(billing/meter.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from aicc.services.common import utcnow
from aicc.store.tables.data import StorageLevelRow
from aicc.store.tables.images import ImageStorageLevelRow

Levels = type[StorageLevelRow] | type[ImageStorageLevelRow]


def record(session: Session, levels: Levels, project_id: str, level: int) -> int:
    """Append the project's `level` when it differs from its last one (0 before any), in the
    transaction of the change; returns `level`."""
    last = session.scalar(
        select(levels.bytes)
        .where(levels.project_id == project_id)
        .order_by(levels.at.desc(), levels.id.desc())
        .limit(1)
    )
    if (last or 0) != level:
        session.add(levels(project_id=project_id, bytes=level, at=utcnow()))
    return level


def starts(levels: Levels, before: datetime) -> Select[str, datetime]:
    """Each project's first level before `before`, as (project_id, first): a select for the
    meter's own query, which joins the projects' organizations to it (one query)."""
    return (
        select(levels.project_id, func.min(levels.at).label("first"))
        .where(levels.at < before)
        .group_by(levels.project_id)
    )


def steps(
    session: Session, levels: Levels, project_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """The project's level in force at `since` (0 before any), then each change in (since,
    until), in order: the stretches the meter records."""
    held = session.scalar(
        select(levels.bytes)
        .where(levels.project_id == project_id, levels.at <= since)
        .order_by(levels.at.desc(), levels.id.desc())
        .limit(1)
    )
    changes = session.execute(
        select(levels.at, levels.bytes)
        .where(levels.project_id == project_id, levels.at > since, levels.at < until)
        .order_by(levels.at, levels.id)
    )
    return [(since, held or 0), *((at, int(n)) for at, n in changes)]
