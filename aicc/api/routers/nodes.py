"""Nodes: list with allocation, import an inventory, cordon and uncordon, burn-in; a node's BMC
(center admins), its power limit and its measured power."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.schemas.bmc import BmcIn, PowerLimitIn
from aicc.core.topology import NodeState
from aicc.services.center import drains
from aicc.services.common import utcnow
from aicc.services.jobs import census as job_census
from aicc.services.nodes import bmc, burn_ins, nodes
from aicc.services.nodes.views import Bmc, Node
from aicc.services.telemetry import samples
from aicc.services.telemetry.views import PowerCurve

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


@router.get("", response_model=schemas.Page[Node])
def nodes_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    found = paging.cut(nodes.names(session))  # a page reads only its own nodes
    return {
        **found,
        "items": nodes.infos(session, found["items"], used=job_census.allocations(session)),
    }


@router.post("/import", response_model=schemas.Page[Node])
def nodes_import(doc: nodes.Inventory, who: CurrentUser, session: SessionDep) -> dict[str, object]:
    imported = nodes.import_inventory(session, who, doc, used=job_census.allocations(session))
    return {"items": imported}


@router.get("/{name}", response_model=Node)
def nodes_get(name: str, who: CurrentUser, session: SessionDep) -> Node:
    """One node, with its last burn-in's figures and verdict (docs/burn-in.md)."""
    return nodes.get(session, name, used=job_census.allocations(session))


@router.post("/{name}/burn-in", response_model=Node)
def nodes_burn_in(name: str, who: CurrentUser, session: SessionDep) -> Node:
    """Take the node out of service and run its burn-in (center admins); it serves again once
    it passes, or is quarantined with the figures that failed."""
    return burn_ins.request(session, who, name, used=job_census.allocations(session))


@router.post("/{name}/cordon", response_model=Node)
def nodes_cordon(name: str, who: CurrentUser, session: SessionDep) -> Node:
    used = job_census.allocations(session)
    node = nodes.set_state(
        session, who, name, NodeState.CORDONED, "cordoned by an operator", used=used
    )
    return node


@router.post("/{name}/uncordon", response_model=Node)
def nodes_uncordon(name: str, who: CurrentUser, session: SessionDep) -> Node:
    node = nodes.set_state(
        session, who, name, NodeState.READY, used=job_census.allocations(session)
    )
    return node


@router.post("/{name}/drain", response_model=Node)
def nodes_drain(
    name: str,
    who: CurrentUser,
    session: SessionDep,
    evict: bool = False,
) -> Node:
    """Stop new placements; with `evict`, stop running jobs now and requeue them (retries)."""
    node = drains.drain(session, who, name, evict=evict, now=utcnow())
    return node


@router.get("/{name}/bmc", response_model=Bmc)
def nodes_bmc_get(name: str, who: CurrentUser, session: SessionDep) -> Bmc:
    """The node's BMC as center admins see it: address, user (never the password), status."""
    return bmc.get(session, who, name)


@router.put("/{name}/bmc", response_model=Bmc)
def nodes_bmc_put(
    name: str, body: BmcIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> Bmc:
    """Name the node's BMC (Redfish) or change it; the password is sealed and never shown."""
    return bmc.configure(session, who, sealer=state.sealer, node=name, **body.model_dump())


@router.delete("/{name}/bmc", status_code=204)
def nodes_bmc_delete(name: str, who: CurrentUser, session: SessionDep) -> Response:
    bmc.remove(session, who, name)
    return Response(status_code=204)


@router.put("/{name}/power-limit", response_model=Bmc)
def nodes_power_limit(name: str, body: PowerLimitIn, who: CurrentUser, session: SessionDep) -> Bmc:
    """Ask the node's BMC for a power limit (`500W`, `1.2kW` or watts); null lifts it."""
    return bmc.set_limit(session, who, name, body.watts)


@router.get("/{name}/power", response_model=PowerCurve)
def nodes_power(
    name: str,
    who: CurrentUser,
    session: SessionDep,
    hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24,
) -> PowerCurve:
    """The node's measured power (its BMC, else RAPL) over the last `hours`: at most ~300
    buckets (min, mean, max watts and the limit in force) and the window's now, mean, peak and
    kWh. Any signed-in user reads it, as the node itself (its BMC status shows the watts)."""
    return samples.power_curve(session, name, hours=hours, now=utcnow())
