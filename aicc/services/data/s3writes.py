"""Writing a new data set version through S3 (`aicc/s3/writes.py`, docs/interop.md): the
writer's files are staged in an open upload, then committed as the next version by the one path
every push takes (`uploads.receive` for the chunks, `uploads.make_version` for the version).

The commit rule: a key under `DATASET/new/` stages a file of the next version (the data set is
made, in the bucket's project, when it does not exist, as a push makes it); the empty object
`DATASET/new/_COMMIT` commits what is staged as version N+1. Numbered versions and `latest` are
immutable. A staging upload is the writer's own (one per user and data set), is never resumed
by a push's `begin`, and is dropped with its chunks after `uploads.STALE` untouched, as a push's.
Its writer, and only its writer, reads it back under `DATASET/new/` (`staged`, which the S3
reads in `objects.py` call), deletes a staged file (`unstage`) and replaces one by writing it again.

Only what S3 needs beyond the push is kept here: which staged path has which chunks (and the
MD5 ETag S3 answered), and the parts of a multipart upload until it completes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.services.common import Conflict, Invalid, NotFound, new_id, utcnow
from aicc.services.data import chunks, datasets, uploads
from aicc.services.data.views import Committed, StoredObject
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.data import DatasetRow, S3MultipartRow, S3PartRow, S3StagedRow, UploadRow

SOURCE = "s3"  # UploadRow.source of a staging upload
NEW = "new"  # the version part of a staged key: DATASET/new/PATH
COMMIT = "_COMMIT"  # DATASET/new/_COMMIT commits
MIN_PART = 5 * 1024 * 1024  # S3's smallest part but the last
MAX_PARTS = 10_000  # S3's part numbers: 1 to 10,000
MESSAGE = "written through S3"


class NoSuchUpload(NotFound):
    """A multipart upload id that is not the caller's own open one (of this key)."""


class BadPart(Invalid):
    """A CompleteMultipartUpload naming a part that was not uploaded, or with another ETag."""


class BadPartOrder(Invalid):
    """A CompleteMultipartUpload whose parts are not in ascending order."""


class PartTooSmall(Invalid):
    """A part but the last under `MIN_PART` bytes."""


Ts = TypeVarTuple("Ts")  # the columns of a select of staged files (`_in_staging`)


@dataclass(frozen=True)
class Piece:
    """What a streamed body became: its chunks (received by the upload), size and MD5."""

    chunks: list[tuple[str, int]]
    size: int
    md5: str


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str
    last_modified: Any


def open_staging(
    session: Session, who: Principal, *, project_id: str, dataset: str, create: bool = True
) -> str:
    """The caller's staging upload of `dataset` in the project (with `create`, the set made
    when missing, as a push's `begin` with `create` makes it; a commit makes none);
    Forbidden where the caller may not push to it."""
    try:
        with session.begin_nested():
            if create:
                datasets.create_if_missing(session, who, dataset, project_id)
    except IntegrityError:
        pass  # another PUT made the set meanwhile (PostgreSQL); it is found next
    row, _ = datasets.find_writable(session, who, dataset, project_id)
    upload = _open(session, who, row.id)
    now = utcnow()
    if upload is None:
        upload = uploads.new_upload(who, row.id, now, source=SOURCE)
        try:
            with session.begin_nested():
                session.add(upload)
        except IntegrityError:  # another PUT opened it meanwhile (`ix_uploads_s3_staging`)
            found = _open(session, who, row.id)  # committed by now: the index waited for it
            if found is None:
                raise Conflict("another request opened this version's staging; try again") from None
            return found.id
    else:
        upload.updated_at = now
    return upload.id


def _open(session: Session, who: Principal, dataset_id: str) -> UploadRow | None:
    return session.scalar(
        select(UploadRow).where(
            UploadRow.dataset_id == dataset_id,
            UploadRow.created_by == who.user_id,
            UploadRow.source == SOURCE,
        )
    )


def receive(
    session: Session,
    who: Principal,
    store: ChunkStore,
    upload_id: str,
    batch: Sequence[tuple[str, bytes]],
) -> None:
    """Keep a batch of a streamed body's chunks for the upload, as a push sends them: counted
    against the project's storage quota the moment they arrive (413 past it)."""
    uploads.receive(session, who, store, upload_id, b"".join(core.frame(batch)))


