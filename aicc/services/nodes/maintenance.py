"""Maintenance windows: center admins announce when some nodes (named, a rack's, a pool's) go
out of service and why; every tenant reads them. The scheduler starts nothing there that would
run into a window (`upcoming`, read by the jobs' snapshot builder); the `maintenance` loop step
takes the nodes out at the start (`start`) and gives them back at the end (`finish`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.core.topology import NodeState
from aicc.services import changes
from aicc.services.common import Forbidden, Invalid, NotFound, from_row, new_id, utc
from aicc.services.nodes import history
from aicc.services.nodes.views import MaintenanceWindow
from aicc.services.tenancy import audit
from aicc.store.tables.nodes import MaintenanceWindowRow, NodeRow

OPEN = ("scheduled", "active")  # windows still to come or going on
MAX_SPAN = timedelta(days=366)
MAX_NODES = 4096
# A node in one of these states is not taken out by a window (it serves nothing anyway) and
# not given back by one (its own reason keeps it out).
LEFT_ALONE = (NodeState.DOWN.value, NodeState.QUARANTINED.value)


def create(
    session: Session,
    who: Principal,
    *,
    nodes: Sequence[str] = (),
    rack: str | None = None,
    pool: str | None = None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    now: datetime,
) -> MaintenanceWindow:
    """Announce a window (center admins). Exactly one of `nodes`, `rack`, `pool`; a rack or a
    pool stands for the nodes it has now."""
    if not who.is_admin:
        raise Forbidden("only center admins announce maintenance windows")
    starts_at, ends_at = utc(starts_at), utc(ends_at)
    if ends_at <= starts_at:
        raise Invalid(
            "to must be after from (from {start}, to {end})", start=starts_at, end=ends_at
        )
    if ends_at <= now:
        raise Invalid("the window ends in the past ({end}); give a later to", end=ends_at)
    if ends_at - starts_at > MAX_SPAN:
        raise Invalid("a window lasts at most 366 days; split it")
    if not reason.strip():
        raise Invalid("give a reason: tenants read it")
    scope, target, names = _resolve(session, nodes, rack, pool)
    row = MaintenanceWindowRow(
        id=new_id("mnt"),
        scope=scope,
        target=target,
        nodes=names,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip(),
        state="scheduled",
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    audit.record(session, who, "maintenance.create", "maintenance", row.id, now=now)
    changes.changed(session)  # the scheduler keeps work out of it from now on
    return view(row)


def _resolve(
    session: Session, nodes: Sequence[str], rack: str | None, pool: str | None
) -> tuple[str, str, list[str]]:
    """(scope, target, node names) of what a window is asked for."""
    given = [x for x in (bool(nodes), rack is not None, pool is not None) if x]
    if len(given) != 1:
        raise Invalid("name the nodes, a rack or a pool (exactly one of --nodes, --rack, --pool)")
    known = {r.name: r for r in session.scalars(select(NodeRow))}
    if nodes:
        if len(nodes) > MAX_NODES:
            raise Invalid("at most {n} nodes in one window", n=MAX_NODES)
        unknown = [n for n in nodes if n not in known]
        if unknown:
            raise Invalid(
                "unknown node {names}; `aicc node list` shows the nodes", names=", ".join(unknown)
            )
        return "nodes", "", sorted(set(nodes))
    key, value = ("rack", rack) if rack is not None else ("pool", pool)
    assert value is not None
    if key == "pool":
        names = sorted(n for n, r in known.items() if r.labels.get("pool", "default") == value)
    else:
        names = sorted(n for n, r in known.items() if r.labels.get("rack") == value)
    if not names:
        raise Invalid("no node is in {key} {value}", key=key, value=value)
    return key, value, names


def view(row: MaintenanceWindowRow) -> MaintenanceWindow:
    return from_row(MaintenanceWindow, row)


def listing(session: Session, *, now: datetime, past: bool = False) -> list[MaintenanceWindow]:
    """Windows by start; without `past`, the ones to come and going on (every tenant reads them:
    what is coming, not whose work it touches)."""
    query = select(MaintenanceWindowRow).order_by(
        MaintenanceWindowRow.starts_at, MaintenanceWindowRow.id
    )
    if not past:
        query = query.where(MaintenanceWindowRow.state.in_(OPEN))
    return [view(r) for r in session.scalars(query)]


def _row(session: Session, window_id: str) -> MaintenanceWindowRow:
    row = session.get(MaintenanceWindowRow, window_id)
    if row is None:
        raise NotFound(
            "maintenance window {id} not found; `aicc maintenance list` shows them", id=window_id
        )
    return row


def get(session: Session, window_id: str) -> MaintenanceWindow:
    return view(_row(session, window_id))


def find(session: Session, window_id: str) -> MaintenanceWindow | None:
    """The window, or None (a notice of a window deleted since is not sent)."""
    row = session.get(MaintenanceWindowRow, window_id)
    return view(row) if row is not None else None


def touching(session: Session, start: datetime, end: datetime) -> list[MaintenanceWindow]:
    """The windows, cancelled ones aside, that overlap `start`..`end`, by start (a lease's
    SLA report excludes those announced in time)."""
    query = (
        select(MaintenanceWindowRow)
        .where(
            MaintenanceWindowRow.state != "cancelled",
            MaintenanceWindowRow.starts_at < end,
            MaintenanceWindowRow.ends_at > start,
        )
        .order_by(MaintenanceWindowRow.starts_at)
    )
    return [view(row) for row in session.scalars(query)]


def cancel(
    session: Session, who: Principal, window_id: str, *, now: datetime, burn_in: bool
) -> MaintenanceWindow:
    """Call a window off (center admins); one going on gives its nodes back at once."""
    if not who.is_admin:
        raise Forbidden("only center admins cancel maintenance windows")
    row = _row(session, window_id)
    if row.state not in OPEN:
        raise Invalid("window {id} is {state} already", id=row.id, state=row.state)
    finish(session, row, now=now, burn_in=burn_in, state="cancelled")
    audit.record(session, who, "maintenance.cancel", "maintenance", row.id, now=now)
    changes.changed(session)
    return view(row)


def upcoming(session: Session, now: datetime) -> dict[str, tuple[float, MaintenanceWindow]]:
    """Node name -> (seconds from `now` until its next window starts, 0 if one is on; that
    window), for the scheduler's node views and the wait reasons. Empty: no window ahead."""
    out: dict[str, tuple[float, MaintenanceWindow]] = {}
    query = select(MaintenanceWindowRow).where(
        MaintenanceWindowRow.state.in_(OPEN), MaintenanceWindowRow.ends_at > now
    )
    for row in session.scalars(query.order_by(MaintenanceWindowRow.starts_at)):
        ahead = max(0.0, (row.starts_at - now).total_seconds())
        window = view(row)
        for name in row.nodes:
            if name not in out:
                out[name] = (ahead, window)
    return out


