"""Health, the caller, and the accelerator catalog."""

from __future__ import annotations

from fastapi import APIRouter

from aicc import __version__
from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.core import catalog
from aicc.services.tenancy import tenancy

router = APIRouter()


@router.get("/healthz", response_model=schemas.Health, tags=["system"])
def health_show(state: StateDep) -> schemas.Health:
    return schemas.Health(
        status="ok", version=__version__, database=state.db.dialect, leader=state.controller.leading
    )


@router.get("/api/v1/me", response_model=schemas.Me, tags=["tenancy"])
def me_show(who: CurrentUser, session: SessionDep) -> schemas.Me:
    user = tenancy.get_user(session, who, who.user_id)
    org = tenancy.get_org(session, who, who.org_id)
    projects = tenancy.list_projects(session, who)
    return schemas.Me(
        user=schemas.User.model_validate(user, from_attributes=True),
        org=schemas.Org.model_validate(org, from_attributes=True),
        projects=[schemas.Project.model_validate(p, from_attributes=True) for p in projects],
    )


@router.get(
    "/api/v1/accelerators", response_model=schemas.Page[schemas.Accelerator], tags=["nodes"]
)
def accelerators_list(who: CurrentUser) -> schemas.Page[schemas.Accelerator]:
    items = [
        schemas.Accelerator(
            name=model.name,
            vendor=str(model.vendor),
            kind=str(model.kind),
            memory_gib=model.memory_gib,
            memory_bandwidth_gbs=model.memory_bandwidth_gbs,
            fp16_tflops=model.fp16_tflops,
            fp32_tflops=model.fp32_tflops,
            pflops=model.pflops,
            interconnect=model.interconnect,
            tdp_w=model.tdp_w,
            mig_profiles=list(model.mig_profiles),
            sources=[s.reference for s in model.sources],
        )
        for model in catalog.CATALOG.values()
    ]
    return schemas.Page[schemas.Accelerator](items=items)
