"""GA4GH TES 1.1 at /ga4gh/tes/v1 (issue 60): the workflow engines' way in (Snakemake, Cromwell,
Nextflow, cwl-tes; docs/interop.md). A task is a job of the caller's project: the same bearer
token, the same authorization, another tenant's task a 404. Errors answer GA4GH's shape
(`api/responses.py`'s `TesError`, bad input a 400), which `api/app.py`'s handlers give every
path under the prefix."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.responses import TES_ERRORS, TES_PREFIX
from aicc.core import tes as core
from aicc.services.jobs import tes
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.jobs.views import (
    TesCancelled,
    TesCreated,
    TesServiceInfo,
    TesTask,
    TesTaskList,
)

router = APIRouter(prefix=TES_PREFIX, tags=["tes"], responses=TES_ERRORS)
ViewQuery = Annotated[core.View, Query(description="MINIMAL: id and state; BASIC; FULL")]


@router.get("/service-info", response_model=TesServiceInfo)
def tes_service_info(request: Request) -> TesServiceInfo:
    """What this TES is and what it reads (`storage`, `tesResources_backend_parameters`); open to
    anyone, as GA4GH's service-info is: it names no tenant's data."""
    return tes.service_info(str(request.base_url))


@router.post("/tasks", response_model=TesCreated)
def tes_tasks_create(
    task: core.TesTaskIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> TesCreated:
    """Submit a task as a job of the caller's project (`backend_parameters.aicc_project` names
    another); what AICC will not run as asked is a 400 saying what to send instead."""
    limits = SubmitLimits.of(state.settings)
    return tes.create(session, who, state.blobs, task, limits=limits)


@router.get("/tasks", response_model=TesTaskList, response_model_exclude_none=True)
def tes_tasks_list(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    name_prefix: Annotated[str | None, Query(max_length=4096)] = None,
    task_state: Annotated[core.State | None, Query(alias="state")] = None,
    tag_key: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006 (FastAPI copies it)
    tag_value: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006
    page_size: Annotated[int, Query(ge=1, le=core.MAX_PAGE)] = core.DEFAULT_PAGE,
    page_token: Annotated[str | None, Query(max_length=64)] = None,
    view: ViewQuery = core.View.MINIMAL,
) -> TesTaskList:
    """The caller's tasks, newest first (the projects it reads; an org admin's organization)."""
    tags = tuple((key, tag_value[i] if i < len(tag_value) else "") for i, key in enumerate(tag_key))
    filters = tes.Filters(name_prefix=name_prefix, state=task_state, tags=tags)
    return tes.list_tasks(
        session,
        who,
        view=view,
        page_size=page_size,
        page_token=page_token,
        filters=filters,
        executors=state.executors,
    )


@router.get("/tasks/{id}", response_model=TesTask, response_model_exclude_none=True)
def tes_tasks_get(
    id: str,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    view: ViewQuery = core.View.MINIMAL,
) -> TesTask:
    return tes.get(session, who, id, view=view, executors=state.executors)


@router.post("/tasks/{id}:cancel", response_model=TesCancelled)
def tes_tasks_cancel(id: str, who: CurrentUser, session: SessionDep) -> TesCancelled:
    """Cancel the task's job; a task that ended already is left as it is."""
    return tes.cancel(session, who, id)
