"""Draining a node: no new placements there, and with `evict` its running work is stopped and
requeued. Here rather than beside the nodes, since stopping jobs is the jobs' state writer's
(`transitions.evict_node`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.services.jobs import census
from aicc.services.jobs.transitions import evict_node
from aicc.services.nodes import nodes
from aicc.services.nodes.views import Node


def drain(session: Session, who: Principal, name: str, *, evict: bool, now: datetime) -> Node:
    """No new placements; running work finishes, or with `evict` is stopped (SIGTERM, grace,
    SIGKILL) and requeued under its retry policy, as a preemption would."""
    used = census.allocations(session)
    node = nodes.set_state(
        session, who, name, NodeState.DRAINING, "drained by an operator", used=used
    )
    if not evict:
        return node
    evict_node(session, node.id, name, now=now, why=f"evicted: node {name} is drained")
    return nodes.infos(session, [name], used=census.allocations(session))[0]
