"""Deployments: model APIs (or any command listening on `$PORT`) kept running as replicas,
updated one replica at a time, rolled back, scaled, stopped (docs/deployments.md). A deployment
is named like a data set: `{name}` and `?project=`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import Cursor, Limit, page
from aicc.api.params import DeploymentName, ProjectRef
from aicc.services.serving import deployments
from aicc.services.serving.deployments import Policy
from aicc.services.serving.views import Deployment, DeploymentRevision

router = APIRouter(prefix="/api/v1", tags=["deployments"])


def _policy(state: StateDep) -> Policy:
    return Policy(**state.settings.deployments.model_dump())


@router.get("/deployments", response_model=schemas.Page[Deployment])
def deployments_list(
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, object]:
    """A project's deployments (your default project's), by name, each with its replicas."""
    return page(deployments.list_deployments(session, who, project=project), limit, cursor)


@router.post("/deployments", response_model=Deployment, status_code=201)
def deployments_create(
    body: schemas.DeploymentIn, who: CurrentUser, session: SessionDep, state: StateDep
) -> Deployment:
    """Deploy a model version or a command; the control loop starts its replicas."""
    return deployments.create(session, who, state.blobs, **body.model_dump(), policy=_policy(state))


@router.get("/deployments/{name}", response_model=Deployment)
def deployments_get(
    name: DeploymentName, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> Deployment:
    return deployments.get(session, who, name, project=project)


@router.patch("/deployments/{name}", response_model=Deployment)
def deployments_update(
    name: DeploymentName,
    body: schemas.DeploymentPatch,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> Deployment:
    """A new revision (new model version, resources, env, command...), rolled out one
    replica at a time; nothing changed makes none."""
    changes = body.model_dump(exclude_none=True)
    return deployments.update(session, who, state.blobs, name, changes, project=project)


@router.get("/deployments/{name}/revisions", response_model=list[DeploymentRevision])
def deployments_revisions(
    name: DeploymentName, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> list[DeploymentRevision]:
    """Every revision, newest first."""
    return deployments.revisions(session, who, name, project=project)


@router.post("/deployments/{name}/rollback", response_model=Deployment)
def deployments_rollback(
    name: DeploymentName,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Deployment:
    """A new revision with the spec of the one before the current one."""
    return deployments.rollback(session, who, name, project=project)


@router.post("/deployments/{name}/scale", response_model=Deployment)
def deployments_scale(
    name: DeploymentName,
    body: schemas.ScaleIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> Deployment:
    return deployments.scale(
        session, who, name, **body.model_dump(), project=project, policy=_policy(state)
    )


@router.post("/deployments/{name}/stop", response_model=Deployment)
def deployments_stop(
    name: DeploymentName,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Deployment:
    """Stop every replica (state `stopped`) until `start`."""
    return deployments.stop(session, who, name, project=project)


@router.post("/deployments/{name}/start", response_model=Deployment)
def deployments_start(
    name: DeploymentName,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Deployment:
    return deployments.start(session, who, name, project=project)


@router.delete("/deployments/{name}", status_code=204)
def deployments_delete(
    name: DeploymentName,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Response:
    """Cancel its replicas and forget it."""
    deployments.delete_deployment(session, who, name, project=project)
    return Response(status_code=204)
