"""Draining a node: no new placements there, and with `evict` its running work is stopped and
requeued. Here rather than beside the nodes, since stopping jobs is the jobs' state writer's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import JobState, Reason
from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.services.jobs.transitions import change_state
from aicc.services.nodes import nodes
from aicc.services.nodes.views import Node
from aicc.store.tables import JobRow, ReplicaRow


def drain(session: Session, who: Principal, name: str, *, evict: bool, now: datetime) -> Node:
    """No new placements; running work finishes, or with `evict` is stopped (SIGTERM, grace,
    SIGKILL) and requeued under its retry policy, as a preemption would."""
    node = nodes.set_state(session, who, name, NodeState.DRAINING, "drained by an operator")
    if evict:
        evict_from(session, node.id, name, now=now, why=f"evicted: node {name} is drained")
    return node if not evict else nodes.infos(session, [name])[0]


def evict_from(session: Session, node_id: str, name: str, *, now: datetime, why: str) -> list[str]:
    """Stop the work running on a node and requeue it under its retry policy (a drain with
    `evict`, a maintenance window's start). Returns the jobs evicted."""
    holding = select(ReplicaRow.job_id).where(
        ReplicaRow.node_id == node_id, ReplicaRow.state.in_(nodes.HOLDING)
    )
    evicted = []
    for job in session.scalars(select(JobRow).where(JobRow.id.in_(holding))):
        if job.state in ("scheduled", "running"):
            change_state(
                session,
                job,
                JobState.PREEMPTED,
                reason=Reason.PREEMPTED,
                message=why,
                at=now,
                data={"drained": name},
            )
            evicted.append(job.id)
    return evicted
