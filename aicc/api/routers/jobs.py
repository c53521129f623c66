"""Jobs: submit, list, read, events, logs (with follow), outputs, metrics, cancel, explain,
resubmit, exec (a websocket into a running replica)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, WebSocket
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from aicc.api import schemas, terminal
from aicc.api.deps import CurrentUser, SessionDep, StateDep, websocket_user
from aicc.api.idempotency import IdempotencyKey
from aicc.api.state import AppState
from aicc.core.jobspec import JobSpec
from aicc.core.states import JobState
from aicc.services.common import ServiceError
from aicc.services.federation import dispatch
from aicc.services.jobs import explain as explain_service
from aicc.services.jobs import jobs, logs, metrics
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.jobs.logs import Stream
from aicc.services.jobs.views import Event, Explain, Job, Metrics
from aicc.services.serving import lifecycle

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("", response_model=Job, status_code=201)
async def jobs_submit(
    spec: JobSpec,
    who: CurrentUser,
    state: StateDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    """Accept a job; a retry with the same `Idempotency-Key` returns the same job (200)."""
    limits = SubmitLimits.of(state.settings)

    def submit(session: Session) -> tuple[Job, bool]:
        return jobs.submit(session, who, spec, idempotency_key=idempotency_key, limits=limits)

    try:
        job, created = await state.transactions.run(submit)
    except IntegrityError:  # a concurrent retry with the same key won the race: its job
        job, created = await state.transactions.run(submit)
    if not created:
        response.status_code = 200
    return job


@router.post("/{job_id}/resubmit", response_model=Job, status_code=201)
async def jobs_resubmit(
    job_id: str,
    who: CurrentUser,
    state: StateDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Job:
    """Run a job again: its stored spec, in its project, as a new job (a retry with the same
    `Idempotency-Key` returns that job, 200). A service or notebook job is its owner's: 422."""
    limits = SubmitLimits.of(state.settings)

    def submit(session: Session) -> tuple[Job, bool]:
        spec = jobs.spec_again(session, who, job_id)
        return jobs.submit(session, who, spec, idempotency_key=idempotency_key, limits=limits)

    try:
        job, created = await state.transactions.run(submit)
    except IntegrityError:
        job, created = await state.transactions.run(submit)
    if not created:
        response.status_code = 200
    return job


