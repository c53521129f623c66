"""API keys to a project's deployments, and the gateway's request log (docs/gateway.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.services.serving import api_keys, gateway
from aicc.services.serving.views import ApiKey, GatewayRequest

router = APIRouter(prefix="/api/v1", tags=["gateway"])


@router.get("/keys", response_model=schemas.Page[ApiKey])
def keys_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: str | None = None,
    revoked: bool = False,
) -> dict[str, object]:
    return paging.cut(api_keys.list_keys(session, who, project=project, revoked=revoked))


@router.post("/keys", response_model=ApiKey, status_code=201)
def keys_create(
    body: schemas.ApiKeyIn,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: str | None = None,
) -> ApiKey:
    return api_keys.create(
        session,
        who,
        project=project,
        default_plan=state.settings.pricing,
        **body.model_dump(),
    )


@router.delete("/keys/{ref}", response_model=ApiKey)
def keys_revoke(
    ref: str,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    after: BackgroundTasks,
    project: str | None = None,
) -> ApiKey:
    key = api_keys.revoke(session, who, project=project, ref=ref)
    # once committed, this server refuses it at once; others within `gateway.key_cache_s`
    after.add_task(state.gateway.forget, key.id)
    return key


@router.get("/requests", response_model=schemas.Page[GatewayRequest])
def requests_list(
    who: CurrentUser,
    session: SessionDep,
    project: str | None = None,
    deployment: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    rows = gateway.recent(session, who, project=project, deployment=deployment, limit=limit)
    return {"items": rows, "next_cursor": None}
