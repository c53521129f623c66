"""Data sets and their versions: who sees which, names and references, and the read models.

A data set is its project's; `visibility` widens who reads it (`org`: the project's
organization, `public`: everyone, the center's open data catalog). Writing stays with the
project's members. A reference resolves in the caller's project first, then among the sets
shared with the caller; `ORG/PROJECT/NAME` names one explicitly. A set the caller may not read
is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session, defer

from aicc.core import datasets as core
from aicc.core.tenancy import Principal, can_manage, can_read, can_write
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, from_row, new_id, utcnow
from aicc.services.data import chunks, storage
from aicc.services.data.views import Dataset, DatasetRef, DatasetVersion, Manifest, ManifestFile
from aicc.services.tenancy import audit, directory, tenancy
from aicc.services.tenancy.views import Project
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.data import (
    DatasetChunkRow,
    DatasetMountRow,
    DatasetRow,
    DatasetVersionRow,
    S3MultipartRow,
    S3PartRow,
    S3StagedRow,
    UploadChunkRow,
    UploadRow,
)

# What a row of `datasets` is: a data set, a model's files (services/models/models.py) or a
# published template's (services/models/templates.py); all have versions of content-addressed
# files, share visibility, storage and bills.
DATA = "dataset"
MODEL = "model"
TEMPLATE = "template"
ID_PREFIXES = {DATA: "dst", MODEL: "mdl", TEMPLATE: "tpl"}


def readable(who: Principal, row: DatasetRow, project: Project) -> bool:
    if row.visibility == "public" or can_read(who, org_id=project.org_id, project_id=project.id):
        return True
    return row.visibility == "org" and who.org_id == project.org_id


def writable(who: Principal, project: Project) -> bool:
    return can_write(who, org_id=project.org_id, project_id=project.id)


def qualified(session: Session, project: Project) -> str:
    return f"{tenancy.org_name(session, project.org_id)}/{project.name}"


def _parse(ref: str) -> core.Ref:
    """A reference the caller wrote: a malformed one is a 422 saying what to write."""
    try:
        return core.parse_ref(ref)
    except core.DatasetError as e:
        raise Invalid("{problem}", problem=str(e)) from None


def reference(
    name: str, *, project: str | None, version: str | None = None
) -> tuple[core.Ref, str | None]:
    """The reference a route or page names, and the project to look in (None: the caller's
    default project, then the sets shared with them).

    `name` is `{name}`; `version` a number, or `latest` or None for the newest; `project` is
    `?project=`: a project of the caller's (name or id), or `ORG/PROJECT` for a set another
    organization shares, which becomes the reference's `ORG/PROJECT/NAME`. Read by core's one
    parser (`parse_ref`), as the job spec and the CLI write references: a malformed one is a
    422 saying what to write."""
    at = "" if version in (None, "latest") else f"@{version}"
    if project and project.count("/") == 1:
        return _parse(f"{project}/{name}{at}"), None
    return _parse(f"{name}{at}"), project


def _find(
    session: Session,
    who: Principal,
    ref: core.Ref | str,
    project: str | None = None,
    *,
    kind: str = DATA,
) -> tuple[DatasetRow, Project]:
    """The data set (or, `kind=MODEL`, the model) a reference names, readable by the caller,
    else NotFound."""
    ref = _parse(ref) if isinstance(ref, str) else ref
    missing = {
        DATA: NotFound("data set {ref} not found; `aicc data list` shows yours", ref=str(ref)),
        MODEL: NotFound("model {ref} not found; `aicc model list` shows yours", ref=str(ref)),
        TEMPLATE: NotFound(
            "template {ref} not found; `aicc template list` shows them", ref=str(ref)
        ),
    }[kind]
    if ref.org:
        named = directory.project_ids(org_name=ref.org, name=ref.project)
        query = select(DatasetRow).where(
            DatasetRow.project_id.in_(named),
            DatasetRow.name == ref.name,
            DatasetRow.kind == kind,
        )
        hit = session.scalar(query)
        owner = directory.project(session, hit.project_id) if hit is not None else None
        if hit is None or owner is None or not readable(who, hit, owner):
            raise missing
        return hit, owner
    own = tenancy.resolve_project(session, who, project)
    row = session.scalar(
        select(DatasetRow).where(
            DatasetRow.project_id == own.id, DatasetRow.name == ref.name, DatasetRow.kind == kind
        )
    )
    if row is not None:
        return row, own
    if project is not None:
        raise missing
    candidates = session.scalars(
        select(DatasetRow).where(
            DatasetRow.name == ref.name,
            DatasetRow.kind == kind,
            DatasetRow.visibility.in_(("org", "public")),
        )
    ).all()
    owners = directory.projects(session, {d.project_id for d in candidates})
    shared = [
        (d, owners[d.project_id])
        for d in candidates
        if d.project_id in owners and readable(who, d, owners[d.project_id])
    ]
    if not shared:
        raise missing
    if len(shared) > 1:
        names = ", ".join(sorted(f"{qualified(session, p)}/{d.name}" for d, p in shared))
        raise Conflict(
            "{name} names several shared data sets ({names}); write ORG/PROJECT/NAME",
            name=ref.name,
            names=names,
        )
    return shared[0]


def find_writable(
    session: Session, who: Principal, name: str, project: str | None, *, kind: str = DATA
) -> tuple[DatasetRow, Project]:
    row, prj = _find(session, who, core.Ref(core.check_name(name)), project, kind=kind)
    if not writable(who, prj) and kind == DATA:
        raise Forbidden(
            "data set {name} is read-only for you: only its project's members change it", name=name
        )
    if not writable(who, prj) and kind == TEMPLATE:
        raise Forbidden(
            "template {name} is read-only for you: only its project's members change it", name=name
        )
    if not writable(who, prj):
        raise Forbidden(
            "model {name} is read-only for you: only its project's members change it", name=name
        )
    return row, prj


def counts(session: Session) -> tuple[int, int, int]:
    """How many data sets, models and versions (of either) the center holds (a backup's
    manifest)."""
    query = (
        select(DatasetRow.kind, func.count())
        .where(DatasetRow.kind.in_((DATA, MODEL)))
        .group_by(DatasetRow.kind)
    )
    by_kind: dict[str, int] = {kind: n for kind, n in session.execute(query)}
    versions = session.scalar(select(func.count()).select_from(DatasetVersionRow)) or 0
    return int(by_kind.get(DATA, 0)), int(by_kind.get(MODEL, 0)), int(versions)


def resolve(
    session: Session,
    who: Principal,
    ref: core.Ref | str,
    project: str | None = None,
    *,
    kind: str = DATA,
    to_write: bool = False,
) -> DatasetRef:
    """`find` (`find_writable` with `to_write`: `ref` is then a bare name) as a read model,
    for the contexts built on data sets."""
    if to_write:
        row, prj = find_writable(session, who, str(ref), project, kind=kind)
    else:
        row, prj = _find(session, who, ref, project, kind=kind)
    return _ref(session, row, prj)


def ref_by_id(session: Session, dataset_id: str) -> DatasetRef | None:
    """A data set by id, whoever asks (the caller has checked); None once it is gone."""
    row = session.get(DatasetRow, dataset_id)
    prj = directory.project(session, row.project_id) if row is not None else None
    return None if row is None or prj is None else _ref(session, row, prj)


def _ref(session: Session, row: DatasetRow, prj: Project) -> DatasetRef:
    return from_row(DatasetRef, row, project=qualified(session, prj), org_id=prj.org_id)


def republish(
    session: Session, dataset_id: str, *, visibility: str | None, licence: str | None
) -> None:
    """A later publish of a template's set (its writer checked): the visibility and licence
    when given, and the time it changed."""
    row = session.get(DatasetRow, dataset_id)
    assert row is not None
    row.visibility = visibility or row.visibility
    row.licence = licence if licence is not None else row.licence
    row.updated_at = utcnow()


def create_if_missing(
    session: Session,
    who: Principal,
    name: str,
    project: str | None,
    *,
    kind: str = DATA,
    **fields: Any,
) -> None:
    """Create the data set (or model: `kind=MODEL`) `name` in `project` (the caller's default)
    with `fields` (`create`'s) unless the caller finds one of that name already; another
    kind's name there is a 409. Writing to it is still the caller's to check
    (`find_writable`)."""
    try:
        _find(session, who, core.Ref(core.check_name(name)), project, kind=kind)
    except NotFound:
        create(session, who, project=project, name=name, kind=kind, **fields)


def stored_bytes(session: Session, dataset_id: str) -> int:
    """The distinct chunks of all the set's versions, each once: the sum of what each version
    added (a version's `added_bytes` are the chunks the set did not hold before it, and a set
    never loses a chunk while it exists), one row per version rather than one per chunk."""
    total = session.scalar(
        select(func.coalesce(func.sum(DatasetVersionRow.added_bytes), 0)).where(
            DatasetVersionRow.dataset_id == dataset_id
        )
    )
    return int(total or 0)


def version_of(row: DatasetVersionRow | Row[Any], name: str) -> DatasetVersion:
    """A version's row, or a result row with its columns (`lookups.listing`), as routes show it."""
    return from_row(
        DatasetVersion,
        row,
        name=name,
        ref=f"{name}@{row.number}",
        lineage=dict(row.lineage or {}),
        tables=dict(row.tables or {}),
    )


def latest_row(session: Session, dataset_id: str) -> DatasetVersionRow | None:
    return session.scalar(
        select(DatasetVersionRow)
        .options(defer(DatasetVersionRow.manifest))
        .where(DatasetVersionRow.dataset_id == dataset_id)
        .order_by(DatasetVersionRow.number.desc())
        .limit(1)
    )


def numbered_row(session: Session, dataset_id: str, number: int) -> DatasetVersionRow | None:
    """Version `number` of the data set, or None when it has none of that number."""
    return session.scalar(
        select(DatasetVersionRow).where(
            DatasetVersionRow.dataset_id == dataset_id, DatasetVersionRow.number == number
        )
    )


def describe(
    session: Session, who: Principal, row: DatasetRow, prj: Project, *, with_versions: bool
) -> Dataset:
    latest = latest_row(session, row.id)
    versions = (
        [version_of(v, row.name) for v in version_rows(session, row.id)] if with_versions else []
    )
    return from_row(
        Dataset,
        row,
        project=qualified(session, prj),
        tags=list(row.tags or []),
        latest=latest.number if latest else None,
        file_count=latest.file_count if latest else 0,
        logical_bytes=latest.logical_bytes if latest else 0,
        stored_bytes=stored_bytes(session, row.id),
        writable=writable(who, prj),
        rating=None,  # what people made of it: the catalog's (services/models/catalog.py)
        ratings=0,
        uses=0,
        versions=versions,
    )


def version_rows(session: Session, dataset_id: str) -> list[DatasetVersionRow]:
    """The set's versions, newest first, without their manifests."""
    return list(
        session.scalars(
            select(DatasetVersionRow)
            .options(defer(DatasetVersionRow.manifest))
            .where(DatasetVersionRow.dataset_id == dataset_id)
            .order_by(DatasetVersionRow.number.desc())
        )
    )


def _check_fields(visibility: str | None, tags: list[str] | None) -> None:
    if visibility is not None and visibility not in core.VISIBILITIES:
        raise Invalid(
            "visibility {visibility!r}: one of private, org, public", visibility=visibility
        )
    if tags is not None and (len(tags) > 32 or any(not 0 < len(t) <= 64 for t in tags)):
        raise Invalid("tags: at most 32, each 1 to 64 characters")


def _choose(who: Principal, row: DatasetRow, prj: Project, changes: dict[str, Any]) -> None:
    """Set what a set's owner chooses, at `create` and `update` alike (None: left as it is):
    checked, and the open catalog (`public`) only by an organization admin."""
    _check_fields(changes.get("visibility"), changes.get("tags"))
    publishing = changes.get("visibility") == "public" and row.visibility != "public"
    if publishing and not can_manage(who, org_id=prj.org_id):
        raise Forbidden("only organization admins publish data sets to the open catalog")
    for key in ("visibility", "description", "licence", "source", "tags"):
        if changes.get(key) is not None:
            setattr(row, key, changes[key])


def create(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    name: str,
    visibility: str = "private",
    description: str = "",
    licence: str = "",
    source: str = "",
    tags: list[str] | None = None,
    kind: str = DATA,
) -> Dataset:
    """A new data set (or model: `kind=MODEL`); data sets and models of a project share one
    name space, so a reference never names two things."""
    try:
        core.check_name(name)
    except core.DatasetError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    _check_fields(visibility, tags)
    prj = tenancy.resolve_project(session, who, project)
    if not writable(who, prj):
        raise Forbidden("viewers cannot create data sets")
    exists = session.scalar(
        select(DatasetRow.kind).where(DatasetRow.project_id == prj.id, DatasetRow.name == name)
    )
    if exists == DATA:
        raise Conflict(
            "data set {name} already exists in project {project}", name=name, project=prj.name
        )
    if exists == TEMPLATE:
        raise Conflict(
            "template {name} already exists in project {project}", name=name, project=prj.name
        )
    if exists:
        raise Conflict(
            "model {name} already exists in project {project}", name=name, project=prj.name
        )
    now = utcnow()
    row = DatasetRow(
        id=new_id(ID_PREFIXES[kind]),
        project_id=prj.id,
        kind=kind,
        name=name,
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
    )
    chosen = {
        "visibility": visibility,
        "description": description,
        "licence": licence,
        "source": source,
        "tags": list(tags or []),
    }
    _choose(who, row, prj, chosen)
    session.add(row)
    session.flush()
    audit.record(session, who, f"{kind}.create", kind, row.id, org_id=prj.org_id)
    return describe(session, who, row, prj, with_versions=False)


def update(
    session: Session,
    who: Principal,
    name: str,
    *,
    project: str | None,
    changes: dict[str, Any],
    kind: str = DATA,
) -> Dataset:
    row, prj = find_writable(session, who, name, project, kind=kind)
    _choose(who, row, prj, changes)
    if changes.get("region") is not None:
        row.region = changes["region"] or None
    row.updated_at = utcnow()
    audit.record(session, who, f"{kind}.update", kind, row.id, org_id=prj.org_id)
    return describe(session, who, row, prj, with_versions=False)


def get(
    session: Session,
    who: Principal,
    ref: str,
    *,
    project: str | None = None,
    kind: str = DATA,
    with_versions: bool = True,
) -> Dataset:
    """The data set (or, `kind=MODEL`, the model) a reference names, readable by the caller,
    else NotFound."""
    row, prj = _find(session, who, ref, project, kind=kind)
    return describe(session, who, row, prj, with_versions=with_versions)


def list_datasets(
    session: Session,
    who: Principal,
    *,
    project: str | None = None,
    scope: str = "project",
    kind: str = DATA,
) -> list[Dataset]:
    """`project`: one project's sets; `visible`: every set the caller reads; `public`: the open
    data catalog."""
    query = select(DatasetRow).where(DatasetRow.kind == kind)
    if scope == "project":
        prj = tenancy.resolve_project(session, who, project)
        query = query.where(DatasetRow.project_id == prj.id)
    elif scope == "public":
        query = query.where(DatasetRow.visibility == "public")
    elif scope == "visible":
        query = query.where(
            or_(
                DatasetRow.visibility == "public",
                DatasetRow.project_id.in_(directory.project_ids(org_id=who.org_id)),
                DatasetRow.project_id.in_(who.project_ids),
            )
            if not who.is_admin
            else DatasetRow.id.is_not(None)
        )
    else:
        raise Invalid("scope {scope!r}: one of project, visible, public", scope=scope)
    rows = session.scalars(query.order_by(DatasetRow.name, DatasetRow.id)).all()
    owners = directory.projects(session, {d.project_id for d in rows})
    return [
        describe(session, who, d, owners[d.project_id], with_versions=False)
        for d in rows
        if d.project_id in owners and readable(who, d, owners[d.project_id])
    ]


def versions(
    session: Session, who: Principal, ref: str, *, project: str | None = None
) -> list[DatasetVersion]:
    row, _ = _find(session, who, ref, project)
    return [version_of(v, row.name) for v in version_rows(session, row.id)]


def version_row(
    session: Session,
    who: Principal,
    ref: str | core.Ref,
    *,
    project: str | None = None,
    kind: str = DATA,
) -> tuple[DatasetRow, DatasetVersionRow]:
    row, _, version = _found_version(session, who, ref, project=project, kind=kind)
    return row, version


def _found_version(
    session: Session,
    who: Principal,
    ref: str | core.Ref,
    *,
    project: str | None = None,
    kind: str = DATA,
) -> tuple[DatasetRow, Project, DatasetVersionRow]:
    """`version_row`, with the set's project (data's own lookups make read models of them)."""
    parsed = _parse(ref) if isinstance(ref, str) else ref
    row, prj = _find(session, who, parsed, project, kind=kind)
    if parsed.version is None:
        version = latest_row(session, row.id)
        if version is None:
            raise NotFound("data set {name} has no version yet; push one", name=row.name)
    else:
        version = numbered_row(session, row.id, parsed.version)
        if version is None:
            raise NotFound("{ref} not found: no such version", ref=str(parsed))
    return row, prj, version


def manifest_of(version: DatasetVersionRow) -> core.Manifest:
    return core.Manifest.from_json(json.loads(gzip.decompress(version.manifest)))


def open_version(
    session: Session,
    who: Principal,
    ref: str | core.Ref,
    *,
    project: str | None = None,
    kind: str = DATA,
) -> tuple[DatasetVersion, core.Manifest]:
    """A version the caller may read, with its files."""
    row, version = version_row(session, who, ref, project=project, kind=kind)
    return version_of(version, row.name), manifest_of(version)


def files_of(manifest: core.Manifest) -> list[ManifestFile]:
    """A manifest's files and their chunks as pulls read them."""
    return [
        ManifestFile(path=f.path, size=f.size, chunks=[(c.digest, c.size) for c in f.chunks])
        for f in manifest.files
    ]


def version_manifest(
    session: Session,
    who: Principal,
    ref: str | core.Ref,
    *,
    project: str | None = None,
    kind: str = DATA,
) -> Manifest:
    """A version's manifest as pulls read it (data sets', models')."""
    version, manifest = open_version(session, who, ref, project=project, kind=kind)
    return Manifest(ref=version.ref, digest=manifest.digest, files=files_of(manifest))


def chunk(
    session: Session,
    who: Principal,
    store: ChunkStore,
    ref: core.Ref,
    digest: str,
    *,
    project: str | None = None,
    kind: str = DATA,
) -> bytes:
    """One chunk of a set the caller reads, checked; NotFound unless a version of it uses it."""
    row, _ = _find(session, who, ref, project, kind=kind)
    used = session.scalar(
        select(DatasetChunkRow.size).where(
            DatasetChunkRow.dataset_id == row.id, DatasetChunkRow.digest == digest
        )
    )
    if used is None:
        raise NotFound(
            "chunk {digest} is not part of data set {name}", digest=digest, name=row.name
        )
    return chunks.reader(session, store, [digest]).get(digest)


def drop_upload(session: Session, upload_id: str) -> None:
    """Drop an upload and what it holds: its chunks' rows, and the files and parts S3 writers
    staged in it (`s3writes`). The chunks themselves are the janitor's (`uploads.collect`)."""
    multiparts = select(S3MultipartRow.id).where(S3MultipartRow.upload_id == upload_id)
    session.execute(sql_delete(S3PartRow).where(S3PartRow.multipart_id.in_(multiparts)))
    session.execute(sql_delete(S3MultipartRow).where(S3MultipartRow.upload_id == upload_id))
    session.execute(sql_delete(S3StagedRow).where(S3StagedRow.upload_id == upload_id))
    session.execute(sql_delete(UploadChunkRow).where(UploadChunkRow.upload_id == upload_id))
    session.execute(sql_delete(UploadRow).where(UploadRow.id == upload_id))


VersionIds = Select[str]  # a select of a set's version ids


def delete(
    session: Session,
    who: Principal,
    name: str,
    *,
    project: str | None,
    kind: str = DATA,
    extended: Callable[[Session, VersionIds], object] | None = None,
) -> None:
    """Remove a data set (or model) and its versions. Chunks no set refers to any more are
    collected by the janitor (`uploads.collect`), after this commits. `extended`: how the
    caller's context drops what its own tables add to these versions (a model's or template's,
    services/models), given a select of their ids, before the versions go."""
    row, prj = find_writable(session, who, name, project, kind=kind)
    for upload_id in session.scalars(select(UploadRow.id).where(UploadRow.dataset_id == row.id)):
        drop_upload(session, upload_id)
    session.execute(sql_delete(DatasetChunkRow).where(DatasetChunkRow.dataset_id == row.id))
    session.execute(sql_delete(DatasetMountRow).where(DatasetMountRow.dataset_id == row.id))
    versions = select(DatasetVersionRow.id).where(DatasetVersionRow.dataset_id == row.id)
    if extended is not None:
        extended(session, versions)
    session.execute(sql_delete(DatasetVersionRow).where(DatasetVersionRow.dataset_id == row.id))
    session.delete(row)
    storage.changed(session, prj.id)  # billing stops here, not when the janitor collects
    audit.record(session, who, f"{kind}.delete", kind, row.id, org_id=prj.org_id)