@router.get("", response_model=schemas.Page[Job])
def jobs_list(
    who: CurrentUser,
    session: SessionDep,
    state: JobState | None = None,
    project: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> schemas.Page[Job]:
    found = jobs.list_jobs(
        session,
        who,
        state=state.value if state else None,
        project=project,
        limit=limit,
        before_id=cursor,
    )
    return schemas.Page[Job](
        items=found,
        next_cursor=found[-1].id if len(found) == limit else None,
    )


@router.get("/{job_id}", response_model=Job)
def jobs_show(job_id: str, who: CurrentUser, session: SessionDep) -> Job:
    return jobs.get(session, who, job_id)


@router.get("/{job_id}/events", response_model=schemas.Page[Event])
def jobs_events(job_id: str, who: CurrentUser, session: SessionDep) -> schemas.Page[Event]:
    return schemas.Page[Event](items=jobs.events(session, who, job_id))


@router.post("/{job_id}/cancel", response_model=Job)
def jobs_cancel(job_id: str, who: CurrentUser, session: SessionDep) -> Job:
    return jobs.cancel(session, who, job_id)


@router.get("/{job_id}/explain", response_model=Explain)
def jobs_explain(job_id: str, who: CurrentUser, state: StateDep, session: SessionDep) -> Explain:
    """Why the job waits, its position, and when it would start if running jobs end as declared."""
    controller = state.controller
    job = jobs.get(session, who, job_id)
    return explain_service.explain(
        session,
        job,
        controller.profile,
        controller.billing,
        controller.site.decorate,
        controller.notice_s,
        protect=lifecycle.protected,
    )


@router.get(
    "/{job_id}/logs",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def jobs_logs(
    job_id: str,
    who: CurrentUser,
    state: StateDep,
    replica: Annotated[int, Query(ge=0)] = 0,
    stream: Stream = "stdout",
    tail: Annotated[int | None, Query(ge=1)] = None,
    follow: bool = False,
) -> Response:
    """The replica's log as kept (head and tail when capped); `follow` streams until the end."""
    with state.db.session() as session:
        job = jobs.get(session, who, job_id)
        mirrored = dispatch.mirrored_log(state.settings.home, job.id, stream, tail)
        if mirrored is not None and not job.replicas:  # it ran at a peer site
            return PlainTextResponse(mirrored)
        if not follow:
            return PlainTextResponse(
                logs.read(
                    session,
                    state.sealer,
                    job,
                    state.executors,
                    index=replica,
                    stream=stream,
                    tail=tail,
                )
            )
    # the first step before the first byte: a log the guard refuses is a clean 4xx
    first = logs.follow_step(
        state.db, state.sealer, state.executors, who, job_id, replica, stream, tail, None
    )
    return StreamingResponse(
        _follow(state, job_id, who, replica, stream, tail, first), media_type="text/plain"
    )


async def _follow(
    state: AppState,
    job_id: str,
    who: CurrentUser,
    index: int,
    stream: Stream,
    tail: int | None,
    first: tuple[str, int | None, bool],
) -> AsyncIterator[str]:
    def step(sent: int | None) -> tuple[str, int | None, bool]:
        return logs.follow_step(
            state.db, state.sealer, state.executors, who, job_id, index, stream, tail, sent
        )

    text, sent, done = first
    try:
        while True:
            if text:
                yield text
            if done:
                text, sent, _ = await run_in_threadpool(step, sent)
                if text:
                    yield text  # what the replica wrote between the last poll and its end
                return
            await asyncio.sleep(0.5)
            text, sent, done = await run_in_threadpool(step, sent)
    except ServiceError:  # the job replaced its log meanwhile (a link, a FIFO): the stream ends
        return


@router.get(
    "/{job_id}/outputs",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def jobs_outputs(job_id: str, who: CurrentUser, state: StateDep, session: SessionDep) -> Response:
    """A tar.gz of the job's `$AICC_OUTPUT_DIR`, streamed as it is read (the whole tree checked
    first: a refusal is a 4xx before the first byte)."""
    job = jobs.get(session, who, job_id)
    mirrored = dispatch.mirrored_outputs(state.settings.home, job.id)
    root = mirrored if mirrored and not job.replicas else None  # it ran at a peer site
    archive = logs.outputs_archive(root or logs.outputs_dir(session, job, state.executors))
    headers = {"Content-Disposition": f'attachment; filename="{job.id}-outputs.tar.gz"'}
    return StreamingResponse(archive, media_type="application/gzip", headers=headers)


@router.get("/{job_id}/metrics", response_model=Metrics)
def jobs_metrics(
    job_id: str,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    since: Annotated[int | None, Query(description="only steps after this one")] = None,
    tail: Annotated[
        int | None, Query(ge=1, le=metrics.TAIL, description="each metric's last N points only")
    ] = None,
    max_points: Annotated[int, Query(ge=2, le=metrics.MAX_POINTS)] = 500,
) -> Metrics:
    """The curves the job logged to `$AICC_OUTPUT_DIR/metrics.jsonl`, while it runs and after;
    none yet is an empty `metrics`. Poll with `since=last_step` for what is new."""
    return metrics.curves(
        session, who, job_id, state.executors, since=since, tail=tail, most=max_points
    )


@router.websocket("/{job_id}/exec")
async def jobs_exec(
    websocket: WebSocket,
    job_id: str,
    command: Annotated[list[str] | None, Query(max_length=64)] = None,
    tty: bool = False,
    replica: Annotated[int, Query(ge=0, le=1023)] = 0,
    cols: Annotated[int, Query(ge=1, le=1000)] = 80,
    rows: Annotated[int, Query(ge=1, le=1000)] = 24,
) -> None:
    """Run `command` (repeat the parameter per argument; none: an interactive shell) inside the
    running job's replica, its sandbox and network namespace, on a pty with `tty`. The frames
    are api/terminal.py's; the upgrade is refused 404 (not yours), 403 (a viewer), 409 (not
    running), 422 (an engine exec cannot enter). Audited, keystrokes not."""
    state: AppState = websocket.app.state.aicc
    try:
        who = await websocket_user(state, websocket)
    except HTTPException as err:
        await terminal.deny(websocket, err.status_code, str(err.detail))
        return
    await terminal.serve(
        websocket,
        state,
        who,
        job_id,
        command=command or [],
        tty=tty,
        replica=replica,
        cols=cols,
        rows=rows,
    )
