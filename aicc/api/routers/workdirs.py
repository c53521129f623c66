"""Workdir uploads, stored once by content hash and recorded per organization."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.services.common import Invalid, NotFound, TooLarge, utcnow
from aicc.store.blobs import BlobError
from aicc.store.tables import WorkdirRow

router = APIRouter(prefix="/api/v1/workdirs", tags=["jobs"])


@router.head("/{sha256}")
def exists(sha256: str, who: CurrentUser, session: SessionDep) -> Response:
    if session.get(WorkdirRow, (sha256, who.org_id)) is None:
        raise NotFound("not uploaded yet")
    return Response(status_code=200)


@router.post("", response_model=schemas.Workdir, status_code=201)
async def upload(
    request: Request,
    who: CurrentUser,
    state: StateDep,
    x_content_sha256: Annotated[str | None, Header(pattern=r"^[0-9a-f]{64}$")] = None,
) -> schemas.Workdir:
    """Body: the gzipped tar `aicc job submit` packs; checked for unsafe paths before keeping."""
    limit = state.settings.limits.max_upload_mib * 1024 * 1024
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise TooLarge(f"upload of {declared} bytes exceeds the limit of {limit} bytes")
    buffer = io.BytesIO()
    async for chunk in request.stream():
        buffer.write(chunk)
        if buffer.tell() > limit:
            raise TooLarge(
                f"upload exceeds the limit of {limit} bytes; ignore big files in .aiccignore"
            )
    buffer.seek(0)
    try:
        sha, size = await run_in_threadpool(
            state.blobs.put, buffer, expected_sha256=x_content_sha256, max_bytes=limit
        )
    except BlobError as err:
        raise Invalid(f"workdir: {err}") from None
    with state.db.session() as session:
        if session.get(WorkdirRow, (sha, who.org_id)) is None:
            session.add(WorkdirRow(sha256=sha, org_id=who.org_id, size=size, created_at=utcnow()))
    return schemas.Workdir(sha256=sha, size=size)
