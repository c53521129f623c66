"""OpenAI's files (`/v1/files`, docs/interop.md): what a batch or a fine-tuning job reads, and
the results a batch writes. A file is a project's, written through one of its API keys; another
project's file is a 404, as every object of the native API.

The bytes are kept as a blob of the working-directory store (a tar.gz of one member, `file`,
made by the server: `workdirs.pack`) and recorded as the organization's workdir, so a file is
backed up and metered as storage like an uploaded workdir, and kept once however often it is
uploaded. The server never parses a file here: it stores and returns bytes (a batch's runner
reads its lines as the gateway reads a request body; a fine-tuning job reads its file inside
the job's sandbox)."""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from aicc.core.tenancy import Principal, can_write
from aicc.services.common import Forbidden, Invalid, NotFound, TooLarge, new_id, utcnow
from aicc.services.jobs import workdirs
from aicc.services.jobs.views import OpenAIFile
from aicc.services.tenancy import audit, tenancy
from aicc.services.tenancy.views import Project
from aicc.store.blobs import BlobError, BlobStore
from aicc.store.tables.jobs import OpenAIFileRow

# What a client may upload for; `batch_output` is what a batch writes (its results and errors).
PURPOSES = ("batch", "fine-tune")
OUTPUT = "batch_output"
MEMBER = "file"
MAX_FILENAME = 512
MAX_LIST = 10_000


def keep(blobs: BlobStore, data: bytes, *, max_bytes: int) -> tuple[str, int]:
    """Store the bytes (no database work: call it outside a transaction); their blob's
    sha256 and the file's size. Larger than `max_bytes`: a 413 naming the limit."""
    if len(data) > max_bytes:
        raise TooLarge("file: larger than this center's {limit} byte limit", limit=max_bytes)
    archive = workdirs.pack([(MEMBER, data)])
    try:
        sha, _ = blobs.put(io.BytesIO(archive), max_bytes=len(archive) + 1)
    except BlobError as err:  # the server's own archive: only a full disk or the like
        raise Invalid("file: {problem}", problem=str(err)) from None
    return sha, len(data)


def check_purpose(purpose: str) -> None:
    """A purpose a client may upload for, or a 422 naming those it may."""
    if purpose not in PURPOSES:
        raise Invalid(
            "purpose: {purpose!r} is not supported here; use one of: {purposes}",
            purpose=purpose,
            purposes=", ".join(PURPOSES),
        )


