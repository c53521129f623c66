"""The job pages: the filtered list, a job's detail (state, replicas, log tail, metrics,
resources, explain), cancel, and running it again (its stored spec submitted anew; a clone
opens it in the YAML editor, `/submit/yaml?from=JOB`). The list, the state and the log are
re-fetched by htmx while they change. A failed job's page opens on its cause (`logs.failure`:
reason, last event, the tail of stderr) and, when its stdout is empty, on its stderr: the
traceback is where users look first (issue 37)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.portal import job_metrics, job_resources, submitting, views
from aicc.portal.page import PageDep, PostingPage
from aicc.portal.rendering import PortalRoute, is_htmx
from aicc.services.jobs import jobs, logs
from aicc.services.jobs.jobs import cancel as cancel_job

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/jobs")
def job_list(
    page: PageDep, state: str | None = None, project: str | None = None, before: str | None = None
) -> Response:
    data = views.job_list(page.session, page.me.who, state=state, project=project, before=before)
    template = "_job_rows.html" if is_htmx(page.request) else "jobs.html"
    return page.render(
        template,
        nav="jobs",
        data=data,
        states=views.STATE_ORDER,
        duration_s=views.duration_s,
    )


@router.get("/jobs/{job_id}")
def job_page(
    page: PageDep, job_id: str, replica: int = 0, stream: views.Stream | None = None
) -> Response:
    detail = views.job_detail(page.session, page.state, page.me.who, job_id)
    if not 0 <= replica < max(1, len(detail.job.replicas)):
        replica = 0
    failure = logs.failure(
        page.session, page.state.sealer, page.me.who, detail.job, page.state.executors
    )
    log_view = views.job_log(
        page.session, page.state, page.me.who, job_id, replica=replica, stream=stream or "stdout"
    )
    if stream is None and not log_view.text:  # nothing on stdout: open on stderr, if it has any
        errors = views.job_log(
            page.session, page.state, page.me.who, job_id, replica=replica, stream="stderr"
        )
        log_view = errors if errors.text else log_view
    return page.render(
        "job.html",
        nav="jobs",
        d=detail,
        log=log_view,
        failure=failure,
        duration_s=views.duration_s,
        **job_resources.context(page.session, page.state, page.me, job_id),
        **job_metrics.context(page.session, page.state, page.me, job_id),
    )


@router.get("/jobs/{job_id}/live")
def job_live(page: PageDep, job_id: str) -> Response:
    detail = views.job_detail(page.session, page.state, page.me.who, job_id)
    failure = logs.failure(
        page.session, page.state.sealer, page.me.who, detail.job, page.state.executors
    )
    return page.render(
        "_job_live.html",
        d=detail,
        failure=failure,
        duration_s=views.duration_s,
    )


@router.get("/jobs/{job_id}/log")
def job_log(
    page: PageDep, job_id: str, replica: int = 0, stream: views.Stream = "stdout"
) -> Response:
    log_view = views.job_log(
        page.session, page.state, page.me.who, job_id, replica=replica, stream=stream
    )
    return page.render("_job_log.html", job_id=job_id, log=log_view)


@router.post("/jobs/{job_id}/cancel")
def job_cancel(page: PostingPage, job_id: str) -> Response:
    cancel_job(page.session, page.me.who, job_id)
    return RedirectResponse(f"/jobs/{quote(job_id)}", status_code=303)


@router.post("/jobs/{job_id}/resubmit")
def job_resubmit(
    page: PostingPage, job_id: str, key: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    """The same spec, in the job's project, as a new job (`aicc job resubmit`); the form's key
    makes a double click one job."""
    spec = jobs.spec_again(page.session, page.me.who, job_id)  # another tenant's job: 404
    new_id = submitting.submit(page.session, page.state, page.me.who, spec, key=key or None)
    return RedirectResponse(f"/jobs/{quote(new_id or job_id)}", status_code=303)
