"""A lease's monthly SLA report and its bill: availability of the leased devices per minute
(read from the nodes' history, `node_changes`, by core/availability.py), the incidents behind
it, the service credit it earns, and the month's lease charge. The charge and the credit reach
the lessee's invoice through billing's `extra_lines` (billing may not import leases).

A leased device is out in a minute when, for any part of it, its node is in any state but
`ready` (down, quarantined, draining or cordoned, in burn-in, in maintenance) or the device is
unhealthy. Minutes inside a maintenance window announced at least `maintenance.notice_s`
before it began are excluded (listed in `maintenance`, counted neither as leased nor as lost).
History starts with migration 0043: before a node's first recorded change it counts as ready."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.config import Settings
from aicc.core import availability, periods
from aicc.core.availability import Key, Outage
from aicc.core.pricing import PricePlan, to_money
from aicc.core.tenancy import Principal
from aicc.services.billing import extra_lines, usage
from aicc.services.billing.plans import Plans
from aicc.services.billing.rating import pflops
from aicc.services.common import asked_month, from_row, utc, utcnow
from aicc.services.leases.leases import _owned
from aicc.services.leases.views import ExcludedWindow, Incident, SlaReport
from aicc.services.nodes import census as node_census
from aicc.services.nodes import history, maintenance
from aicc.services.nodes.views import MaintenanceWindow
from aicc.services.tenancy import directory
from aicc.store.tables.leases import CapacityLeaseRow

NOTICE_S = 86400.0  # settings.maintenance.notice_s's default


@dataclass(frozen=True)
class Terms:
    """The center's SLA terms: how far ahead maintenance must be announced to be excluded
    (`maintenance.notice_s`), and the credit table (`leases.credits`)."""

    notice_s: float = NOTICE_S
    credits: tuple[tuple[str, Decimal], ...] = availability.CREDITS

    @classmethod
    def of(cls, settings: Settings) -> Terms:
        table = tuple((str(c.below), Decimal(str(c.credit_pct))) for c in settings.leases.credits)
        return cls(settings.maintenance.notice_s, table)


TERMS = Terms()
READY = "ready"
HOUR = Fraction(3600)


def report(
    session: Session,
    who: Principal,
    lease_id: str,
    month: str,
    *,
    zone: str,
    default: PricePlan,
    now: datetime,
    terms: Terms = TERMS,
) -> SlaReport:
    """The lease's report of `month` (its lessee's members and center admins; another
    organization's lease is not found)."""
    row = _owned(session, who, lease_id)
    return build(session, row, asked_month(month), zone=zone, default=default, now=now, terms=terms)


@dataclass(frozen=True)
class _Span:
    held: tuple[datetime, datetime] | None  # the lease's part of the month
    passed: tuple[datetime, datetime] | None  # of that, what has passed by `now`


def this_month(
    session: Session,
    lease_ids: Sequence[str],
    *,
    zone: str,
    default: PricePlan,
    now: datetime,
    terms: Terms = TERMS,
) -> dict[str, float]:
    """lease id -> its availability this month so far, in percent (the portal's lease list),
    for the leases given that hold some of this month by now."""
    month = periods.month_of(now, zone)
    out: dict[str, float] = {}
    for lease_id in lease_ids:
        row = session.get(CapacityLeaseRow, lease_id)
        if row is None or _span(row, month, zone, now).passed is None:
            continue
        found = build(session, row, month, zone=zone, default=default, now=now, terms=terms)
        out[lease_id] = found.availability_pct
    return out


def _span(row: CapacityLeaseRow, month: str, zone: str, now: datetime) -> _Span:
    first, last = periods.month_bounds(month, zone)
    end = utc(row.ends_at)
    if row.ended_at is not None:
        end = min(end, utc(row.ended_at))
    start, end = max(utc(row.starts_at), first), min(end, last)
    if end <= start:
        return _Span(None, None)
    upto = min(end, now)
    return _Span((start, end), (start, upto) if upto > start else None)


