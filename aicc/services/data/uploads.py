"""Pushing a version: a resumable upload of the chunks the project lacks, then a commit.

1. `begin` names the new version's chunks and answers those the project must still send. A
   chunk counts as held only when a data set of the same project refers to it, or this upload
   received it: a tenant learns nothing of what other tenants stored, and must prove it has the
   bytes even when the center already stores them (they are then kept once).
2. `receive` takes a batch of chunks (`core.datasets.frame`), checks each digest and stores
   it; what arrived survives a broken connection, so the next `begin` resumes from there.
3. `commit` takes the manifest (itself uploaded as chunks) and makes version N+1 in one
   transaction, or answers the latest version when nothing changed.

Where the bytes are, every step is bounded (issue 35): received chunks count against the
project's storage quota the moment they arrive (`storage.pending_bytes`, checked and counted in
one step), an upload receives no more than its `begin` calls asked for (`declared_bytes`: the
chunks they answered missing, at their declared sizes or else the largest a chunk may be), and
an upload left
uncommitted is dropped with them after `STALE`, hours (`janitor.collect`'s `upload_expiry`); a
manifest is at most `MAX_MANIFEST_BYTES` however its chunks repeat, read into one buffer, never
a list of copies; a version lists one chunk at most `MAX_REPEATS` times, and its logical size
(repeats counted) is held to the quota as well (`storage.check_room`).
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.executors.jobfiles import JobFiles
from aicc.services.common import Conflict, Invalid, NotFound, TooLarge, new_id, utcnow
from aicc.services.data import chunks, datasets, manifests, storage, tablefiles
from aicc.services.data.views import Committed, DatasetRef, Received, UploadPlan
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.chunkstore import ChunkSource, ChunkStore
from aicc.store.tables.data import (
    ChunkRow,
    DatasetChunkRow,
    DatasetRow,
    DatasetVersionRow,
    UploadChunkRow,
    UploadRow,
)

DESCRIBE_TEXT_BYTES = 256 * 1024 * 1024
STALE = timedelta(hours=6)  # an upload untouched this long is dropped with its chunks
# A manifest's encoded size, its chunks' repeats counted: about 400,000 files or 900,000 chunks.
# A commit holds it parsed (compactly, `manifests.py`), so this bounds the commit's memory (a few
# times this); a larger tree is pushed as several data sets.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# How often one version may list one chunk: a file of zeros is one chunk repeated (64 GiB of
# zeros at the largest chunk); the repeats are counted in the version's logical size, which the
# storage quota holds.
MAX_REPEATS = 65_536
INSERT_ROWS = 10_000  # rows of a version's new chunks inserted at once


def held(
    session: Session, project_id: str, upload_id: str | None, digests: Sequence[str]
) -> set[str]:
    """Which of `digests` the project may use: referred to by one of its data sets, or received
    by this upload."""
    found: set[str] = set()
    for _, held_here in _held_parts(session, project_id, upload_id, list(dict.fromkeys(digests))):
        found |= held_here
    return found


def _held_parts(
    session: Session, project_id: str, upload_id: str | None, distinct: Sequence[str]
) -> Iterator[tuple[Sequence[str], set[str]]]:
    """`held`, a batch of `distinct` (digests, each once) at a time with those of it held: a
    version's hundreds of thousands of chunks are never one set (issue 35, commit memory)."""
    for part in chunks.batches(distinct):
        found = set(
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
        yield part, found


def new_upload(
    who: Principal, dataset_id: str, now: datetime, *, source: str | None = None
) -> UploadRow:
    """A new upload by the caller to data set `dataset_id`: a push's, or (`source`) an S3
    writer's staging (`s3writes`)."""
    return UploadRow(
        id=new_id("upl"),
        dataset_id=dataset_id,
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
        source=source,
    )


def begin(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    name: str,
    digests: Sequence[str],
    sizes: Sequence[int] | None = None,
    create: dict[str, Any] | None = None,
) -> UploadPlan:
    """Start (or resume) the caller's upload to `name`, creating the set when `create` is given
    and it does not exist yet. With `sizes` (one per digest), a push that would take the
    project past its storage quota is refused here, before any byte is sent."""
    if create is not None:  # a push makes the set in the caller's project, whatever is shared
        project = tenancy.resolve_project(session, who, project).id
        datasets.create_if_missing(session, who, name, project, **create)
    row, prj = datasets.find_writable(session, who, name, project)
    bad = next((d for d in digests if not core.DIGEST.match(d)), None)
    if bad is not None:
        raise Invalid("chunk digest {digest!r}: 64 lowercase hex characters", digest=bad[:80])
    if sizes is not None and (
        len(sizes) != len(digests) or not all(0 < s <= core.MAX_CHUNK for s in sizes)
    ):
        raise Invalid("sizes: one per chunk, each 1 to {max} bytes", max=core.MAX_CHUNK)
    upload = session.scalar(
        select(UploadRow)
        .where(
            UploadRow.dataset_id == row.id,
            UploadRow.created_by == who.user_id,
            UploadRow.source.is_(None),  # never an S3 writer's staging (`s3writes`)
        )
        .order_by(UploadRow.created_at.desc())
        .limit(1)
    )
    now = utcnow()
    if upload is None:
        upload = new_upload(who, row.id, now)
        session.add(upload)
        session.flush()
    else:
        upload.updated_at = now
    have = held(session, prj.id, upload.id, digests)
    missing = [d for d in dict.fromkeys(digests) if d not in have]
    if sizes is not None:
        adding = dict(zip(digests, sizes, strict=True))
        asked = sum(adding[d] for d in missing)
        storage.check_room(session, prj.id, unheld(session, prj.id, adding))
    else:
        asked = len(missing) * core.MAX_CHUNK
    # A push begins in batches of digests, and a resumed one begins again: each call adds what
    # it asked for, and the quota bounds them all together.
    upload.declared_bytes = (upload.declared_bytes or 0) + asked
    return UploadPlan(upload_id=upload.id, dataset=row.name, missing=missing)


def unheld(session: Session, project_id: str, sizes: dict[str, int]) -> int:
    """The bytes of `sizes` (digest: size) that would be new to the project's storage: chunks
    none of its sets refers to and none of its uploads has received (those count already)."""
    adding = 0
    for part, counted in _held_parts(session, project_id, None, list(sizes)):
        rest = [d for d in part if d not in counted]
        if rest:
            counted.update(
                session.scalars(
                    select(UploadChunkRow.digest)
                    .join(UploadRow, UploadRow.id == UploadChunkRow.upload_id)
                    .join(DatasetRow, DatasetRow.id == UploadRow.dataset_id)
                    .where(DatasetRow.project_id == project_id, UploadChunkRow.digest.in_(rest))
                )
            )
        adding += sum(sizes[d] for d in part if d not in counted)
    return adding


def ingest_directory(
    session: Session,
    who: Principal,
    store: ChunkStore,
    row: DatasetRow,
    root: Path,
    *,
    message: str = "",
    lineage: dict[str, Any] | None = None,
    leave_out: frozenset[str] = frozenset(),
) -> Committed:
    """Push a directory the server holds (a job's outputs) as the next version of `row`."""
    files = files_under(root, leave_out)
    return ingest_into(session, who, store, row, files, message, lineage=lineage)


def ingest_into(
    session: Session,
    who: Principal,
    store: ChunkStore,
    row: DatasetRow | DatasetRef,
    files: Iterable[tuple[str, bytes | BinaryIO]],
    message: str = "",
    *,
    lineage: dict[str, Any] | None = None,
) -> Committed:
    """`ingest` into the set `row` itself (a job's output set, which the job names by id):
    its name in its own project, of its kind."""
    return ingest(
        session,
        who,
        store,
        row.name,
        row.project_id,
        files,
        message,
        lineage=lineage,
        kind=row.kind,
    )


def files_under(
    root: Path, leave_out: frozenset[str] = frozenset()
) -> Iterator[tuple[str, BinaryIO]]:
    """The regular files under `root` (a job's outputs), as (relative path, open file), in
    order, opened through the guard of job-written files (`jobfiles.Refused` for a link, a
    FIFO, sizes)."""
    yield from JobFiles(root).contents(leave_out)


def _upload(session: Session, who: Principal, upload_id: str) -> tuple[UploadRow, DatasetRow]:
    """The caller's upload, its row locked until the transaction ends (PostgreSQL): receiving
    into it and committing it are one at a time, and lock it before the quota's rows
    (`storage.check_room`), always in that order."""
    upload = session.get(UploadRow, upload_id, with_for_update=True)
    if upload is None or upload.created_by != who.user_id:
        raise NotFound("upload {upload_id} not found; begin the push again", upload_id=upload_id)
    row = session.get(DatasetRow, upload.dataset_id)
    assert row is not None
    return upload, row


def receive(
    session: Session, who: Principal, store: ChunkStore, upload_id: str, body: bytes
) -> Received:
    """Keep a batch of chunks for the upload. The chunks new to the project count against its
    storage quota from now on: a batch that would pass it is refused (413) before it is kept."""
    upload, row = _upload(session, who, upload_id)
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
    sizes = {name: len(data) for name, data in frames}
    _check_declared(session, upload, sizes)
    storage.check_room(session, row.project_id, unheld(session, row.project_id, sizes))
    now = utcnow()
    chunks.store_batch(session, store, frames)
    chunks.insert_new(
        session,
        UploadChunkRow.__table__,
        [{"upload_id": upload.id, "digest": n, "size": len(d)} for n, d in frames],
    )
    upload.updated_at = now
    return Received(chunks=len(frames), bytes=sum(len(d) for _, d in frames))


def _check_declared(session: Session, upload: UploadRow, sizes: dict[str, int]) -> None:
    """Refuse (413) chunks that would take the upload past the bytes its `begin` calls asked
    for; chunks it has received already (a batch sent again) add nothing."""
    if upload.declared_bytes is None:
        return
    again: set[str] = set()
    for part in chunks.batches(list(sizes)):
        again.update(
            session.scalars(
                select(UploadChunkRow.digest).where(
                    UploadChunkRow.upload_id == upload.id, UploadChunkRow.digest.in_(part)
                )
            )
        )
    adding = sum(s for d, s in sizes.items() if d not in again)
    if not adding:
        return
    received = session.scalar(
        select(func.coalesce(func.sum(UploadChunkRow.size), 0)).where(
            UploadChunkRow.upload_id == upload.id
        )
    )
    if int(received or 0) + adding > upload.declared_bytes:
        raise TooLarge(
            "upload {upload_id} would receive {received} bytes, more than the {declared} "
            "bytes its begin asked for; begin again naming the chunks you send, with their "
            "sizes, then send them",
            upload_id=upload.id,
            received=int(received or 0) + adding,
            declared=upload.declared_bytes,
        )


def _manifest(
    session: Session, store: ChunkStore, upload: UploadRow, project_id: str, parts: list[Any]
) -> core.Manifest:
    try:
        pieces = [core.Chunk(*p) for p in parts]
        if not all(isinstance(c.digest, str) and core.DIGEST.match(c.digest) for c in pieces):
            raise TypeError
    except TypeError:
        raise Invalid("manifest: a list of [digest, size] chunks") from None
    names = [c.digest for c in pieces]
    claimed = sum(c.size for c in pieces)  # each repeat counted: it is read each time
    if claimed > MAX_MANIFEST_BYTES:
        raise TooLarge(
            "manifest: {size} bytes in {count} chunks, more than the {most} a commit reads; "
            "push the tree as several data sets (one per top folder, say)",
            size=claimed,
            count=len(pieces),
            most=MAX_MANIFEST_BYTES,
        )
    have = held(session, project_id, upload.id, names)
    lacking = [d for d in names if d not in have]
    if lacking:
        raise Conflict("the manifest's chunks were not uploaded: {digest}", digest=lacking[0])
    _check_sizes(session, {c.digest: c.size for c in pieces})
    source = chunks.reader(session, store, names)
    raw = bytearray()
    for d in names:
        raw += source.get(d)
    try:
        text = raw.decode("utf-8")
        del raw  # one copy of the manifest's text at a time
        return manifests.parse(text)
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
    return _version_of_upload(session, who, store, row, manifest, upload.id, message, lineage)


def _version_of_upload(
    session: Session,
    who: Principal,
    store: ChunkStore,
    row: DatasetRow,
    manifest: core.Manifest,
    upload_id: str,
    message: str,
    lineage: dict[str, Any] | None,
) -> Committed:
    """`make_version` of the files an upload sent, its table files described from the store."""
    return make_version(
        session,
        who,
        row,
        manifest,
        upload_id=upload_id,
        message=message,
        lineage=lineage,
        source=chunks.reader(session, store),
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
    source: ChunkSource | None = None,
) -> Committed:
    """Version N+1 of `row` with these files, every chunk of which the project holds, within
    the project's storage quota; with a `source` of chunks, its table files are described
    (schema, rows)."""
    sizes = manifest.chunk_sizes()
    _check_held(session, row.project_id, upload_id, sizes)
    _check_sizes(session, sizes)
    check_repeats(manifest)
    latest = datasets.latest_row(session, row.id)
    encoded = manifests.encode(manifest)  # once, file by file: tens of MiB at the cap
    manifest_digest = core.digest(memoryview(encoded))
    if latest is not None and latest.manifest_digest == manifest_digest and not lineage:
        _close(session, upload_id)
        return Committed(version=datasets.version_of(latest, row.name), created=False)
    stored = gzip.compress(encoded, compresslevel=5)
    del encoded
    new = _new_chunks(session, row.id, sizes)
    del sizes
    storage.check_room(
        session,
        row.project_id,
        unheld(session, row.project_id, new),
        version=(row.id, manifest_digest, manifest.size),
    )
    _insert_chunks(session, row.id, new)
    now = utcnow()
    version = DatasetVersionRow(
        id=new_id("dsv"),
        dataset_id=row.id,
        number=(latest.number if latest else 0) + 1,
        manifest=stored,
        manifest_digest=manifest_digest,
        file_count=len(manifest.files),
        logical_bytes=manifest.size,
        added_bytes=sum(new.values()),
        message=message,
        lineage=dict(lineage or {}),
        tables=tables(source, latest, manifest) if source else {},
        created_by=who.user_id,
        created_at=now,
    )
    _add_version(session, version, row.name)
    row.updated_at = now
    _close(session, upload_id)
    storage.changed(session, row.project_id)
    project = directory.project(session, row.project_id)  # the set's, not the caller's
    assert project is not None
    org_id = project.org_id
    version_id = f"{row.id}@{version.number}"
    audit.record(session, who, f"{row.kind}.push", row.kind, version_id, org_id=org_id)
    return Committed(version=datasets.version_of(version, row.name), created=True)


def _check_held(
    session: Session, project_id: str, upload_id: str | None, sizes: dict[str, int]
) -> None:
    """Refuse (409) a version naming chunks the project does not hold (nor the upload sent)."""
    parts = _held_parts(session, project_id, upload_id, list(sizes))
    lacking = [d for part, have in parts for d in part if d not in have]
    if lacking:
        raise Conflict(
            "{count} chunks of this version were not uploaded (first: {digest}); push again",
            count=len(lacking),
            digest=lacking[0],
        )


def _new_chunks(session: Session, dataset_id: str, sizes: dict[str, int]) -> dict[str, int]:
    """The chunks of `sizes` (digest: size) that no version of the set listed before."""
    new: dict[str, int] = {}
    for part in chunks.batches(list(sizes)):
        known = set(
            session.scalars(
                select(DatasetChunkRow.digest).where(
                    DatasetChunkRow.dataset_id == dataset_id, DatasetChunkRow.digest.in_(part)
                )
            )
        )
        new.update((d, sizes[d]) for d in part if d not in known)
    return new


def _insert_chunks(session: Session, dataset_id: str, new: dict[str, int]) -> None:
    """The set's rows of its new chunks, `INSERT_ROWS` at a time (a row's dict is ~200 bytes:
    not all at once)."""
    fresh = list(new.items())
    for at in range(0, len(fresh), INSERT_ROWS):
        chunks.insert_new(
            session,
            DatasetChunkRow.__table__,
            [
                {"dataset_id": dataset_id, "digest": d, "size": s}
                for d, s in fresh[at : at + INSERT_ROWS]
            ],
        )


def _add_version(session: Session, version: DatasetVersionRow, name: str) -> None:
    """Add the version row; a concurrent push that took its number first is a 409."""
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        raise Conflict(
            "another push made version {number} of {name} meanwhile; push again",
            number=version.number,
            name=name,
        ) from None


def tables(
    source: ChunkSource, latest: DatasetVersionRow | None, manifest: core.Manifest
) -> dict[str, Any]:
    """Schema and rows of each table file: kept from the previous version for files that did
    not change, read for the others (Parquet from its footer; text tables counted, up to
    `DESCRIBE_TEXT_BYTES` each, so a commit stays quick)."""
    before = dict(latest.tables or {}) if latest else {}
    old = {}
    if latest is not None and before:  # the previous files read only when it described tables
        listed = manifests.parse(gzip.decompress(latest.manifest))
        old = {f.path: f.digest for f in listed.files if f.path in before}
    kept, todo = {}, []
    for f in manifest.files:
        fmt = tablefiles.table_format(f.path)
        if fmt is None:
            continue
        if f.path in before and old.get(f.path) == f.digest:
            kept[f.path] = before[f.path]
        elif fmt == "parquet" or f.size <= DESCRIBE_TEXT_BYTES:
            todo.append(f)
    return kept | tablefiles.describe_tables(source, core.Manifest(tuple(todo)))


def check_repeats(manifest: core.Manifest) -> None:
    """Refuse a version that lists one chunk more than `MAX_REPEATS` times (422)."""
    seen: Counter[str] = Counter()
    for f in manifest.files:
        seen.update(c.digest for c in f.chunks)
    if not seen:
        return
    digest, count = seen.most_common(1)[0]
    if count > MAX_REPEATS:
        raise Invalid(
            "manifest: chunk {digest} is listed {count} times, more than the {most} one "
            "version may repeat a chunk; split the repeated file or compress it",
            digest=digest,
            count=count,
            most=MAX_REPEATS,
        )


def _check_sizes(session: Session, sizes: dict[str, int]) -> None:
    """The manifest's chunk sizes must be the stored ones: they are what the project is billed
    for and limited by, and what a pull reads."""
    for part in chunks.batches(list(sizes)):
        for name, size in session.execute(
            select(ChunkRow.digest, ChunkRow.size).where(ChunkRow.digest.in_(part))
        ):
            if sizes[name] != size:
                raise Invalid(
                    "manifest: chunk {digest} is {size} bytes, not {claimed}",
                    digest=name,
                    size=size,
                    claimed=sizes[name],
                )


def _close(session: Session, upload_id: str | None) -> None:
    if upload_id is not None:
        datasets.drop_upload(session, upload_id)


def collect(
    session: Session, *, now: datetime | None = None, stale: timedelta = STALE
) -> list[str]:
    """Drop uploads untouched for `stale`, then forget chunks nothing refers to any more (and
    older than `stale`, so a push in flight keeps its chunks). Returns the packs left with no
    chunk, for the caller to delete from the chunk store once this commits. (A pack that still
    holds one live chunk is kept whole: repacking is not done yet.)"""
    cutoff = (now or utcnow()) - stale
    for upload_id in session.scalars(select(UploadRow.id).where(UploadRow.updated_at < cutoff)):
        _close(session, upload_id)
    orphans = session.execute(
        select(ChunkRow.digest, ChunkRow.pack).where(
            ChunkRow.created_at < cutoff,
            ~exists().where(DatasetChunkRow.digest == ChunkRow.digest),
            ~exists().where(UploadChunkRow.digest == ChunkRow.digest),
        )
    ).all()
    for part in chunks.batches([d for d, _ in orphans]):
        session.execute(delete(ChunkRow).where(ChunkRow.digest.in_(part)))
    packs = sorted({p for _, p in orphans})
    live: set[str] = set()
    for part in chunks.batches(packs):
        live.update(session.scalars(select(ChunkRow.pack).where(ChunkRow.pack.in_(part))))
    return [p for p in packs if p not in live]


INGEST_BATCH = 8 * 1024 * 1024  # bytes of chunks received at once by `ingest`
READ_BLOCK = 4 * 1024 * 1024  # bytes of an open file read at once by `ingest`


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
    kind: str = datasets.DATA,
) -> Committed:
    """The next version of data set `name` from whole files, chunked here on the server (a
    browser's upload, a job's outputs): received as a client's push is, a batch of chunks at a
    time, so they are stored and held alike. A file given open is read a block at a time
    (`pieces`) and closed: a job's 4 GiB file holds a batch and a block in memory, not the file
    and its chunks (BENCHMARKS.md, "Registering a model streams its files"). `keep`: the
    latest version's other files stay (a file of the same path is replaced), else the version
    is exactly `files`."""
    row, _ = datasets.find_writable(session, who, name, project, kind=kind)
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
        cut: list[core.Chunk] = []
        for c, piece in core.pieces(content) if isinstance(content, bytes) else pieces(content):
            cut.append(c)
            batch.append((c.digest, piece))
            pending += c.size
            if pending >= INGEST_BATCH:
                receive(session, who, store, upload.id, b"".join(core.frame(batch)))
                batch, pending = [], 0
        entries[path] = core.FileEntry(path, sum(c.size for c in cut), tuple(cut))
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
    return _version_of_upload(session, who, store, row, manifest, upload.id, message, lineage)


def pieces(f: BinaryIO) -> Iterator[tuple[core.Chunk, bytes]]:
    """The chunks of the open file `f` with their bytes, exactly as `core.pieces` cuts the
    whole file, read a block at a time; `f` is closed at the end. A content-defined cut depends
    on the bytes from its chunk's start up to the cut alone, so every chunk that a block's cut
    ends before the block's end is final; the last one is cut again with the next block."""
    with f:
        carry = b""
        while True:
            block = f.read(READ_BLOCK)
            data = carry + block if carry else block
            found = core.pieces(data)
            if block and found:
                found.pop()  # cut short by the block's end: cut again with the next one
            yield from found
            carry = data[sum(c.size for c, _ in found) :]
            if not block:
                return
