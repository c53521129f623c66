"""Data set storage as the books see it: a project's bytes, their history, and their limit.

A project stores the distinct chunks its data sets refer to: a chunk two of its sets share
counts once, and a chunk another project also refers to counts for each (the center keeps it
once). Every change is appended to `data_storage_levels` in the transaction that makes it, so
the meter bills GiB-days of exactly what was held, when (billing/meter.py).

The limit is the quota key `storage_gib` in `max` of the project and of its organization (the
organization's use is the sum of its projects'). A push is checked when it begins, from the
sizes the client declares, as its chunks arrive, and again when it commits.

What the limit holds is the larger of two measures (issue 35, the dedup bomb):
- **stored**: the distinct chunks the project's sets refer to, plus the chunks its uploads have
  received and not committed yet (`pending_bytes`): they take disk from the moment they arrive,
  so a push cannot park data past the limit by never committing;
- **logical**: the size of the latest version of each of its sets, a chunk counted each time a
  file lists it. That is what the center writes out when the set is used (a job's mount in the
  node cache, a pull, the files a profile or query assembles), so a manifest that lists one
  stored MiB a thousand times is a GiB here. Only latest versions count: history shares its
  chunks with them (dedup across versions is the point of chunking) and each older version
  passed the same check when it was the latest. Two sets whose latest versions are the same
  files (one manifest digest) count once: a copy under another name is assembled once (views
  are kept by manifest digest). An honest file of zeros (one chunk repeated) counts at its real
  size, which is what it costs to use.
A change is refused only when it grows a measure past the limit: nothing that adds nothing.

Checking and counting are one step: `check_room` locks the organization's row, then the
project's (`SELECT ... FOR UPDATE`, always in that order) when either has a limit, and the
caller writes what it adds in the same transaction, so concurrent pushes of one project or
organization are checked one after another, each seeing what the one before it added (of 16
concurrent 1 MiB batches under a 4 MiB quota, PostgreSQL kept more than 4 before). SQLite
serializes its writers anyway (`store/db.py`: BEGIN IMMEDIATE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from aicc.core.units import STORAGE_QUOTA_KEY
from aicc.services.common import TooLarge, utcnow
from aicc.services.tenancy import directory
from aicc.store.tables.data import (
    DatasetChunkRow,
    DatasetRow,
    DatasetVersionRow,
    StorageLevelRow,
    UploadChunkRow,
    UploadRow,
)

GIB = 1024**3
KEY = STORAGE_QUOTA_KEY  # the quota key, in `max` ("storage_gib", read as core/units.py reads it)


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
        .where(DatasetRow.project_id.in_(directory.project_ids(org_id=org_id)))
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


def level_starts(before: datetime) -> Select[str, datetime]:
    """Each project's first level before `before`, as (project_id, first): a select for the
    meter's own query, which joins the projects' organizations to it (one query)."""
    at = StorageLevelRow.at
    return (
        select(StorageLevelRow.project_id, func.min(at).label("first"))
        .where(at < before)
        .group_by(StorageLevelRow.project_id)
    )


def level_steps(
    session: Session, project_id: str, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """The project's level in force at `since` (0 before any), then each change in (since,
    until), in order: the stretches the meter records."""
    held = session.scalar(
        select(StorageLevelRow.bytes)
        .where(StorageLevelRow.project_id == project_id, StorageLevelRow.at <= since)
        .order_by(StorageLevelRow.at.desc(), StorageLevelRow.id.desc())
        .limit(1)
    )
    changes = session.execute(
        select(StorageLevelRow.at, StorageLevelRow.bytes)
        .where(
            StorageLevelRow.project_id == project_id,
            StorageLevelRow.at > since,
            StorageLevelRow.at < until,
        )
        .order_by(StorageLevelRow.at, StorageLevelRow.id)
    )
    return [(since, held or 0), *((at, int(n)) for at, n in changes)]


def _sets_of(project_id: str | None, org_id: str | None) -> ColumnElement[bool]:
    """The data sets of a project, or of every project of an organization."""
    if project_id is not None:
        return DatasetRow.project_id == project_id
    return DatasetRow.project_id.in_(directory.project_ids(org_id=org_id))


def pending_bytes(
    session: Session, project_id: str | None = None, *, org_id: str | None = None
) -> int:
    """The chunks the project's uploads (or each project's of the organization) received and
    no set of that project refers to yet; each counted once per project."""
    other = aliased(DatasetRow)
    owned = (
        exists()
        .where(DatasetChunkRow.digest == UploadChunkRow.digest)
        .where(DatasetChunkRow.dataset_id == other.id, other.project_id == DatasetRow.project_id)
    )
    pending = (
        select(DatasetRow.project_id, UploadChunkRow.digest, UploadChunkRow.size)
        .distinct()
        .join(UploadRow, UploadRow.id == UploadChunkRow.upload_id)
        .join(DatasetRow, DatasetRow.id == UploadRow.dataset_id)
        .where(_sets_of(project_id, org_id), ~owned)
        .subquery()
    )
    return int(session.scalar(select(func.coalesce(func.sum(pending.c.size), 0))) or 0)


def logical_bytes(
    session: Session, project_id: str | None = None, *, org_id: str | None = None
) -> dict[str, tuple[str, int]]:
    """Each of the project's (or organization's) sets' latest version: its manifest digest and
    its size (files as listed), by set id."""
    latest = (
        select(DatasetVersionRow.dataset_id, func.max(DatasetVersionRow.number).label("n"))
        .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
        .where(_sets_of(project_id, org_id))
        .group_by(DatasetVersionRow.dataset_id)
        .subquery()
    )
    query = select(
        DatasetVersionRow.dataset_id,
        DatasetVersionRow.manifest_digest,
        DatasetVersionRow.logical_bytes,
    ).join(
        latest,
        (latest.c.dataset_id == DatasetVersionRow.dataset_id)
        & (latest.c.n == DatasetVersionRow.number),
    )
    return {d: (m, int(n)) for d, m, n in session.execute(query)}


def _distinct(latest: dict[str, tuple[str, int]]) -> int:
    return sum(dict(latest.values()).values())


def _in_gib(limit: float, **sizes: int) -> dict[str, str]:
    """A quota's figures as its 413 shows them: `sizes` (bytes) and the limit, in GiB."""
    return {key: f"{n / GIB:.3f} GiB" for key, n in sizes.items()} | {"limit": f"{limit:g} GiB"}


