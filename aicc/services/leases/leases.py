"""Leases: an organization's dedicated capacity from one time to another, whole nodes or whole
devices of a pool (picked when the lease is made). Center admins make and end them; the
lessee's members see theirs, with how the capacity is used now, as a queue of their own (the
jobs there are jobs' to read: its callers pass a lease through `jobs/leased.py`'s `shown`). The
scheduler keeps leased capacity for the lessee's jobs (`held`, read by the snapshot builder),
and lends it to others' preemptible work where the lease says so."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services import changes
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, from_row, new_id, utc
from aicc.services.leases.views import Lease, LeasedDevice, LeaseUse
from aicc.services.nodes import census as node_census
from aicc.services.tenancy import audit, directory, tenancy
from aicc.services.tenancy.views import Org
from aicc.store.tables.leases import CapacityLeaseRow

LIVE = ("scheduled", "active")  # leases not ended
MAX_SPAN = timedelta(days=3660)


@dataclass(frozen=True)
class Ask:
    """What a lease is asked for: whole `nodes`, or `devices` whole devices of `pool`."""

    org: str
    starts_at: datetime
    ends_at: datetime
    nodes: Sequence[str] = ()
    pool: str | None = None
    devices: int | None = None
    tier: float = 99.9
    plan: str | None = None
    lends: bool = False


def create(session: Session, who: Principal, ask: Ask, *, now: datetime) -> Lease:
    """Lease capacity to an organization (center admins). Nodes or devices already leased for
    an overlapping time are a conflict."""
    if not who.is_admin:
        raise Forbidden("only center admins make leases")
    org = _org(session, ask.org)
    start, end = utc(ask.starts_at), utc(ask.ends_at)
    if end <= start:
        raise Invalid("to must be after from (from {start}, to {end})", start=start, end=end)
    if end <= now:
        raise Invalid("the lease ends in the past ({end}); give a later to", end=end)
    if end - start > MAX_SPAN:
        raise Invalid("a lease lasts at most 10 years")
    if bool(ask.nodes) == (ask.pool is not None or ask.devices is not None):
        raise Invalid("lease whole nodes (--nodes) or devices of a pool (--pool and --devices)")
    overlapping = _overlapping(session, start, end)
    taken_nodes = {n for r in overlapping for n in r.nodes}
    taken_devices = {(d["node"], d["index"]) for r in overlapping for d in r.devices}
    devices: list[dict[str, object]] = []
    if ask.nodes:
        names = _nodes(session, ask.nodes, taken_nodes, taken_devices)
    else:
        if ask.pool is None or ask.devices is None:
            raise Invalid("a device lease names the pool (--pool) and how many (--devices)")
        names = []
        devices = _pick_devices(session, ask.pool, ask.devices, taken_nodes, taken_devices)
    row = CapacityLeaseRow(
        id=new_id("lse"),
        org_id=org.id,
        nodes=names,
        devices=devices,
        pool=ask.pool,
        starts_at=start,
        ends_at=end,
        tier=ask.tier,
        plan=ask.plan,
        lends=ask.lends,
        state="scheduled",  # the loop marks it active at its start, and says so
        ended_at=None,
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    audit.record(session, who, "lease.create", "lease", row.id, org_id=org.id, now=now)
    changes.changed(session)  # the scheduler keeps the capacity from now on
    return _view(session, row, org.name, now)


def _org(session: Session, ref: str) -> Org:
    row = directory.org_by_ref(session, ref)
    if row is None:
        raise Invalid("unknown organization {org}; `aicc org list` shows them", org=ref)
    return row


def _overlapping(session: Session, start: datetime, end: datetime) -> list[CapacityLeaseRow]:
    query = select(CapacityLeaseRow).where(
        CapacityLeaseRow.state.in_(LIVE),
        CapacityLeaseRow.starts_at < end,
        CapacityLeaseRow.ends_at > start,
    )
    return list(session.scalars(query))


def _nodes(
    session: Session, names: Sequence[str], taken: set[str], taken_devices: set[tuple[str, int]]
) -> list[str]:
    known = set(node_census.ids_by_name(session, names))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise Invalid(
            "unknown node {names}; `aicc node list` shows the nodes", names=", ".join(unknown)
        )
    busy = sorted({n for n in names if n in taken} | {n for n, _ in taken_devices if n in names})
    if busy:
        raise Conflict("node {names} is leased for part of that time", names=", ".join(busy))
    return sorted(set(names))


def _pick_devices(
    session: Session,
    pool: str,
    count: int,
    taken_nodes: set[str],
    taken_devices: set[tuple[str, int]],
) -> list[dict[str, object]]:
    """`count` whole devices of the pool: whole nodes first (the most free devices first),
    so the lease spans the fewest nodes."""
    free: dict[str, list[int]] = defaultdict(list)
    pooled = {
        n.name for n in node_census.listed(session) if n.labels.get("pool", "default") == pool
    }
    for device in node_census.devices(session, names=pooled - taken_nodes, healthy=True):
        if (device.node, device.index) not in taken_devices:
            free[device.node].append(device.index)
    if sum(len(v) for v in free.values()) < count:
        raise Conflict(
            "pool {pool} has {free} devices free of leases then; {count} asked",
            pool=pool,
            free=sum(len(v) for v in free.values()),
            count=count,
        )
    picked: list[dict[str, object]] = []
    left = count
    for name in sorted(free, key=lambda n: (-len(free[n]), n)):
        if left <= 0:
            break
        take = free[name][: min(left, len(free[name]))]
        picked.extend({"node": name, "index": i} for i in take)
        left -= len(take)
    return picked


def _owned(session: Session, who: Principal, lease_id: str) -> CapacityLeaseRow:
    """The lease, seen by a center admin or a member of its organization; else NotFound."""
    row = session.get(CapacityLeaseRow, lease_id)
    if row is None or not (who.is_admin or row.org_id == who.org_id):
        raise NotFound("lease {id} not found; `aicc lease list` shows yours", id=lease_id)
    return row


def listing(session: Session, who: Principal, *, now: datetime) -> list[Lease]:
    """Every lease for center admins; an organization's own for its members, newest first."""
    query = select(CapacityLeaseRow).order_by(
        CapacityLeaseRow.starts_at.desc(), CapacityLeaseRow.id
    )
    if not who.is_admin:
        query = query.where(CapacityLeaseRow.org_id == who.org_id)
    rows = list(session.scalars(query))
    names = tenancy.org_names(session, {r.org_id for r in rows})
    return [_view(session, r, names.get(r.org_id, r.org_id), now) for r in rows]


