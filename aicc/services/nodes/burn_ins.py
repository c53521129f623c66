"""A node's burn-ins as nodes keeps them (docs/burn-in.md): an operator sends a node to one,
the center's burn-in (services/center/burn_in.py) runs its job and judges its figures, and
nodes records that it runs and its verdict, and moves the node out of `burn_in` with it. Nodes
alone reads and writes the burn-ins and the node's state; the center reads them here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.services import changes
from aicc.services.common import Conflict, Forbidden, Invalid, new_id, utcnow
from aicc.services.nodes import history, views
from aicc.services.nodes import nodes as node_service
from aicc.services.tenancy import audit
from aicc.store.tables.nodes import BurnInRow, NodeRow

OPERATOR_REASON = "burn-in requested by an operator"
RUNNING = "running"


@dataclass(frozen=True)
class Running:
    """A burn-in under way: its node, its job and the kind its figures are compared within."""

    id: str
    node_id: str
    job_id: str | None
    kind: str


@dataclass(frozen=True)
class Verdict:
    """How a burn-in ended: `passed` or `failed`, the figures judged (each `{value, unit,
    reference, passed}`), the checks skipped and the GPU's, and why it failed."""

    state: str
    figures: Mapping[str, Any]
    checks: Mapping[str, Any]
    reason: str


def request(
    session: Session, who: Principal, name: str, *, used: Mapping[str, node_service.Allocation]
) -> views.Node:
    """An operator's burn-in of a node (`aicc node burn-in NAME`): the node leaves service
    (jobs running there go on, as on a cordon) and the loops start its burn-in; a 409 while one
    runs, a 422 for a node that is down."""
    if not who.is_admin:
        raise Forbidden("only center admins start a node's burn-in")
    row = node_service.row_named(session, name)
    if row.state == NodeState.DOWN.value:
        raise Invalid(
            "node {name} is down; it returns when its executor reports it again", name=name
        )
    busy = select(BurnInRow.id).where(BurnInRow.node_id == row.id, BurnInRow.state == RUNNING)
    if session.scalar(busy.limit(1)) is not None:
        raise Conflict("node {name} is running its burn-in already", name=name)
    before = row.state
    row.state, row.state_reason = NodeState.BURN_IN.value, OPERATOR_REASON
    history.node(session, row, before, at=utcnow())  # SLA reports (issue 40)
    audit.record(session, who, "node.burn_in", "node", row.id)
    changes.changed(session)  # the loops start it
    return node_service.infos(session, [name], used=used)[0]


def running(session: Session) -> list[Running]:
    """Every burn-in under way."""
    query = select(BurnInRow.id, BurnInRow.node_id, BurnInRow.job_id, BurnInRow.kind).where(
        BurnInRow.state == RUNNING
    )
    return [Running(*found) for found in session.execute(query)]


def any_running(session: Session) -> bool:
    query = select(BurnInRow.id).where(BurnInRow.state == RUNNING).limit(1)
    return session.scalar(query) is not None


def waiting(session: Session) -> list[str]:
    """Nodes in `burn_in` with no burn-in running: the ones to start one on."""
    busy = select(BurnInRow.node_id).where(BurnInRow.state == RUNNING)
    query = select(NodeRow.name).where(
        NodeRow.state == NodeState.BURN_IN.value, NodeRow.id.not_in(busy)
    )
    return list(session.scalars(query.order_by(NodeRow.name)))


def begin(session: Session, name: str, *, job_id: str, kind: str, at: datetime) -> str:
    """Record the burn-in of the node named as running its job; its id. An operator who sent
    the node through it by hand (its audit entry) is kept as who asked."""
    node = node_service.row_named(session, name)
    asked = None
    if node.state_reason == OPERATOR_REASON:
        asked = audit.last_actor(session, action="node.burn_in", object_id=node.id)
    row = BurnInRow(
        id=new_id("brn"),
        node_id=node.id,
        job_id=job_id,
        kind=kind,
        state=RUNNING,
        figures={},
        checks={},
        reason="",
        requested_by=asked,
        started_at=at,
    )
    session.add(row)
    return row.id


def passed_figures(session: Session, kind: str, last: int) -> list[Mapping[str, Any]]:
    """The figures of the `last` passed burn-ins of nodes of `kind`, the latest first."""
    query = (
        select(BurnInRow.figures)
        .where(BurnInRow.kind == kind, BurnInRow.state == "passed")
        .order_by(BurnInRow.started_at.desc())
        .limit(last)
    )
    return [figures or {} for figures in session.scalars(query)]


def conclude(session: Session, burn_in_id: str, verdict: Verdict, *, at: datetime) -> str | None:
    """Record the burn-in's verdict and end it; a node still in `burn_in` becomes `ready` on a
    pass, else `quarantined` saying why. The node's name where it was moved, else None."""
    row = session.get(BurnInRow, burn_in_id)
    if row is None:
        return None
    row.state, row.reason = verdict.state, verdict.reason
    row.figures, row.checks = dict(verdict.figures), dict(verdict.checks)
    row.ended_at = at
    node = session.get(NodeRow, row.node_id)
    if node is None or node.state != NodeState.BURN_IN.value:
        return None
    passed = row.state == "passed"
    node.state = (NodeState.READY if passed else NodeState.QUARANTINED).value
    node.state_reason = "" if passed else f"burn-in failed: {row.reason}"[:200]
    history.node(session, node, NodeState.BURN_IN.value, at=at)  # SLA reports
    changes.changed(session)  # the scheduler places by it
    return node.name
