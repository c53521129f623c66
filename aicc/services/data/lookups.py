"""Data sets and their versions by id or reference, as the contexts above data read them
(federation's adverts and routing, serving's models and adapters, the needs, the model registry,
templates and predictions): read models and manifests, never `DatasetRow` or `DatasetVersionRow`,
which data owns (docs/ARCHITECTURE.md, "every table has one owner"). The caller has checked who
may read what it asks for; each function answers in one query whatever the number of ids."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.services.data import datasets
from aicc.services.data.views import DatasetRef, DatasetVersion
from aicc.services.tenancy.views import Project
from aicc.store.tables.data import DatasetRow, DatasetVersionRow


@dataclass(frozen=True)
class VersionRef:
    """A version of a data set (or model, or template) by id: which set, which number, its
    lineage, and the set's region tag (where its bytes are, for routing)."""

    id: str
    dataset_id: str
    name: str  # the data set's
    number: int
    lineage: dict[str, Any]
    region: str | None


def _refs() -> Select[str, str, str, int, dict[str, Any], str | None]:
    """A select of what a `VersionRef` holds, each version with its set (one query)."""
    return select(
        DatasetVersionRow.id,
        DatasetVersionRow.dataset_id,
        DatasetRow.name,
        DatasetVersionRow.number,
        DatasetVersionRow.lineage,
        DatasetRow.region,
    ).join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)


def versions(session: Session, version_ids: Iterable[str]) -> dict[str, VersionRef]:
    """The versions of `version_ids` that exist, by id (a deleted one is absent)."""
    ids = list(dict.fromkeys(i for i in version_ids if i))
    if not ids:
        return {}
    query = _refs().where(DatasetVersionRow.id.in_(ids))
    return {
        vid: VersionRef(vid, sid, name, number, dict(lineage or {}), region)
        for vid, sid, name, number, lineage, region in session.execute(query)
    }


def numbered(session: Session, dataset_id: str, number: int | None = None) -> VersionRef | None:
    """Version `number` of the data set, its latest when None: None when it has no such version
    (none yet, or deleted since). A set the caller reaches by id (a template it was granted)."""
    query = _refs().where(DatasetVersionRow.dataset_id == dataset_id)
    if number is None:
        query = query.order_by(DatasetVersionRow.number.desc()).limit(1)
    else:
        query = query.where(DatasetVersionRow.number == number)
    found = session.execute(query).first()
    if found is None:
        return None
    vid, sid, name, num, lineage, region = found
    return VersionRef(vid, sid, name, num, dict(lineage or {}), region)


def listing(dataset_id: str) -> Select[Any]:
    """A select of the versions of a set, newest first, as `details` reads them (their files
    left out): a context with a table keyed by version id (the model registry's facts) joins it
    to `.selected_columns.id` and reads both in one query."""
    return (
        select(
            DatasetVersionRow.id,
            DatasetVersionRow.number,
            DatasetVersionRow.manifest_digest,
            DatasetVersionRow.file_count,
            DatasetVersionRow.logical_bytes,
            DatasetVersionRow.added_bytes,
            DatasetVersionRow.message,
            DatasetVersionRow.lineage,
            DatasetVersionRow.tables,
            DatasetVersionRow.created_by,
            DatasetVersionRow.created_at,
        )
        .where(DatasetVersionRow.dataset_id == dataset_id)
        .order_by(DatasetVersionRow.number.desc())
    )


def details(found: Row[Any], name: str) -> DatasetVersion:
    """A result row of `listing` (or a select built on it) as routes show a version."""
    return datasets.version_of(found, name)


def version_ids(dataset_id: str) -> Select[str]:
    """A select of the ids of a set's versions: a caller filters its own table by it
    (`.in_(...)`) in one query."""
    return select(DatasetVersionRow.id).where(DatasetVersionRow.dataset_id == dataset_id)


@dataclass(frozen=True)
class Version:
    """A version found by reference, with its files: what the contexts that read a model's or
    a hidden set's files need of it (needs' challenges)."""

    id: str
    dataset_id: str
    name: str  # the data set's
    number: int
    lineage: dict[str, Any]
    tables: dict[str, Any]  # path -> {columns, rows}
    manifest: core.Manifest
    details: DatasetVersion  # as routes show it: sizes, author, time (a model version's)


def find(
    session: Session,
    who: Principal,
    ref: str | core.Ref,
    *,
    project: str | None = None,
    kind: str = datasets.DATA,
) -> tuple[DatasetRef, Version]:
    """The version `ref` names (`NAME@N`, `NAME` for the latest) that the caller may read, and
    its set: NotFound as `datasets.resolve`, or for a set with no such version."""
    row, prj, version = datasets._found_version(session, who, ref, project=project, kind=kind)
    return datasets._ref(session, row, prj), Version(
        id=version.id,
        dataset_id=row.id,
        name=row.name,
        number=version.number,
        lineage=dict(version.lineage or {}),
        tables=dict(version.tables or {}),
        manifest=datasets.manifest_of(version),
        details=datasets.version_of(version, row.name),
    )


def find_writable(
    session: Session, who: Principal, name: str, project: str | None, *, kind: str = datasets.DATA
) -> tuple[DatasetRef, Project]:
    """The set `name` (of `kind`) the caller changes, and its project: NotFound as
    `datasets.resolve`, Forbidden when it is read-only for the caller (a target a job writes)."""
    row, prj = datasets.find_writable(session, who, name, project, kind=kind)
    return datasets._ref(session, row, prj), prj


def _manifest(stored: bytes) -> core.Manifest:
    return core.Manifest.from_json(json.loads(gzip.decompress(stored)))


def manifest(session: Session, version_id: str) -> core.Manifest | None:
    """The files of version `version_id`; None once it is gone."""
    stored = session.scalar(
        select(DatasetVersionRow.manifest).where(DatasetVersionRow.id == version_id)
    )
    return None if stored is None else _manifest(stored)


def numbered_manifest(
    session: Session, dataset_id: str, number: int
) -> tuple[str, core.Manifest] | None:
    """Version `number` of the data set: its id and files; None when it has none of that
    number (deleted since)."""
    found = session.execute(
        select(DatasetVersionRow.id, DatasetVersionRow.manifest).where(
            DatasetVersionRow.dataset_id == dataset_id, DatasetVersionRow.number == number
        )
    ).first()
    return None if found is None else (found[0], _manifest(found[1]))


def of_kind(kind: str) -> Select[str, str, str, str | None]:
    """A select of (id, name, project_id, region) of every data set of `kind`: a caller joins
    it as a subquery (federation: to the organizations, for its advert) in one query."""
    return select(DatasetRow.id, DatasetRow.name, DatasetRow.project_id, DatasetRow.region).where(
        DatasetRow.kind == kind
    )


def latest_bytes(session: Session, kind: str) -> dict[str, int]:
    """The logical bytes of the latest version of each data set of `kind`, by the set's id; a
    set with no version is absent."""
    latest = (
        select(DatasetVersionRow.dataset_id, func.max(DatasetVersionRow.number).label("number"))
        .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
        .where(DatasetRow.kind == kind)
        .group_by(DatasetVersionRow.dataset_id)
        .subquery()
    )
    query = select(DatasetVersionRow.dataset_id, DatasetVersionRow.logical_bytes).join(
        latest,
        (latest.c.dataset_id == DatasetVersionRow.dataset_id)
        & (latest.c.number == DatasetVersionRow.number),
    )
    return {sid: int(size) for sid, size in session.execute(query)}
