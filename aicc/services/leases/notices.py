"""The notices of leases and maintenance windows: their subjects and bodies, a lease's own to
its lessee, and the lessees a window touches. A window's notice goes to the organizations with
work on its nodes too, which jobs knows: jobs sends it (services/jobs/windows_told.py). Each
organization gets an event once (`key`), through the notify context's outbox
(services/notify/events.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.services.leases.leases import LIVE
from aicc.services.notify import events
from aicc.store.tables.leases import CapacityLeaseRow

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


def lessees(session: Session, names: Iterable[str], start: datetime, end: datetime) -> set[str]:
    """Organizations with a lease of these nodes (or of devices on them) for part of
    `start`..`end`."""
    leases = select(CapacityLeaseRow).where(
        CapacityLeaseRow.state.in_(LIVE),
        CapacityLeaseRow.starts_at < end,
        CapacityLeaseRow.ends_at > start,
    )
    wanted = set(names)
    found = set()
    for lease in session.scalars(leases):
        if wanted & (set(lease.nodes) | {d["node"] for d in lease.devices}):
            found.add(lease.org_id)
    return found


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
