"""Health, the caller, and the accelerator catalog."""

from __future__ import annotations

from fastapi import APIRouter

from aicc import __version__
from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.core import catalog
from aicc.services.nodes import views as nodes_views
from aicc.services.tenancy import tenancy, views

router = APIRouter()


@router.get("/healthz", response_model=schemas.Health, tags=["system"])
def health_show(state: StateDep) -> schemas.Health:
    return schemas.Health(
        status="ok", version=__version__, database=state.db.dialect, leader=state.controller.leading
    )


@router.get("/api/v1/me", response_model=views.Me, tags=["tenancy"])
def me_show(who: CurrentUser, session: SessionDep) -> views.Me:
    return tenancy.me(session, who)


@router.get(
    "/api/v1/accelerators", response_model=schemas.Page[nodes_views.Accelerator], tags=["nodes"]
)
def accelerators_list(who: CurrentUser) -> schemas.Page[nodes_views.Accelerator]:
    items = [nodes_views.Accelerator.of(model) for model in catalog.CATALOG.values()]
    return schemas.Page[nodes_views.Accelerator](items=items)