def build(
    session: Session,
    row: CapacityLeaseRow,
    month: str,
    *,
    zone: str,
    default: PricePlan,
    now: datetime,
    terms: Terms = TERMS,
) -> SlaReport:
    """The report of a lease's month, whoever asks."""
    span = _span(row, month, zone, now)
    devices = _devices(session, row)
    outages: list[Outage] = []
    windows: list[MaintenanceWindow] = []
    if span.passed is not None:
        outages = _outages(session, row, devices, span.passed)
        windows = _announced(session, devices, span.passed, terms.notice_s)
    excluded: dict[str, list[tuple[datetime, datetime]]] = {}
    for w in windows:
        for name in w.nodes:
            excluded.setdefault(name, []).append((utc(w.starts_at), utc(w.ends_at)))
    window = span.passed or (now, now)
    tally = availability.tally(window, devices, outages, excluded)
    pct = tally.pct
    share = availability.credit_pct(pct, row.tier, terms.credits)
    currency, charge = _charge(session, row, devices, span.held, default)
    credit = to_money(charge * share / 100) if span.passed else Decimal("0.00")
    org = directory.org(session, row.org_id)
    return SlaReport(
        lease_id=row.id,
        org=org.name if org is not None else row.org_id,
        month=month,
        tier=row.tier,
        starts_at=window[0] if span.passed else None,
        ends_at=window[1] if span.passed else None,
        final=span.held is None or span.held[1] <= now,
        devices=len(devices),
        leased_device_minutes=tally.leased_minutes,
        lost_device_minutes=tally.lost_minutes,
        excluded_device_minutes=tally.excluded_minutes,
        availability_pct=float(pct),
        incidents=_incidents(outages, window, excluded),
        maintenance=[_window(w) for w in windows],
        currency=currency,
        charge=str(charge),
        credit_pct=float(share),
        credit=str(credit),
    )


def _devices(session: Session, row: CapacityLeaseRow) -> list[Key]:
    """The leased devices: those picked, or every device of the leased nodes (a node without
    devices counts as one, index -1)."""
    keys: list[Key] = [(str(d["node"]), int(d["index"])) for d in row.devices]
    if row.nodes:
        found = sorted((d.node, d.index) for d in node_census.devices(session, names=row.nodes))
        keys += found
        keys += [(n, -1) for n in row.nodes if n not in {k[0] for k in found}]
    return sorted(keys)


def _outages(
    session: Session,
    row: CapacityLeaseRow,
    devices: Sequence[Key],
    window: tuple[datetime, datetime],
) -> list[Outage]:
    """Each stretch of a leased node out of `ready`, or of a leased device unhealthy, that
    touches `window`, from the nodes' history."""
    by_node: dict[str, list[int]] = {}
    for name, index in devices:
        by_node.setdefault(name, []).append(index)
    out: list[Outage] = []
    for name, changes in history.of_nodes(session, list(by_node), window[1]).items():
        leased = by_node[name]
        node_changes = [(c.at, c.state, c.reason) for c in changes if c.index is None]
        whole = frozenset((name, i) for i in leased)
        out += _stretches(node_changes, whole, lambda s: s != READY)
        for index in leased:
            mine = [(c.at, c.state, c.reason) for c in changes if c.index == index]
            one = frozenset({(name, index)})
            out += _stretches(mine, one, lambda s: s == history.UNHEALTHY, "unhealthy")
    return [o for o in out if o.end is None or utc(o.end) > window[0]]


def _stretches(
    changes: list[tuple[datetime, str, str]],
    devices: frozenset[Key],
    out_of_service: Callable[[str], bool],
    label: str = "",
) -> list[Outage]:
    """The stretches of a history of (at, state, reason) in a state `out_of_service` holds for."""
    found: list[Outage] = []
    since: tuple[datetime, str] | None = None
    for at, state, reason in changes:
        if out_of_service(state) and since is None:
            since = (utc(at), f"{label or state}: {reason}" if reason else label or state)
        elif not out_of_service(state) and since is not None:
            found.append(Outage(since[0], utc(at), devices, since[1]))
            since = None
    if since is not None:
        found.append(Outage(since[0], None, devices, since[1]))
    return found


