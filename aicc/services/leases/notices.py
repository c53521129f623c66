"""Who hears of a maintenance window or a lease, and the notices themselves: each organization
with work on the nodes or a lease of them gets the event once (`key`), through the notify
context's outbox (services/notify/events.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.services.leases.leases import HOLDING, LIVE
from aicc.services.nodes import census as node_census
from aicc.services.nodes import maintenance
from aicc.services.notify import events
from aicc.store.tables import (
    CapacityLeaseRow,
    JobRow,
    ReplicaRow,
)

# Each kind's subject and body, as templates of the event's values (services/notify/events.py)
SUBJECTS = {
    "maintenance.scheduled": "Maintenance scheduled: {nodes}",
    "maintenance.started": "Maintenance started: {nodes}",
    "maintenance.ended": "Maintenance ended: {nodes}",
    "lease.started": "Lease {lease} started",
    "lease.ending": "Lease {lease} ending",
    "lease.ended": "Lease {lease} ended",
}
BODIES = {
    "maintenance.scheduled": "Maintenance of {nodes}, {span}: {reason}",
    "maintenance.started": "Maintenance of {nodes}, {span}: {reason}",
    "maintenance.ended": "Maintenance of {nodes}, {span}: {reason}",
    "lease.started": "Lease {lease} ({held}), {span}: started",
    "lease.ending": "Lease {lease} ({held}), {span}: ending",
    "lease.ended": "Lease {lease} ({held}), {span}: ended",
}


def orgs_on(session: Session, names: Iterable[str], start: datetime, end: datetime) -> set[str]:
    """Organizations with work running on these nodes now, or a lease of them (or of devices
    on them) for part of `start`..`end`."""
    names = list(names)
    ids = node_census.ids_named(names)
    running = (
        select(JobRow.org_id)
        .join(ReplicaRow, ReplicaRow.job_id == JobRow.id)
        .where(ReplicaRow.node_id.in_(ids), ReplicaRow.state.in_(HOLDING))
    )
    found = set(session.scalars(running))
    leases = select(CapacityLeaseRow).where(
        CapacityLeaseRow.state.in_(LIVE),
        CapacityLeaseRow.starts_at < end,
        CapacityLeaseRow.ends_at > start,
    )
    wanted = set(names)
    for lease in session.scalars(leases):
        if wanted & (set(lease.nodes) | {d["node"] for d in lease.devices}):
            found.add(lease.org_id)
    return found


def window(session: Session, window_id: str, kind: str) -> int:
    """`maintenance.scheduled|started|ended` to every organization the window touches; how
    many were told."""
    row = maintenance.find(session, window_id)
    if row is None:
        return 0
    orgs = orgs_on(session, row.nodes, row.starts_at, row.ends_at) | _told(session, row.id)
    shown = ", ".join(row.nodes[:10]) + (f" +{len(row.nodes) - 10}" if len(row.nodes) > 10 else "")
    span = f"{row.starts_at:%Y-%m-%d %H:%M} - {row.ends_at:%Y-%m-%d %H:%M} UTC"
    for org in sorted(orgs):
        events.emit(
            session,
            kind,
            org_id=org,
            subject=SUBJECTS[kind],
            body=BODIES[kind],
            params={"nodes": shown, "span": span, "reason": row.reason},
            data={"window": row.id, "nodes": list(row.nodes), "state": row.state},
            key=f"{kind}:{row.id}:{org}",
        )
    return len(orgs)


def _told(session: Session, window_id: str) -> set[str]:
    """The organizations told of this window before (their work was evicted since, say)."""
    return events.orgs_told(session, kind="maintenance.%", key=f"maintenance.%:{window_id}:%")


def lease(session: Session, lease_id: str, kind: str) -> None:
    """`lease.started|ending|ended` to the lessee."""
    row = session.get(CapacityLeaseRow, lease_id)
    if row is None:
        return
    held = row.nodes or sorted({d["node"] for d in row.devices})
    size = f"{len(row.devices)} devices on " if row.devices else ""
    events.emit(
        session,
        kind,
        org_id=row.org_id,
        subject=SUBJECTS[kind],
        body=BODIES[kind],
        params={
            "lease": row.id,
            "held": f"{size}{', '.join(held)}",
            "span": f"{row.starts_at:%Y-%m-%d %H:%M} - {row.ends_at:%Y-%m-%d %H:%M} UTC",
        },
        data={"lease": row.id, "nodes": list(row.nodes), "devices": list(row.devices)},
        key=f"{kind}:{row.id}",
    )


def announce(session: Session, window_id: str) -> int:
    """`maintenance.scheduled` for a window just made; how many organizations were told."""
    return window(session, window_id, "maintenance.scheduled")
