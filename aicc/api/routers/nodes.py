"""Nodes: list with allocation, import an inventory, cordon and uncordon, burn-in."""

from __future__ import annotations

from fastapi import APIRouter

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep
from aicc.api.paging import PageArgs
from aicc.core.topology import NodeState
from aicc.services.center import burn_in, drains
from aicc.services.common import utcnow
from aicc.services.nodes import nodes
from aicc.services.nodes.views import Node

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


@router.get("", response_model=schemas.Page[Node])
def nodes_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    found = paging.cut(nodes.names(session))  # a page reads only its own nodes
    return {**found, "items": nodes.infos(session, found["items"])}


@router.post("/import", response_model=schemas.Page[Node])
def nodes_import(doc: nodes.Inventory, who: CurrentUser, session: SessionDep) -> dict[str, object]:
    imported = nodes.import_inventory(session, who, doc)
    return {"items": imported}


@router.get("/{name}", response_model=Node)
def nodes_get(name: str, who: CurrentUser, session: SessionDep) -> Node:
    """One node, with its last burn-in's figures and verdict (docs/burn-in.md)."""
    return nodes.get(session, name)


@router.post("/{name}/burn-in", response_model=Node)
def nodes_burn_in(name: str, who: CurrentUser, session: SessionDep) -> Node:
    """Take the node out of service and run its burn-in (center admins); it serves again once
    it passes, or is quarantined with the figures that failed."""
    return burn_in.request(session, who, name)


@router.post("/{name}/cordon", response_model=Node)
def nodes_cordon(name: str, who: CurrentUser, session: SessionDep) -> Node:
    node = nodes.set_state(session, who, name, NodeState.CORDONED, "cordoned by an operator")
    return node


@router.post("/{name}/uncordon", response_model=Node)
def nodes_uncordon(name: str, who: CurrentUser, session: SessionDep) -> Node:
    node = nodes.set_state(session, who, name, NodeState.READY)
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