def check_room(
    session: Session,
    project_id: str,
    adding: int,
    *,
    version: tuple[str, str, int] | None = None,
) -> None:
    """Raise TooLarge when adding `adding` stored bytes to the project (chunks it neither refers
    to nor has received already), or making `version` (set id, manifest digest, logical bytes)
    the latest of its set, would pass the `storage_gib` max of the project or of its
    organization (see the module's docstring for the two measures)."""
    project = directory.project(session, project_id)
    assert project is not None
    org = directory.org(session, project.org_id)
    assert org is not None
    limited = [r for r in (org, project) if r.quota.max.get(KEY) is not None]
    if limited:
        directory.hold(session, org.id, project.id)
    for kind, name, row in (("project", project.name, project), ("organization", org.name, org)):
        limit = row.quota.max.get(KEY)
        if limit is None:
            continue
        scope = {"project_id": project.id} if row is project else {"org_id": org.id}
        if adding > 0:
            if row is project:
                held = project_bytes(session, project.id)
            else:
                held = org_bytes(session, org.id)
            held += pending_bytes(session, **scope)
            if held + adding > limit * GIB:
                raise TooLarge(
                    "data set storage of {kind} {name} would pass its limit: {used} stored + "
                    "{adding} this push > {limit} (quota max storage_gib); delete data sets "
                    "you no longer need (`aicc data rm`) or ask an admin to raise the quota",
                    kind=kind,
                    name=name,
                    **_in_gib(limit, used=held, adding=adding),
                )
        if version is not None:
            _check_logical(session, scope, version, kind, name, limit)


def _check_logical(
    session: Session,
    scope: dict[str, str],
    version: tuple[str, str, int],
    kind: str,
    name: str,
    limit: float,
) -> None:
    dataset_id, digest, size = version
    latest = logical_bytes(session, **scope)
    before = _distinct(latest)
    after = _distinct(latest | {dataset_id: (digest, size)})
    if after > before and after > limit * GIB:
        raise TooLarge(
            "data sets of {kind} {name} would list {after} of files (the latest version of "
            "each, a chunk counted every time a file lists it) > {limit} (quota max "
            "storage_gib); this version lists {size}: push fewer or smaller files, delete "
            "data sets you no longer need (`aicc data rm`) or ask an admin to raise the quota",
            kind=kind,
            name=name,
            **_in_gib(limit, after=after, size=size),
        )