def _announced(
    session: Session,
    devices: Sequence[Key],
    window: tuple[datetime, datetime],
    notice_s: float,
) -> list[MaintenanceWindow]:
    """Maintenance windows of the leased nodes touching `window`, announced at least
    `notice_s` before they began (cancelled ones excluded nothing)."""
    names = {name for name, _ in devices}
    notice = timedelta(seconds=notice_s)
    return [
        w
        for w in maintenance.touching(session, window[0], window[1])
        if names & set(w.nodes) and utc(w.created_at) <= utc(w.starts_at) - notice
    ]


def _window(row: MaintenanceWindow) -> ExcludedWindow:
    return from_row(ExcludedWindow, row, starts_at=utc(row.starts_at), ends_at=utc(row.ends_at))


def _incidents(
    outages: Sequence[Outage],
    window: tuple[datetime, datetime],
    excluded: dict[str, list[tuple[datetime, datetime]]],
) -> list[Incident]:
    """Each outage within the window, with the minutes it counts and those excluded."""
    out = []
    for outage in outages:
        start = max(utc(outage.start), window[0])
        end = min(utc(outage.end), window[1]) if outage.end is not None else window[1]
        key = min(outage.devices)
        one = availability.tally((start, end), [key], [outage], excluded)
        out.append(
            Incident(
                start=start,
                end=end if outage.end is not None and utc(outage.end) <= window[1] else None,
                minutes=one.lost_minutes,
                excluded_minutes=one.excluded_minutes,
                node=key[0],
                devices=sorted(i for _, i in outage.devices),
                state=outage.reason.split(":", 1)[0],
                reason=outage.reason,
            )
        )
    return sorted(out, key=lambda i: (i.start, i.node, i.devices))


def _charge(
    session: Session,
    row: CapacityLeaseRow,
    devices: Sequence[Key],
    held: tuple[datetime, datetime] | None,
    default: PricePlan,
) -> tuple[str, Decimal]:
    """(currency, the month's lease charge): each leased device's hours in the month × its
    model's price in the lessee's plan in force at the start (per accelerator-hour, or its
    PFLOPS × the plan's PFLOPS-hour price); a node without devices: its cores × cpu_core_hour.
    A device its plan prices at nothing costs nothing."""
    plans = Plans.load(session, org_id=row.org_id, default=default)
    start = held[0] if held else utc(row.starts_at)
    plan = plans.at(start).plan
    if held is None:
        return plan.currency, Decimal("0.00")
    hours = Fraction(int((held[1] - held[0]).total_seconds() * 1_000_000), 3_600_000_000)
    names = {name for name, _ in devices}
    cpus = {n.name: n.cpu_milli for n in node_census.listed(session, names=names)}
    models: dict[Key, tuple[str | None, int]] = {
        key: (model, cpus[key[0]]) for key, model in node_census.models(session, names).items()
    }
    with_devices = {name for name, _ in models}
    models |= {(n, -1): (None, cpu) for n, cpu in cpus.items() if n not in with_devices}
    total = Fraction(0)
    for key in devices:
        model, cpu_milli = models.get(key, (None, 0))
        total += hours * _hourly(plan, model, cpu_milli)
    exact = Decimal(total.numerator) / Decimal(total.denominator)
    return plan.currency, to_money(exact)


def _hourly(plan: PricePlan, model: str | None, cpu_milli: int) -> Fraction:
    if model is None:  # a node without devices
        price = plan.cpu_core_hour
        return Fraction(cpu_milli, 1000) * Fraction(price) if price is not None else Fraction(0)
    unit = plan.unit_price(model)
    if unit is None:
        return Fraction(0)
    if unit[0] == "accelerator_hour":
        return Fraction(unit[1])
    return pflops(model) * Fraction(unit[1])