def due(session: Session, now: datetime) -> tuple[list[str], list[str]]:
    """(windows to start now, windows to end now), by id."""
    rows = list(
        session.scalars(
            select(MaintenanceWindowRow)
            .where(MaintenanceWindowRow.state.in_(OPEN))
            .order_by(MaintenanceWindowRow.starts_at)
        )
    )
    ending = [r.id for r in rows if utc(r.ends_at) <= now]
    starting = [r for r in rows if r.state == "scheduled" and r.id not in ending]
    return [r.id for r in starting if utc(r.starts_at) <= now], ending


def start(session: Session, window_id: str, *, now: datetime) -> list[tuple[str, str]]:
    """The window begins: its nodes go to `maintenance` (the caller evicts what runs there).
    Returns the nodes taken out, (id, name) each."""
    row = _row(session, window_id)
    row.state, row.updated_at = "active", now
    taken = []
    for node in session.scalars(select(NodeRow).where(NodeRow.name.in_(row.nodes))):
        if node.state in LEFT_ALONE:
            continue
        before = node.state
        node.state = NodeState.MAINTENANCE.value
        node.state_reason = f"maintenance {row.id}: {row.reason}"[:200]
        history.node(session, node, before, at=now)
        taken.append((node.id, node.name))
    return taken


def end(session: Session, window_id: str, *, now: datetime, burn_in: bool) -> list[str]:
    """The window ends on time (`finish`)."""
    return finish(session, _row(session, window_id), now=now, burn_in=burn_in)


def finish(
    session: Session,
    row: MaintenanceWindowRow,
    *,
    now: datetime,
    burn_in: bool,
    state: str = "ended",
) -> list[str]:
    """The window ends (or is cancelled): its nodes still in `maintenance` and in no other
    window going on go to `burn_in` (when burn-in is on) or `ready`. Returns their names."""
    row.state, row.updated_at = state, now
    others = session.scalars(
        select(MaintenanceWindowRow).where(
            MaintenanceWindowRow.state == "active", MaintenanceWindowRow.id != row.id
        )
    )
    held = {name for other in others for name in other.nodes}
    back = NodeState.BURN_IN if burn_in else NodeState.READY
    released = []
    for node in session.scalars(select(NodeRow).where(NodeRow.name.in_(row.nodes))):
        if node.state != NodeState.MAINTENANCE.value or node.name in held:
            continue
        node.state = back.value
        node.state_reason = f"back from maintenance {row.id}"[:200] if burn_in else ""
        history.node(session, node, NodeState.MAINTENANCE.value, at=now)
        released.append(node.name)
    return released
