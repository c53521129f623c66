"""The job pages: the filtered list, a job's detail (state, replicas, log tail, metrics,
resources, explain), and cancel. The list, the state and the log are re-fetched by htmx while
they change. A failed job's page opens on its cause (`logs.failure`: reason, last event, the
tail of stderr) and, when its stdout is empty, on its stderr: the traceback is where users look
first (issue 37)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aicc.api.deps import SessionDep, StateDep
from aicc.portal import job_metrics, job_resources, views
from aicc.portal.auth import Me, csrf_ok
from aicc.portal.rendering import PortalRoute, error_page, is_htmx, render
from aicc.services.jobs import logs
from aicc.services.jobs.jobs import cancel as cancel_job

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/jobs")
def job_list(
    request: Request,
    session: SessionDep,
    me: Me,
    state: str | None = None,
    project: str | None = None,
    before: str | None = None,
) -> Response:
    data = views.job_list(session, me.who, state=state, project=project, before=before)
    template = "_job_rows.html" if is_htmx(request) else "jobs.html"
    return render(
        request,
        template,
        me=me,
        nav="jobs",
        data=data,
        states=views.STATE_ORDER,
        duration_s=views.duration_s,
    )


@router.get("/jobs/{job_id}")
def job_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    job_id: str,
    replica: int = 0,
    stream: views.Stream | None = None,
) -> Response:
    detail = views.job_detail(session, state, me.who, job_id)
    if not 0 <= replica < max(1, len(detail.job.replicas)):
        replica = 0
    failure = logs.failure(session, state.sealer, me.who, detail.job, state.executors)
    log_view = views.job_log(
        session, state, me.who, job_id, replica=replica, stream=stream or "stdout"
    )
    if stream is None and not log_view.text:  # nothing on stdout: open on stderr, if it has any
        errors = views.job_log(session, state, me.who, job_id, replica=replica, stream="stderr")
        log_view = errors if errors.text else log_view
    return render(
        request,
        "job.html",
        me=me,
        nav="jobs",
        d=detail,
        log=log_view,
        failure=failure,
        duration_s=views.duration_s,
        **job_resources.context(session, state, me, job_id),
        **job_metrics.context(session, state, me, job_id),
    )


@router.get("/jobs/{job_id}/live")
def job_live(
    request: Request, state: StateDep, session: SessionDep, me: Me, job_id: str
) -> Response:
    detail = views.job_detail(session, state, me.who, job_id)
    failure = logs.failure(session, state.sealer, me.who, detail.job, state.executors)
    return render(
        request,
        "_job_live.html",
        me=me,
        d=detail,
        failure=failure,
        duration_s=views.duration_s,
    )


@router.get("/jobs/{job_id}/log")
def job_log(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    job_id: str,
    replica: int = 0,
    stream: views.Stream = "stdout",
) -> Response:
    log_view = views.job_log(session, state, me.who, job_id, replica=replica, stream=stream)
    return render(request, "_job_log.html", me=me, job_id=job_id, log=log_view)


@router.post("/jobs/{job_id}/cancel")
def job_cancel(
    request: Request,
    session: SessionDep,
    me: Me,
    job_id: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    cancel_job(session, me.who, job_id)
    return RedirectResponse(f"/jobs/{quote(job_id)}", status_code=303)
