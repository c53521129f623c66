"""Node health: a node that fails repeatedly is cordoned, and stays so until an operator
uncordons it (`aicc node uncordon`); AICC never lifts the cordon itself.

A failure is the node going down: its engine reported it down, or a replica was lost with it
(`node_lost`); both go through `nodes.mark_down`, which records the move to down in the node's
history (`node_changes`, services/nodes/history.py), once per transition.
Nothing a job does counts: not its exit code, its signals, nor its supervisor vanishing
(`supervisor_lost`, which a job can cause with `kill -9 $PPID` while the node is fine); else one
tenant's job could cordon a node for every tenant. Preempted replicas are no failure either.

The count is derived from what the store keeps anyway (the nodes' history, the audit log):
failures within the sliding window, and only since the operator last uncordoned the node, so that
lifting a cordon is not undone at once by the failures that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.topology import NodeState
from aicc.services.nodes import history, nodes
from aicc.services.tenancy import audit
from aicc.store.tables.nodes import NodeChangeRow, NodeRow

CORDONED_BY_AICC = "cordoned by AICC: "


@dataclass(frozen=True)
class Policy:
    """Cordon a node at `failures` failures within `window` (limits in docs/config.md); 0: never."""

    failures: int = 3
    window: timedelta = timedelta(hours=24)

    def reason(self, count: int) -> str:
        hours = self.window.total_seconds() / 3600
        return f"{CORDONED_BY_AICC}{count} failures in {hours:g} h"


@dataclass(frozen=True)
class Failure:
    at: datetime
    what: str  # "down: <why>"


def failures(session: Session, node_id: str, *, since: datetime) -> list[Failure]:
    """The node's failures at or after `since`, oldest first."""
    downs = (
        select(NodeChangeRow.at, NodeChangeRow.reason)
        .join(NodeRow, NodeRow.id == NodeChangeRow.node_id)
        .where(
            NodeChangeRow.node_id == node_id,
            NodeChangeRow.index.is_(None),
            NodeChangeRow.state == NodeState.DOWN.value,
            NodeChangeRow.at >= since,
            NodeChangeRow.at != NodeRow.created_at,  # a node first seen down failed nothing
        )
    )
    found = [
        Failure(at, f"down: {why.removeprefix(nodes.ENGINE)}") for at, why in session.execute(downs)
    ]
    return sorted(found, key=lambda f: f.at)


def last_uncordoned(session: Session, node_id: str) -> datetime | None:
    """When an operator last made the node ready again (the audit log's `node.ready`)."""
    action = f"node.{NodeState.READY.value}"
    return audit.last_at(session, action=action, object_type="node", object_id=node_id)


def check(session: Session, node_ids: set[str], policy: Policy, now: datetime) -> list[str]:
    """Cordon each of these nodes that has reached the policy's count; returns their names.

    Call it in the transaction that records a failure, so that no failure escapes the check.
    An operator's cordon or drain is left as it is; a state the engine set (down, drained) is
    replaced, so that the cordon outlives the engine bringing the node back (`nodes.register`
    keeps every state that is not the engine's). Idempotent: a cordoned node is skipped.
    """
    if policy.failures <= 0 or not node_ids:
        return []
    cordoned = []
    for node in session.scalars(select(NodeRow).where(NodeRow.id.in_(node_ids))):
        engine_set = node.state == NodeState.DOWN.value or node.state_reason.startswith(
            nodes.ENGINE
        )
        if node.state != NodeState.READY.value and not engine_set:
            continue
        since = now - policy.window
        uncordoned = last_uncordoned(session, node.id)
        if uncordoned is not None and uncordoned > since:
            since = uncordoned
        found = failures(session, node.id, since=since)
        if len(found) < policy.failures:
            continue
        before = node.state
        node.state, node.state_reason = NodeState.CORDONED.value, policy.reason(len(found))
        history.node(session, node, before, at=now)
        audit.record(
            session,
            None,
            f"node.{NodeState.CORDONED.value}",
            "node",
            node.id,
            detail={
                "reason": node.state_reason,
                "failures": [{"at": f.at.isoformat(), "what": f.what} for f in found],
            },
        )
        cordoned.append(node.name)
    return cordoned