def stage(session: Session, who: Principal, upload_id: str, path: str, piece: Piece) -> str:
    """Stage the file `path` (replacing one staged before, as a PUT replaces an object);
    returns its ETag, the MD5 of its bytes."""
    upload = _staging(session, who, upload_id)
    _put_staged(session, upload, path, piece.chunks, piece.size, piece.md5)
    return piece.md5


def _put_staged(
    session: Session,
    upload: UploadRow,
    path: str,
    parts: list[tuple[str, int]],
    size: int,
    etag: str,
) -> None:
    session.execute(
        delete(S3StagedRow).where(S3StagedRow.upload_id == upload.id, S3StagedRow.path == path)
    )
    session.add(
        S3StagedRow(
            upload_id=upload.id,
            path=path,
            size=size,
            etag=etag,
            chunks=[list(c) for c in parts],
            created_at=utcnow(),
        )
    )
    upload.updated_at = utcnow()


def _staging(session: Session, who: Principal, upload_id: str) -> UploadRow:
    upload = session.get(UploadRow, upload_id)
    if upload is None or upload.created_by != who.user_id or upload.source != SOURCE:
        raise NoSuchUpload("the staged version was dropped; write its files again")
    return upload


def _in_staging(query: Select[*Ts], who: Principal, dataset_id: str) -> Select[*Ts]:
    """`query` (of staged files) narrowed to those the caller staged in the set."""
    return query.join(UploadRow, UploadRow.id == S3StagedRow.upload_id).where(
        UploadRow.dataset_id == dataset_id,
        UploadRow.created_by == who.user_id,
        UploadRow.source == SOURCE,
    )


def staged(
    session: Session, who: Principal, dataset_id: str, *, path: str | None = None
) -> list[StoredObject]:
    """What the caller staged in the set, as objects keyed `PATH` (only `path`, where given),
    in path order: a staging is read back by its writer only (read-your-writes, as a workflow's
    next step reads the last one's output), never by another member, until it is committed.
    Its ETag is what the PUT answered; its Last-Modified, when that PUT staged it."""
    query = _in_staging(select(S3StagedRow), who, dataset_id).order_by(S3StagedRow.path)
    if path is not None:
        query = query.where(S3StagedRow.path == path)
    return [
        StoredObject(
            key=r.path,
            size=r.size,
            etag=r.etag,
            last_modified=r.created_at,
            chunks=[(str(d), int(n)) for d, n in r.chunks],
        )
        for r in session.scalars(query)
    ]


def has_staged(session: Session, who: Principal, dataset_id: str) -> bool:
    """Whether the caller has a file staged in the set (a listing shows `DATASET/new/` then)."""
    found = session.scalar(_in_staging(select(S3StagedRow.path), who, dataset_id).limit(1))
    return found is not None


def unstage(session: Session, who: Principal, *, project_id: str, dataset: str, path: str) -> None:
    """DeleteObject of a staged file: it leaves the caller's staging (its chunks stay with the
    upload until it commits or expires, as an aborted part's do). Idempotent, as S3's is: a
    path, set or staging that is not there is no error. Forbidden where the caller may not
    push to the set."""
    try:
        row, _ = datasets.find_writable(session, who, dataset, project_id)
    except NotFound:
        return
    upload = _open(session, who, row.id)
    if upload is None:
        return
    session.execute(
        delete(S3StagedRow).where(S3StagedRow.upload_id == upload.id, S3StagedRow.path == path)
    )
    upload.updated_at = utcnow()


def check_path(path: str) -> str:
    """A staged file's path: a data set's path (`core.check_path`), `_COMMIT` reserved."""
    try:
        core.check_path(path)
    except core.DatasetError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    return path


# --- multipart uploads -----------------------------------------------------------------------


def create_multipart(session: Session, who: Principal, upload_id: str, path: str) -> str:
    """A new multipart upload of `path` in the staging upload; returns its id."""
    _staging(session, who, upload_id)
    row = S3MultipartRow(
        id=new_id("mpu"), upload_id=upload_id, path=check_path(path), created_at=utcnow()
    )
    session.add(row)
    return row.id


def multipart(session: Session, who: Principal, multipart_id: str, path: str) -> str:
    """The staging upload of the caller's multipart upload `multipart_id` of `path`."""
    row = session.get(S3MultipartRow, multipart_id)
    if row is None or row.path != path:
        raise NoSuchUpload("multipart upload {upload_id} not found", upload_id=multipart_id[:40])
    _staging(session, who, row.upload_id)
    return row.upload_id


