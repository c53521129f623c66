"""Notebooks: create, list, get, start, stop, delete (docs/api.md, docs/notebooks.md). A
notebook is its owner's alone: anyone else gets 404. It is opened in the portal, through the
server's proxy at `/notebooks/{job_id}/` (aicc/portal/notebook_proxy.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.params import ProjectRef
from aicc.services.jobs import notebooks
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.jobs.views import Notebook

router = APIRouter(prefix="/api/v1/notebooks", tags=["notebooks"])

NotebookRef = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="id or name")]


@router.get("", response_model=schemas.Page[Notebook])
def notebooks_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: ProjectRef = None,
) -> dict[str, object]:
    """Your notebooks (in one project, or in all of yours)."""
    return paging.cut(notebooks.list_notebooks(session, who, project=project))


@router.post("", response_model=Notebook, status_code=201)
def notebooks_create(
    body: schemas.NotebookIn,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
) -> Notebook:
    return notebooks.create(
        session,
        who,
        default_idle_timeout_s=state.settings.notebooks.idle_timeout_s,
        engines=state.executors,
        limits=SubmitLimits.of(state.settings),
        **body.model_dump(mode="json"),
    )


@router.get("/{notebook}", response_model=Notebook)
def notebooks_get(
    notebook: NotebookRef, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> Notebook:
    return notebooks.get(session, who, notebook, project=project)


@router.post("/{notebook}/start", response_model=Notebook)
def notebooks_start(
    notebook: NotebookRef,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: ProjectRef = None,
) -> Notebook:
    """Start it again: a new job on the same persistent home (a running one is left as is)."""
    limits = SubmitLimits.of(state.settings)
    return notebooks.start(
        session, who, notebook, project=project, engines=state.executors, limits=limits
    )


@router.post("/{notebook}/stop", response_model=Notebook)
def notebooks_stop(
    notebook: NotebookRef,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Notebook:
    return notebooks.stop(session, who, notebook, project=project)


@router.delete("/{notebook}", status_code=204)
def notebooks_delete(
    notebook: NotebookRef,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Response:
    """Stop and forget it; the home and its files stay."""
    notebooks.delete(session, who, notebook, project=project)
    return Response(status_code=204)
