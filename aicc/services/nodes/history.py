"""The history of node states and device health (`node_changes`), written in the transaction
that changes them, so that a lease's SLA report (services/leases/sla.py) can say, to the
minute, when leased capacity was out and why."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.store.tables.nodes import NodeChangeRow, NodeRow

HEALTHY, UNHEALTHY = "healthy", "unhealthy"  # a device's `state` in the history


def node(session: Session, row: NodeRow, before: str | None, *, at: datetime) -> None:
    """Record the node's state if it is not `before` (its state before the change)."""
    if row.state == before:
        return
    session.add(
        NodeChangeRow(
            node_id=row.id, index=None, state=row.state, reason=row.state_reason[:200], at=at
        )
    )


def device(
    session: Session, node_id: str, index: int, healthy: bool, reason: str, *, at: datetime
) -> None:
    """Record a device's health as it changes."""
    state = HEALTHY if healthy else UNHEALTHY
    session.add(NodeChangeRow(node_id=node_id, index=index, state=state, reason=reason, at=at))


@dataclass(frozen=True)
class Change:
    """One recorded change: of the node (`index` None) or of one of its devices."""

    index: int | None
    at: datetime
    state: str
    reason: str


def of_nodes(session: Session, names: Collection[str], until: datetime) -> dict[str, list[Change]]:
    """node name -> its changes up to `until`, oldest first."""
    query = (
        select(NodeRow.name, NodeChangeRow)
        .join(NodeChangeRow, NodeChangeRow.node_id == NodeRow.id)
        .where(NodeRow.name.in_(list(names)), NodeChangeRow.at < until)
        .order_by(NodeChangeRow.at, NodeChangeRow.id)
    )
    out: dict[str, list[Change]] = {name: [] for name in names}
    for name, row in session.execute(query):
        out[name].append(Change(row.index, row.at, row.state, row.reason))
    return out
