"""Deployments: model APIs (or any command listening on `$PORT`) kept running as replicas,
updated one replica at a time, rolled back, scaled, stopped (docs/deployments.md). A deployment
is named like a data set: `{name}` and `?project=`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.params import DeploymentName, ProjectRef
from aicc.services.serving import adapters, deployments
from aicc.services.serving.deployments import Policy
from aicc.services.serving.views import Deployment, DeploymentAdapter, DeploymentRevision

router = APIRouter(prefix="/api/v1", tags=["deployments"])


def _policy(state: StateDep) -> Policy:
    return Policy.of(state.settings)


# What the routes `_by_name` makes say of themselves, by their service function's name
_DOCS = {
    "revisions": "Every revision, newest first.",
    "rollback": "A new revision with the spec of the one before the current one.",
    "stop": "Stop every replica (state `stopped`) until `start`.",
    "list_adapters": "The LoRA adapters the deployment serves (`DEPLOYMENT:NAME`), by name.",
}


def _by_name(method: str, suffix: str, action: Callable[..., Any], answer: Any) -> None:
    """A route `/deployments/{name}<suffix>` (operation `deployments_<action>`) that hands the
    name and `?project=` to one service function as they are, and answers what it returns."""

    def endpoint(
        name: DeploymentName, who: CurrentUser, session: SessionDep, project: ProjectRef = None
    ) -> Any:
        return action(session, who, name, project=project)

    router.add_api_route(
        f"/deployments/{{name}}{suffix}",
        endpoint,
        methods=[method],
        response_model=answer,
        name=f"deployments_{action.__name__}",
        description=_DOCS.get(action.__name__),
    )


@router.get("/deployments", response_model=schemas.Page[Deployment])
def deployments_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: ProjectRef = None,
) -> dict[str, object]:
    """A project's deployments (your default project's), by name, each with its replicas."""
    return paging.cut(deployments.list_deployments(session, who, project=project))


@router.post("/deployments", response_model=Deployment, status_code=201)
def deployments_create(
    body: schemas.DeploymentIn, who: CurrentUser, session: SessionDep, state: StateDep
) -> Deployment:
    """Deploy a model version or a command; the control loop starts its replicas."""
    return deployments.create(session, who, state.blobs, **body.model_dump(), policy=_policy(state))


_by_name("GET", "", deployments.get, Deployment)


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
    return deployments.update(
        session, who, state.blobs, name, changes, project=project, policy=_policy(state)
    )


_by_name("GET", "/revisions", deployments.revisions, list[DeploymentRevision])
_by_name("POST", "/rollback", deployments.rollback, Deployment)


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


_by_name("POST", "/stop", deployments.stop, Deployment)
_by_name("POST", "/start", deployments.start, Deployment)


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


_by_name("GET", "/adapters", adapters.list_adapters, list[DeploymentAdapter])


@router.post("/deployments/{name}/adapters", response_model=DeploymentAdapter, status_code=201)
def deployments_attach(
    name: DeploymentName,
    body: schemas.AdapterIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> DeploymentAdapter:
    """Serve a LoRA adapter (a model version of peft's files over the deployment's model) as
    `DEPLOYMENT:NAME` and its alias; running replicas get it on its first request."""
    return adapters.attach(session, who, state.chunks, name, **body.model_dump(), project=project)


@router.delete("/deployments/{name}/adapters/{adapter}", status_code=204)
def deployments_detach(
    name: DeploymentName,
    adapter: DeploymentName,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Response:
    """Stop serving the adapter: its requests are a 404 from now on (on this server at once,
    on others within `gateway.endpoint_cache_s`)."""
    adapters.detach(session, who, name, adapter, project=project)
    return Response(status_code=204)
