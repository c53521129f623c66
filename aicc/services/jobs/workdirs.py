"""Uploaded workdirs: archives kept once by content hash, recorded per organization so that one
tenant can never start a job from another tenant's upload (nor learn that it exists)."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_write
from aicc.services.billing.views import Archive
from aicc.services.common import Forbidden, Invalid, NotFound, utcnow
from aicc.services.jobs.views import Workdir
from aicc.services.tenancy import audit
from aicc.store.blobs import BlobError, BlobStore
from aicc.store.tables.jobs import WorkdirRow


def archives(session: Session) -> list[str]:
    """The sha256 of every uploaded workdir archive, each once, sorted."""
    return sorted(set(session.scalars(select(WorkdirRow.sha256))))


def archives_held(session: Session) -> list[Archive]:
    """Every uploaded archive, per organization, with its size and upload time: what the
    meter bills storage of (billing reads no workdir)."""
    rows = session.scalars(select(WorkdirRow))
    return [
        Archive(org_id=r.org_id, sha256=r.sha256, size=r.size, created_at=r.created_at)
        for r in rows
    ]


def check(session: Session, who: Principal, sha256: str) -> None:
    """NotFound unless the caller's organization uploaded this archive."""
    if session.get(WorkdirRow, (sha256, who.org_id)) is None:
        raise NotFound("not uploaded yet")


def uploaded(session: Session, *, org_id: str, sha256: str) -> bool:
    """Whether the organization uploaded this archive."""
    return session.get(WorkdirRow, (sha256, org_id)) is not None


def store(
    blobs: BlobStore, data: BinaryIO, *, who: Principal, sha256: str | None, max_bytes: int
) -> Workdir:
    """Validate and keep the archive (no database work: it may take a while); `record` makes it
    the organization's."""
    if not can_write(who, org_id=who.org_id):
        raise Forbidden("viewers cannot upload")
    try:
        sha, size = blobs.put(data, expected_sha256=sha256, max_bytes=max_bytes)
    except BlobError as err:
        raise Invalid("workdir: {problem}", problem=str(err)) from None
    return Workdir(sha256=sha, size=size)


def record(session: Session, who: Principal, *, sha256: str, size: int) -> None:
    """The archive is the organization's from now on (audited once, when it first is)."""
    if session.get(WorkdirRow, (sha256, who.org_id)) is None:
        session.add(WorkdirRow(sha256=sha256, org_id=who.org_id, size=size, created_at=utcnow()))
        audit.record(session, who, "workdir.upload", "workdir", sha256, detail={"size": size})


def pack(files: Iterable[tuple[str, bytes]]) -> bytes:
    """Files the server ships as a job's working directory (a cleaning or template job's
    program), as a deterministic .tar.gz: the same bytes for the same files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def keep(session: Session, who: Principal, blobs: BlobStore, archive: bytes) -> str:
    """Store an archive the server made and record it for the caller: its sha256, for a spec."""
    kept = store(blobs, io.BytesIO(archive), who=who, sha256=None, max_bytes=len(archive) + 1)
    record(session, who, sha256=kept.sha256, size=kept.size)
    return kept.sha256


GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
TAR_MAGIC_AT = 257  # "ustar" in a tar's first header


def from_browser(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    *,
    archive: BinaryIO | None,
    files: Iterable[tuple[str, BinaryIO]] = (),
    max_bytes: int,
) -> str | None:
    """A workdir sent from the portal's submit wizard, kept as `aicc job submit` keeps one: an
    archive (a .tar.gz as it is, a .tar gzipped around its bytes, neither opened here) or a
    folder's files (packed into a .tar.gz as they are), then `store`, whose one check of the
    archive (`BlobStore.put`: names, links, sizes, its end) is the CLI upload's. A .zip is
    refused: the server reads no second archive format. Its sha256 for the spec's
    `workdir_sha256`, or None when nothing was sent."""
    with tempfile.TemporaryFile() as packed:
        if archive is not None:
            head = archive.read(TAR_MAGIC_AT + 5)
            archive.seek(0)
            if head.startswith(ZIP_MAGIC):
                raise Invalid(
                    "workdir: a .zip archive is not read here; upload the folder itself, or a "
                    ".tar.gz of it (`tar czf code.tar.gz -C DIR .`)"
                )
            if head.startswith(GZIP_MAGIC):
                source: BinaryIO = archive
            elif head[TAR_MAGIC_AT:] == b"ustar":
                with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
                    shutil.copyfileobj(archive, gz)
                source = packed
            else:
                raise Invalid("workdir: upload a folder, a .tar or a .tar.gz archive")
        else:
            listed = list(files)
            if not listed:
                return None
            with tarfile.open(fileobj=packed, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
                for name, data in listed:
                    data.seek(0, io.SEEK_END)
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = data.tell(), 0o644, 0
                    data.seek(0)
                    tar.addfile(info, data)
            source = packed
        source.seek(0)
        kept = store(blobs, source, who=who, sha256=None, max_bytes=max_bytes)
    record(session, who, sha256=kept.sha256, size=kept.size)
    return kept.sha256