def create(
    session: Session,
    who: Principal,
    *,
    key_id: str | None,
    sha256: str,
    size: int,
    filename: str,
    purpose: str,
    output: bool = False,
) -> OpenAIFile:
    """Record a kept file as the caller's project's (`output`: a batch's results, whose
    purpose is `batch_output`, which no client may choose)."""
    if not output:
        check_purpose(purpose)
    if not filename or len(filename) > MAX_FILENAME or not filename.isprintable():
        raise Invalid("file: give a file name of 1 to 512 printable characters")
    prj = tenancy.resolve_project(session, who, None)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot upload files")
    workdirs.record(session, who, sha256=sha256, size=size)
    row = OpenAIFileRow(
        id=new_id("file"),
        org_id=prj.org_id,
        project_id=prj.id,
        key_id=key_id,
        purpose=OUTPUT if output else purpose,
        filename=filename,
        bytes=size,
        sha256=sha256,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    detail = {"purpose": row.purpose, "bytes": size, "filename": filename}
    audit.record(session, who, "openai_file.create", "openai_file", row.id, detail=detail)
    return view(row)


def list_files(
    session: Session,
    who: Principal,
    *,
    purpose: str | None = None,
    limit: int = MAX_LIST,
    after: str | None = None,
    newest_first: bool = True,
) -> list[OpenAIFile]:
    """The project's files, newest first (OpenAI's default order), from after file `after`."""
    prj = tenancy.resolve_project(session, who, None)
    query = select(OpenAIFileRow).where(OpenAIFileRow.project_id == prj.id)
    if purpose is not None:
        query = query.where(OpenAIFileRow.purpose == purpose)
    if after is not None:
        mark = _row(session, who, after)
        query = query.where(
            OpenAIFileRow.id < mark.id if newest_first else OpenAIFileRow.id > mark.id
        )
    order = OpenAIFileRow.id.desc() if newest_first else OpenAIFileRow.id
    return [view(r) for r in session.scalars(query.order_by(order).limit(limit))]


def get(session: Session, who: Principal, file_id: str) -> OpenAIFile:
    return view(_row(session, who, file_id))


def content(session: Session, who: Principal, blobs: BlobStore, file_id: str) -> bytes:
    """The file's bytes, as uploaded (or as its batch wrote them)."""
    return read(blobs, _row(session, who, file_id).sha256)


def read(blobs: BlobStore, sha256: str) -> bytes:
    """The bytes of a file's blob (the server's own one-member archive)."""
    try:
        raw = gzip.decompress(blobs.read(sha256))
    except FileNotFoundError:
        raise NotFound("the file's bytes are gone from this center's store") from None
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise NotFound("the file's bytes are gone from this center's store")
        return member.read()


def delete(session: Session, who: Principal, file_id: str) -> OpenAIFile:
    """The file leaves `/v1/files`; its bytes stay with the organization's workdirs (a batch or
    a fine-tuning job that read it still names it)."""
    row = _row(session, who, file_id)
    if not can_write(who, org_id=row.org_id, project_id=row.project_id):
        raise Forbidden("viewers cannot delete files")
    shown = view(row)
    session.delete(row)
    audit.record(session, who, "openai_file.delete", "openai_file", row.id, org_id=row.org_id)
    return shown


@dataclass(frozen=True)
class Stored:
    """Where a file's bytes are, for the contexts that read it (a batch, a fine-tune)."""

    id: str
    purpose: str
    bytes: int
    sha256: str


def stored(session: Session, who: Principal, file_id: str) -> Stored:
    """The caller's project's file (another's: NotFound)."""
    row = _row(session, who, file_id)
    return Stored(row.id, row.purpose, row.bytes, row.sha256)


def sha256_of(session: Session, file_id: str, *, project_id: str) -> str | None:
    """The blob of project `project_id`'s file (the batch runner's read: no caller), or None."""
    row = session.get(OpenAIFileRow, file_id)
    return row.sha256 if row is not None and row.project_id == project_id else None


def input_file(
    session: Session, who: Principal, file_id: str, *, purpose: str
) -> tuple[Project, Stored]:
    """The caller's project, where what reads the file is made (a viewer's: 403), and its file
    `file_id`, uploaded for `purpose`: a batch's `input_file_id` for `batch`, a fine-tune's
    `training_file` for `fine-tune`; another purpose is a 422 naming that field."""
    batch = purpose == "batch"
    prj = tenancy.resolve_project(session, who, None)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        if batch:
            raise Forbidden("viewers cannot create batches")
        raise Forbidden("viewers cannot fine-tune")
    source = stored(session, who, file_id)
    if source.purpose == purpose:
        return prj, source
    if batch:
        raise Invalid(
            "input_file_id: file {id} was uploaded for {purpose!r}; a batch reads a file "
            "uploaded for 'batch'",
            id=file_id,
            purpose=source.purpose,
        )
    raise Invalid(
        "training_file: file {id} was uploaded for {purpose!r}; fine-tuning reads a file "
        "uploaded for 'fine-tune'",
        id=file_id,
        purpose=source.purpose,
    )


class ProjectObject(Protocol):
    """A table of OpenAI's objects of a project, keyed by an id that sorts by age: files here,
    batches (serving's) and fine-tuning jobs (models'), whose contexts pass their own table."""

    id: ClassVar[InstrumentedAttribute[str]]
    project_id: ClassVar[InstrumentedAttribute[str]]


R = TypeVar("R", bound=ProjectObject)


def owned(session: Session, who: Principal, table: type[R], object_id: str, missing: NotFound) -> R:
    """The caller's project's object `object_id` of `table`; another project's, or none, is
    `missing` (OpenAI's 404 for that kind)."""
    prj = tenancy.resolve_project(session, who, None)
    row = session.get(table, object_id) if len(object_id) <= 40 else None
    if row is None or row.project_id != prj.id:
        raise missing
    return row


def newest(
    session: Session,
    who: Principal,
    table: type[R],
    *,
    limit: int,
    after: str | None,
    missing: NotFound,
) -> list[R]:
    """The caller's project's objects of `table`, newest first, from after object `after` (one
    that is not the project's: `missing`)."""
    prj = tenancy.resolve_project(session, who, None)
    query = select(table).where(table.project_id == prj.id)
    if after is not None:
        query = query.where(table.id < owned(session, who, table, after, missing).id)
    return list(session.scalars(query.order_by(table.id.desc()).limit(limit)))


def _row(session: Session, who: Principal, file_id: str) -> OpenAIFileRow:
    missing = NotFound("No such File object: {id}", id=file_id)
    return owned(session, who, OpenAIFileRow, file_id, missing)


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def view(row: OpenAIFileRow) -> OpenAIFile:
    return OpenAIFile(
        id=row.id,
        bytes=row.bytes,
        created_at=_seconds(row.created_at),
        filename=row.filename,
        purpose=row.purpose,
    )