def put_part(
    session: Session, who: Principal, multipart_id: str, path: str, number: int, piece: Piece
) -> str:
    """Keep part `number` (replacing one sent before); returns its ETag, its MD5."""
    upload_id = multipart(session, who, multipart_id, path)
    session.execute(
        delete(S3PartRow).where(S3PartRow.multipart_id == multipart_id, S3PartRow.number == number)
    )
    session.add(
        S3PartRow(
            multipart_id=multipart_id,
            number=number,
            size=piece.size,
            etag=piece.md5,
            chunks=[list(c) for c in piece.chunks],
            created_at=utcnow(),
        )
    )
    _staging(session, who, upload_id).updated_at = utcnow()
    return piece.md5


def parts(session: Session, who: Principal, multipart_id: str, path: str) -> list[Part]:
    multipart(session, who, multipart_id, path)
    rows = session.scalars(
        select(S3PartRow).where(S3PartRow.multipart_id == multipart_id).order_by(S3PartRow.number)
    )
    return [Part(r.number, r.size, r.etag, r.created_at) for r in rows]


def complete(
    session: Session,
    who: Principal,
    multipart_id: str,
    path: str,
    listed: Sequence[tuple[int, str]],
) -> str:
    """Stage `path` as the parts listed (number, ETag), in that order; returns S3's multipart
    ETag (the MD5 of the parts' MD5s, then `-` and their count). The multipart upload ends."""
    upload_id = multipart(session, who, multipart_id, path)
    if not listed:
        raise BadPart("list at least one part to complete the upload")
    numbers = [n for n, _ in listed]
    if numbers != sorted(set(numbers)):
        raise BadPartOrder("list the parts in ascending order of their numbers, each once")
    rows = {
        r.number: r
        for r in session.scalars(
            select(S3PartRow).where(
                S3PartRow.multipart_id == multipart_id, S3PartRow.number.in_(numbers)
            )
        )
    }
    joined: list[tuple[str, int]] = []
    digests = b""
    for at, (number, etag) in enumerate(listed):
        row = rows.get(number)
        if row is None or row.etag != etag.strip('"').lower():
            raise BadPart(
                "part {number} was not uploaded, or its ETag is not {etag}",
                number=number,
                etag=etag[:80],
            )
        if row.size < MIN_PART and at < len(listed) - 1:
            raise PartTooSmall(
                "part {number} is {size} bytes; every part but the last is at least {least}",
                number=number,
                size=row.size,
                least=MIN_PART,
            )
        joined += [(str(d), int(s)) for d, s in row.chunks]
        digests += bytes.fromhex(row.etag)
    etag = f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(listed)}"
    size = sum(s for _, s in joined)
    _drop_multipart(session, multipart_id)
    _put_staged(session, _staging(session, who, upload_id), path, joined, size, etag)
    return etag


def abort(session: Session, who: Principal, multipart_id: str, path: str) -> None:
    """End the multipart upload; its parts' chunks stay in the staging upload until it commits
    or expires (they count against the quota until then, as a push's received chunks do)."""
    multipart(session, who, multipart_id, path)
    _drop_multipart(session, multipart_id)


def _drop_multipart(session: Session, multipart_id: str) -> None:
    session.execute(delete(S3PartRow).where(S3PartRow.multipart_id == multipart_id))
    session.execute(delete(S3MultipartRow).where(S3MultipartRow.id == multipart_id))


# --- the commit ------------------------------------------------------------------------------


def commit(session: Session, who: Principal, store: ChunkStore, upload_id: str) -> Committed:
    """The staged files as the next version of the set (`uploads.make_version`, which a push's
    commit calls too: quota, audit, table descriptions); the staging upload ends. Files staged
    under a path that a multipart upload still writes are not waited for."""
    upload = _staging(session, who, upload_id)
    staged = session.scalars(select(S3StagedRow).where(S3StagedRow.upload_id == upload.id)).all()
    if not staged:
        raise Invalid("nothing is staged: write files under DATASET/new/ before _COMMIT")
    try:
        manifest = core.Manifest.of(
            core.FileEntry(s.path, s.size, tuple(core.Chunk(str(d), int(n)) for d, n in s.chunks))
            for s in staged
        )
    except core.DatasetError as e:
        raise Invalid("{problem}", problem=str(e)) from None
    row = session.get_one(DatasetRow, upload.dataset_id)
    return uploads.make_version(
        session,
        who,
        row,
        manifest,
        upload_id=upload.id,
        message=MESSAGE,
        source=chunks.reader(session, store),
    )