def get(session: Session, who: Principal, lease_id: str, *, now: datetime) -> Lease:
    row = _owned(session, who, lease_id)
    return _view(session, row, tenancy.org_names(session, {row.org_id}).get(row.org_id, ""), now)


def end(session: Session, who: Principal, lease_id: str, *, now: datetime) -> Lease:
    """End a lease now (center admins): its capacity goes back to everyone."""
    if not who.is_admin:
        raise Forbidden("only center admins end leases")
    row = _owned(session, who, lease_id)
    if row.state == "ended":
        raise Invalid("lease {id} has ended already", id=row.id)
    row.state, row.ended_at, row.updated_at = "ended", now, now
    audit.record(session, who, "lease.end", "lease", row.id, org_id=row.org_id, now=now)
    changes.changed(session)
    return get(session, who, lease_id, now=now)


def in_force(row: CapacityLeaseRow, now: datetime) -> bool:
    return row.state != "ended" and utc(row.starts_at) <= now < utc(row.ends_at)


@dataclass(frozen=True)
class Held:
    """What leases hold at one moment, for the scheduler: whole nodes by name -> (org, lends),
    devices by (node, index) -> (org, lends)."""

    nodes: dict[str, tuple[str, bool]]
    devices: dict[tuple[str, int], tuple[str, bool]]

    def __bool__(self) -> bool:
        return bool(self.nodes or self.devices)


def held(session: Session, now: datetime) -> Held:
    """The capacity leases in force hold at `now` (by time, whatever the loop has marked)."""
    query = select(CapacityLeaseRow).where(
        CapacityLeaseRow.state.in_(LIVE),
        CapacityLeaseRow.starts_at <= now,
        CapacityLeaseRow.ends_at > now,
    )
    nodes: dict[str, tuple[str, bool]] = {}
    devices: dict[tuple[str, int], tuple[str, bool]] = {}
    for row in session.scalars(query):
        for name in row.nodes:
            nodes[name] = (row.org_id, row.lends)
        for d in row.devices:
            devices[(d["node"], int(d["index"]))] = (row.org_id, row.lends)
    return Held(nodes, devices)


def _view(session: Session, row: CapacityLeaseRow, org: str, now: datetime) -> Lease:
    state = row.state
    if state == "scheduled" and in_force(row, now):
        state = "active"
    return from_row(
        Lease,
        row,
        org=org,
        state=state,
        devices=[LeasedDevice(node=d["node"], index=d["index"]) for d in row.devices],
        use=LeaseUse(),  # how it is used: jobs' `leased.show` tells
        running=[],
        waiting=[],
    )


def due(session: Session, now: datetime) -> tuple[list[str], list[str]]:
    """(leases that start now, leases that end now) by id, for the loop's notices."""
    rows = list(session.scalars(select(CapacityLeaseRow).where(CapacityLeaseRow.state.in_(LIVE))))
    ending = [r.id for r in rows if utc(r.ends_at) <= now]
    starting = [r for r in rows if r.state == "scheduled" and r.id not in ending]
    return [r.id for r in starting if utc(r.starts_at) <= now], ending


def mark(session: Session, lease_id: str, state: str, *, now: datetime) -> None:
    """The loop marks a lease `active` at its start, `ended` at its end."""
    row = session.get(CapacityLeaseRow, lease_id)
    if row is None:
        return
    row.state, row.updated_at = state, now
    if state == "ended":
        row.ended_at = row.ended_at or min(now, utc(row.ends_at))
