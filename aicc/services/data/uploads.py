"""Pushing a version: a resumable upload of the chunks the project lacks, then a commit.

1. `begin` names the new version's chunks and answers those the project must still send. A
   chunk counts as held only when a data set of the same project refers to it, or this upload
   received it: a tenant learns nothing of what other tenants stored, and must prove it has the
   bytes even when the center already stores them (they are then kept once).
2. `receive` takes a batch of chunks (`core.datasets.frame`), checks each digest and stores
   it; what arrived survives a broken connection, so the next `begin` resumes from there.
3. `commit` takes the manifest (itself uploaded as chunks, so it has no size limit) and makes
   version N+1 in one transaction, or answers the latest version when nothing changed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.services import audit
from aicc.services.common import Conflict, Invalid, NotFound, new_id, utcnow
from aicc.services.data import datasets
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables import (
    ChunkRow,
    DatasetChunkRow,
    DatasetRow,
    DatasetVersionRow,
    UploadChunkRow,
    UploadRow,
)

_BATCH = 500  # digests per IN (...) query
STALE = timedelta(days=2)  # an upload untouched this long is dropped with its chunks


@dataclass(frozen=True)
class UploadPlan:
    upload_id: str
    dataset: str
    missing: list[str]  # digests to send, in the order asked


@dataclass(frozen=True)
class Received:
    chunks: int
    bytes: int


@dataclass(frozen=True)
class Committed:
    version: datasets.DatasetVersion
    created: bool  # false: the manifest equals the latest version's, nothing was made


def _batches(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


def held(
    session: Session, project_id: str, upload_id: str | None, digests: Sequence[str]
) -> set[str]:
    """Which of `digests` the project may use: referred to by one of its data sets, or received
    by this upload."""
    found: set[str] = set()
    for part in _batches(list(dict.fromkeys(digests))):
        found.update(
            session.scalars(
                select(DatasetChunkRow.digest)
                .join(DatasetRow, DatasetRow.id == DatasetChunkRow.dataset_id)
                .where(DatasetRow.project_id == project_id, DatasetChunkRow.digest.in_(part))
            )
        )
        if upload_id:
            found.update(
                session.scalars(
                    select(UploadChunkRow.digest).where(
                        UploadChunkRow.upload_id == upload_id, UploadChunkRow.digest.in_(part)
                    )
                )
            )
    return found


def begin(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    name: str,
    digests: Sequence[str],
    create: dict[str, Any] | None = None,
) -> UploadPlan:
    """Start (or resume) the caller's upload to `name`, creating the set when `create` is given
    and it does not exist yet."""
    try:
        row, prj = datasets.find_writable(session, who, name, project)
    except NotFound:
        if create is None:
            raise
        datasets.create(session, who, project=project, name=name, **create)
        row, prj = datasets.find_writable(session, who, name, project)
    bad = next((d for d in digests if not core.DIGEST.match(d)), None)
    if bad is not None:
        raise Invalid("chunk digest {digest!r}: 64 lowercase hex characters", digest=bad[:80])
    upload = session.scalar(
        select(UploadRow)
        .where(UploadRow.dataset_id == row.id, UploadRow.created_by == who.user_id)
        .order_by(UploadRow.created_at.desc())
        .limit(1)
    )
    now = utcnow()
    if upload is None:
        upload = UploadRow(
            id=new_id("upl"),
            dataset_id=row.id,
            created_by=who.user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(upload)
        session.flush()
    else:
        upload.updated_at = now
    have = held(session, prj.id, upload.id, digests)
    missing = [d for d in dict.fromkeys(digests) if d not in have]
    return UploadPlan(upload_id=upload.id, dataset=row.name, missing=missing)


def _upload(session: Session, who: Principal, upload_id: str) -> tuple[UploadRow, DatasetRow]:
    upload = session.get(UploadRow, upload_id)
    if upload is None or upload.created_by != who.user_id:
        raise NotFound("upload {upload_id} not found; begin the push again", upload_id=upload_id)
    row = session.get(DatasetRow, upload.dataset_id)
    assert row is not None
    return upload, row


def _insert_new(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping rows whose key exists (two pushes may bring the same chunk at once)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    else:
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        session.execute(lite_insert(table).on_conflict_do_nothing(), rows)


def receive(
    session: Session, who: Principal, store: ChunkStore, upload_id: str, body: bytes
) -> Received:
    upload, _ = _upload(session, who, upload_id)
    try:
        frames = core.unframe(body)
    except core.DatasetError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    for name, data in frames:
        if core.digest(data) != name:
            raise Invalid(
                "chunk {digest} does not match its bytes; it was damaged on the way, send it again",
                digest=name,
            )
    names = [n for n, _ in frames]
    stored: set[str] = set()
    for part in _batches(names):
        stored.update(session.scalars(select(ChunkRow.digest).where(ChunkRow.digest.in_(part))))
    now = utcnow()
    for name, data in frames:
        if name not in stored:
            store.put(name, bytes(data))
    _insert_new(
        session,
        ChunkRow.__table__,
        [{"digest": n, "size": len(d), "created_at": now} for n, d in frames if n not in stored],
    )
    _insert_new(
        session,
        UploadChunkRow.__table__,
        [{"upload_id": upload.id, "digest": n, "size": len(d)} for n, d in frames],
    )
    upload.updated_at = now
    return Received(chunks=len(frames), bytes=sum(len(d) for _, d in frames))


def _manifest(
    session: Session, store: ChunkStore, upload: UploadRow, project_id: str, parts: list[Any]
) -> core.Manifest:
    try:
        chunks = [core.Chunk(*p) for p in parts]
        if not all(isinstance(c.digest, str) and core.DIGEST.match(c.digest) for c in chunks):
            raise TypeError
    except TypeError:
        raise Invalid("manifest: a list of [digest, size] chunks") from None
    lacking = [
        c.digest
        for c in chunks
        if c.digest not in held(session, project_id, upload.id, [c.digest for c in chunks])
    ]
    if lacking:
        raise Conflict("the manifest's chunks were not uploaded: {digest}", digest=lacking[0])
    raw = b"".join(store.get(c.digest) for c in chunks)
    try:
        return core.Manifest.from_json(json.loads(raw))
    except ValueError as e:  # DatasetError, JSON or UTF-8 errors
        raise Invalid("manifest: {problem}", problem=str(e)[:500]) from None


def commit(
    session: Session,
    who: Principal,
    store: ChunkStore,
    upload_id: str,
    *,
    manifest_chunks: list[Any],
    message: str = "",
    lineage: dict[str, Any] | None = None,
) -> Committed:
    upload, row = _upload(session, who, upload_id)
    manifest = _manifest(session, store, upload, row.project_id, manifest_chunks)
    return make_version(
        session, who, row, manifest, upload_id=upload.id, message=message, lineage=lineage
    )


def make_version(
    session: Session,
    who: Principal,
    row: DatasetRow,
    manifest: core.Manifest,
    *,
    upload_id: str | None,
    message: str = "",
    lineage: dict[str, Any] | None = None,
) -> Committed:
    """Version N+1 of `row` with these files, every chunk of which the project holds."""
    sizes = manifest.chunk_sizes()
    have = held(session, row.project_id, upload_id, list(sizes))
    lacking = [d for d in sizes if d not in have]
    if lacking:
        raise Conflict(
            "{count} chunks of this version were not uploaded (first: {digest}); push again",
            count=len(lacking),
            digest=lacking[0],
        )
    latest = datasets.latest_row(session, row.id)
    if latest is not None and latest.manifest_digest == manifest.digest and not lineage:
        _close(session, upload_id)
        return Committed(datasets.version_of(latest, row.name), created=False)
    known: set[str] = set()
    for part in _batches(list(sizes)):
        known.update(
            session.scalars(
                select(DatasetChunkRow.digest).where(
                    DatasetChunkRow.dataset_id == row.id, DatasetChunkRow.digest.in_(part)
                )
            )
        )
    new = {d: s for d, s in sizes.items() if d not in known}
    _insert_new(
        session,
        DatasetChunkRow.__table__,
        [{"dataset_id": row.id, "digest": d, "size": s} for d, s in new.items()],
    )
    now = utcnow()
    version = DatasetVersionRow(
        id=new_id("dsv"),
        dataset_id=row.id,
        number=(latest.number if latest else 0) + 1,
        manifest=gzip.compress(manifest.encode(), compresslevel=5),
        manifest_digest=manifest.digest,
        file_count=len(manifest.files),
        logical_bytes=manifest.size,
        added_bytes=sum(new.values()),
        message=message,
        lineage=dict(lineage or {}),
        tables={},
        created_by=who.user_id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        raise Conflict(
            "another push made version {number} of {name} meanwhile; push again",
            number=version.number,
            name=row.name,
        ) from None
    row.updated_at = now
    _close(session, upload_id)
    audit.record(session, who, "dataset.push", "dataset", f"{row.id}@{version.number}")
    return Committed(datasets.version_of(version, row.name), created=True)


def _close(session: Session, upload_id: str | None) -> None:
    if upload_id is None:
        return
    session.execute(delete(UploadChunkRow).where(UploadChunkRow.upload_id == upload_id))
    session.execute(delete(UploadRow).where(UploadRow.id == upload_id))


def collect(session: Session, *, now: datetime | None = None) -> list[str]:
    """Drop uploads untouched for `STALE`, then forget chunks nothing refers to any more (and
    older than `STALE`, so a push in flight keeps its chunks). Returns their digests, for the
    caller to delete from the chunk store once this commits."""
    cutoff = (now or utcnow()) - STALE
    for upload_id in session.scalars(select(UploadRow.id).where(UploadRow.updated_at < cutoff)):
        _close(session, upload_id)
    orphans = list(
        session.scalars(
            select(ChunkRow.digest).where(
                ChunkRow.created_at < cutoff,
                ~exists().where(DatasetChunkRow.digest == ChunkRow.digest),
                ~exists().where(UploadChunkRow.digest == ChunkRow.digest),
            )
        )
    )
    for part in _batches(orphans):
        session.execute(delete(ChunkRow).where(ChunkRow.digest.in_(part)))
    return orphans


INGEST_BATCH = 8 * 1024 * 1024  # bytes of chunks received at once by `ingest`


def ingest(
    session: Session,
    who: Principal,
    store: ChunkStore,
    name: str,
    project: str | None,
    files: Iterable[tuple[str, bytes | BinaryIO]],
    message: str = "",
    *,
    keep: bool = False,
    lineage: dict[str, Any] | None = None,
) -> Committed:
    """The next version of data set `name` from whole files, chunked here on the server (a
    browser's upload): received as a client's push is, a batch of chunks at a time, so they
    are stored and held alike. `keep`: the latest version's other files stay (a file of the
    same path is replaced), else the version is exactly `files`."""
    row, _ = datasets.find_writable(session, who, name, project)
    now = utcnow()
    upload = UploadRow(
        id=new_id("upl"), dataset_id=row.id, created_by=who.user_id, created_at=now, updated_at=now
    )
    session.add(upload)
    session.flush()
    entries: dict[str, core.FileEntry] = {}
    batch: list[tuple[str, bytes]] = []
    pending = 0  # bytes in `batch`
    for path, content in files:
        try:
            path = core.check_path(path)
        except core.DatasetError as e:
            raise Invalid("{problem}", problem=str(e)) from None
        if path in entries:
            raise Invalid("path {path} appears twice in the upload", path=path)
        data = content if isinstance(content, bytes) else content.read()
        pieces = core.cut(data)
        offset = 0
        for c in pieces:
            batch.append((c.digest, data[offset : offset + c.size]))
            offset += c.size
            pending += c.size
            if pending >= INGEST_BATCH:
                receive(session, who, store, upload.id, b"".join(core.frame(batch)))
                batch, pending = [], 0
        entries[path] = core.FileEntry(path, len(data), tuple(pieces))
    if batch:
        receive(session, who, store, upload.id, b"".join(core.frame(batch)))
    if not entries:
        raise Invalid("files: choose at least one file to upload")
    latest = datasets.latest_row(session, row.id)
    if keep and latest is not None:
        for old in datasets.manifest_of(latest).files:
            entries.setdefault(old.path, old)
    try:
        manifest = core.Manifest.of(entries.values())
    except core.DatasetError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    return make_version(
        session, who, row, manifest, upload_id=upload.id, message=message, lineage=lineage
    )
