"""Workdir uploads, stored once by content hash and recorded per organization."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.services.common import TooLarge
from aicc.services.jobs import workdirs
from aicc.services.jobs.views import Workdir

router = APIRouter(prefix="/api/v1/workdirs", tags=["jobs"])


@router.head("/{sha256}", response_class=Response)  # no body, so no content type
def workdirs_check(sha256: str, who: CurrentUser, session: SessionDep) -> Response:
    workdirs.check(session, who, sha256)
    return Response(status_code=200)


@router.post("", response_model=Workdir, status_code=201)
async def workdirs_upload(
    request: Request,
    who: CurrentUser,
    state: StateDep,
    x_content_sha256: Annotated[str | None, Header(pattern=r"^[0-9a-f]{64}$")] = None,
) -> Workdir:
    """Body: the gzipped tar `aicc job submit` packs; checked for unsafe paths before keeping."""
    limit = state.settings.limits.max_upload_mib * 1024 * 1024
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise TooLarge(
            "upload of {declared} bytes exceeds the limit of {limit} bytes; ignore big files "
            "in .aiccignore",
            declared=declared,
            limit=limit,
        )
    buffer = io.BytesIO()
    async for chunk in request.stream():
        buffer.write(chunk)
        if buffer.tell() > limit:
            raise TooLarge(
                "upload exceeds the limit of {limit} bytes; ignore big files in .aiccignore",
                limit=limit,
            )
    buffer.seek(0)
    stored = await run_in_threadpool(
        workdirs.store, state.blobs, buffer, who=who, sha256=x_content_sha256, max_bytes=limit
    )
    try:
        with state.db.session() as session:
            workdirs.record(session, who, sha256=stored.sha256, size=stored.size)
    except IntegrityError:
        pass  # the same archive, uploaded at the same moment, was recorded by the other request
    return stored
