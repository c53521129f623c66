"""Uploaded workdirs: archives kept once by content hash, recorded per organization so that one
tenant can never start a job from another tenant's upload (nor learn that it exists)."""

from __future__ import annotations

from typing import BinaryIO

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_write
from aicc.services.common import Forbidden, Invalid, NotFound, utcnow
from aicc.store.blobs import BlobError, BlobStore
from aicc.store.tables import WorkdirRow


def check(session: Session, who: Principal, sha256: str) -> None:
    """NotFound unless the caller's organization uploaded this archive."""
    if session.get(WorkdirRow, (sha256, who.org_id)) is None:
        raise NotFound("not uploaded yet")


def store(
    blobs: BlobStore, data: BinaryIO, *, who: Principal, sha256: str | None, max_bytes: int
) -> tuple[str, int]:
    """Validate and keep the archive (no database work: it may take a while)."""
    if not can_write(who, org_id=who.org_id):
        raise Forbidden("viewers cannot upload")
    try:
        return blobs.put(data, expected_sha256=sha256, max_bytes=max_bytes)
    except BlobError as err:
        raise Invalid(f"workdir: {err}") from None


def record(session: Session, who: Principal, *, sha256: str, size: int) -> None:
    if session.get(WorkdirRow, (sha256, who.org_id)) is None:
        session.add(WorkdirRow(sha256=sha256, org_id=who.org_id, size=size, created_at=utcnow()))
