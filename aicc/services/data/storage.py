"""Data set storage as the books see it: a project's bytes, their history, and their limit.

A project stores the distinct chunks its data sets refer to: a chunk two of its sets share
counts once, and a chunk another project also refers to counts for each (the center keeps it
once). Every change is appended to `data_storage_levels` in the transaction that makes it, so
the meter bills GiB-days of exactly what was held, when (billing/meter.py).

The limit is the quota key `storage_gib` in `max` of the project and of its organization (the
organization's use is the sum of its projects'). A push is checked when it begins, from the
sizes the client declares, and again when it commits, from the sizes the server measured.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.services.common import TooLarge, utcnow
from aicc.store.tables import (
    DatasetChunkRow,
    DatasetRow,
    OrgRow,
    ProjectRow,
    StorageLevelRow,
)

GIB = 1024**3
KEY = "storage_gib"  # the quota key, in `max`


def project_bytes(session: Session, project_id: str) -> int:
    """The distinct chunks the project's data sets refer to, in bytes."""
    held = (
        select(DatasetChunkRow.digest, DatasetChunkRow.size)
        .distinct()
        .join(DatasetRow, DatasetRow.id == DatasetChunkRow.dataset_id)
        .where(DatasetRow.project_id == project_id)
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(held.c.size), 0))) or 0)


def org_bytes(session: Session, org_id: str) -> int:
    """The sum of the organization's projects' bytes (as they are billed)."""
    held = (
        select(DatasetRow.project_id, DatasetChunkRow.digest, DatasetChunkRow.size)
        .distinct()
        .join(DatasetRow, DatasetRow.id == DatasetChunkRow.dataset_id)
        .join(ProjectRow, ProjectRow.id == DatasetRow.project_id)
        .where(ProjectRow.org_id == org_id)
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(held.c.size), 0))) or 0)


def bytes_by_project(session: Session) -> dict[str, int]:
    """Every project's bytes, for the quota standings."""
    held = (
        select(DatasetRow.project_id, DatasetChunkRow.digest, DatasetChunkRow.size)
        .distinct()
        .join(DatasetRow, DatasetRow.id == DatasetChunkRow.dataset_id)
        .subquery()
    )
    query = select(held.c.project_id, func.sum(held.c.size)).group_by(held.c.project_id)
    return {p: int(n) for p, n in session.execute(query)}


def changed(session: Session, project_id: str) -> int:
    """Record the project's level after a change (a new version, a deleted set); call it in
    the transaction of the change, after its rows are written. Returns the level."""
    session.flush()
    level = project_bytes(session, project_id)
    last = session.scalar(
        select(StorageLevelRow.bytes)
        .where(StorageLevelRow.project_id == project_id)
        .order_by(StorageLevelRow.at.desc(), StorageLevelRow.id.desc())
        .limit(1)
    )
    if last != level and (last is not None or level):
        session.add(StorageLevelRow(project_id=project_id, bytes=level, at=utcnow()))
    return level


def _gib(n: int) -> str:
    return f"{n / GIB:.3f} GiB"


def check_room(session: Session, project_id: str, adding: int) -> None:
    """Raise TooLarge when adding `adding` bytes to the project would pass the `storage_gib`
    max of the project or of its organization. Nothing is refused that adds nothing."""
    if adding <= 0:
        return
    project = session.get(ProjectRow, project_id)
    assert project is not None
    org = session.get(OrgRow, project.org_id)
    assert org is not None
    for kind, name, row in (("project", project.name, project), ("organization", org.name, org)):
        limit = (row.quota or {}).get("max", {}).get(KEY)
        if limit is None:
            continue
        held = project_bytes(session, project.id) if row is project else org_bytes(session, org.id)
        if held + adding > limit * GIB:
            raise TooLarge(
                "data set storage of {kind} {name} would pass its limit: {used} stored + "
                "{adding} this push > {limit} (quota max storage_gib); delete data sets you no "
                "longer need (`aicc data rm`) or ask an admin to raise the quota",
                kind=kind,
                name=name,
                used=_gib(held),
                adding=_gib(adding),
                limit=f"{limit:g} GiB",
            )