def invoice_lines(
    session: Session,
    org_id: str,
    month: str,
    zone: str,
    default: PricePlan,
    *,
    terms: Terms = TERMS,
) -> list[extra_lines.Line]:
    """The organization's leases in `month` on its invoice: each lease's charge, and, once the
    month of the lease is over (the report final), the service credit as a negative line."""
    first, last = periods.month_bounds(month, zone)
    query = (
        select(CapacityLeaseRow)
        .where(
            CapacityLeaseRow.org_id == org_id,
            CapacityLeaseRow.starts_at < last,
            CapacityLeaseRow.ends_at > first,
        )
        .order_by(CapacityLeaseRow.starts_at, CapacityLeaseRow.id)
    )
    now = utcnow()
    out: list[extra_lines.Line] = []
    for row in session.scalars(query):
        held = _span(row, month, zone, now).held
        if held is None:
            continue
        sla = build(session, row, month, zone=zone, default=default, now=now, terms=terms)
        charge, credit = Decimal(sla.charge), Decimal(sla.credit)
        hours = Decimal((held[1] - held[0]).total_seconds()) / 3600
        out.append(
            extra_lines.Line(
                "lease",
                f"lease {row.id}",
                "lease_month",
                Decimal(1),
                charge,
                charge,
                sla.currency,
                f"lease {row.id}: {sla.devices} devices × {hours:.2f} h of {month}",
                row.id,
            )
        )
        if sla.final and credit > 0:
            out.append(
                extra_lines.Line(
                    "lease_credit",
                    f"lease {row.id}",
                    "credit",
                    Decimal(1),
                    -credit,
                    -credit,
                    sla.currency,
                    f"SLA credit of lease {row.id}: {sla.availability_pct:.4f}% available "
                    f"against {row.tier}%, {sla.credit_pct:g}% of its charge",
                    row.id,
                )
            )
    return out


def covered(session: Session, org_id: str, month: str, zone: str) -> dict[int, str]:
    """The lessee's own compute on its leased capacity, not yet invoiced (usage record id ->
    lease id): the lease's charge pays for it. A record is covered when it started within
    the lease, on a leased node, and every device it used is leased (whole nodes: any)."""
    leases = session.scalars(
        select(CapacityLeaseRow).where(
            CapacityLeaseRow.org_id == org_id,
            CapacityLeaseRow.starts_at < periods.month_bounds(month, zone)[1],
        )
    ).all()
    if not leases:  # most organizations: nothing more to read
        return {}
    ids = node_census.ids_by_name(session)
    out: dict[int, str] = {}
    for lease in leases:
        end = utc(lease.ended_at or lease.ends_at)
        slots = {(ids.get(str(d["node"])), int(d["index"])) for d in lease.devices}
        names = set(lease.nodes) | {str(d["node"]) for d in lease.devices}
        records = usage.uninvoiced_compute(
            session,
            org_id=org_id,
            month=month,
            node_ids=[ids[n] for n in names if n in ids],
            since=lease.starts_at,
            until=end,
        )
        whole = {ids[n] for n in lease.nodes if n in ids}
        for record in records:
            used = {(record.node_id, i) for i in record.device_indexes}
            if record.node_id in whole or (used and used <= slots):
                out[record.id] = lease.id
    return out


def register(terms: Terms = TERMS) -> None:
    """Put the leases' lines on invoices, under the center's SLA terms, and rate
    the lessees' own jobs on their leases at zero."""
    extra_lines.SOURCES[:] = [s for s in extra_lines.SOURCES if not _ours(s)]
    extra_lines.register(partial(invoice_lines, terms=terms))
    if covered not in extra_lines.COVERS:
        extra_lines.COVERS.append(covered)


def _ours(source: object) -> bool:
    return isinstance(source, partial) and source.func is invoice_lines


register()  # the default terms until the server registers its settings' (api/app.py)
