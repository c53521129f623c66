"""Who hears of a maintenance window: each organization with work running on its nodes now
(jobs' replicas), a lease of them (services/leases/notices.py) or told of it before, once per
kind (`key`), through the notify context's outbox. Here rather than beside the leases, since
whose work runs where is the jobs' to read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from aicc.services.jobs import census
from aicc.services.leases import notices
from aicc.services.nodes import census as node_census
from aicc.services.nodes import maintenance
from aicc.services.notify import events


def orgs_on(session: Session, names: Iterable[str], start: datetime, end: datetime) -> set[str]:
    """Organizations with work running on these nodes now, or a lease of them (or of devices
    on them) for part of `start`..`end`."""
    names = list(names)
    found = census.orgs_holding(session, node_census.ids_named(names))
    return found | notices.lessees(session, names, start, end)


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
            subject=notices.SUBJECTS[kind],
            body=notices.BODIES[kind],
            params={"nodes": shown, "span": span, "reason": row.reason},
            data={"window": row.id, "nodes": list(row.nodes), "state": row.state},
            key=f"{kind}:{row.id}:{org}",
        )
    return len(orgs)


def _told(session: Session, window_id: str) -> set[str]:
    """The organizations told of this window before (their work was evicted since, say)."""
    return events.orgs_told(session, kind="maintenance.%", key=f"maintenance.%:{window_id}:%")


def announce(session: Session, window_id: str) -> int:
    """`maintenance.scheduled` for a window just made; how many organizations were told."""
    return window(session, window_id, "maintenance.scheduled")
