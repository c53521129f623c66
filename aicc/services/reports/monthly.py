"""One month of the center (billing time zone) as its operator and the funding government read
it: utilization of real devices, tenants served by kind, jobs, PFLOPS-hours sold, revenue,
subsidies and vouchers paid out, energy, PUE, carbon, and the 投-建-运 revenue shares.

A pure read model, for center admins only (Forbidden otherwise, as the other center-wide figures
are). Its money is the books' money: each organization's invoice of the month as
`billing.invoices.compute` gives it (an issued invoice as frozen; otherwise the draft as of now,
and the report then says `provisional`), so the report's revenue, subsidies and vouchers are the
sums of those invoices' totals and nothing is priced twice. Its PFLOPS-hours sold are the sums of
the month's usage records of real devices (`period` = the month), and of them, apart, those of
jobs of this site's tenants that ran at peer sites (billed here, docs/federation.md). Its energy,
carbon and PUE are those of this site's own devices only, which the meter wrote once (a job run
at a peer drew that site's power); IT energy is each record's kWh over the PUE of its hour, so
the month's PUE is the energy-weighted mean of the hours metered. Utilization is
`telemetry.kpis.utilization` by accelerator model, day by day, this site's real devices only;
simulated devices appear only as their own allocated device-hours, apart (docs/contracts.md §8).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from sqlalchemy.orm import Session

from aicc.config import Settings
from aicc.core import periods
from aicc.core.pricing import ZERO, PricePlan
from aicc.core.revenue import Agreement, split
from aicc.core.tenancy import OrgKind, Principal
from aicc.services.billing import facility, invoices, rating, usage
from aicc.services.billing.energy import load_profile
from aicc.services.billing.meter import PowerModel
from aicc.services.billing.rating import ELSEWHERE
from aicc.services.common import Conflict, Forbidden, Invalid, utc
from aicc.services.jobs import census
from aicc.services.reports.views import (
    DeviceHours,
    Energy,
    EnergyDay,
    JobsOfKind,
    Money,
    MonthlyReport,
    OrgBill,
    Revenue,
    Share,
    TenantKind,
)
from aicc.services.telemetry import kpis
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.views import Org

JOB_ENDS = ("succeeded", "failed", "cancelled")


def site_power(settings: Settings) -> PowerModel:
    """The site's power model as the meter uses it (PUE by hour from the energy profile)."""
    site = settings.site
    profile = None
    if site.energy_profile is not None:
        path = Path(site.energy_profile).expanduser()
        profile = load_profile(path if path.is_absolute() else settings.home / path)
    return PowerModel.of_site(site, profile)


def for_server(
    session: Session, who: Principal, *, settings: Settings, month: str | None, now: datetime
) -> MonthlyReport:
    """`monthly` under a server's settings (zone, default prices, agreement, PUE), as the API
    and the portal ask for it; `month` None is the current month."""
    zone = settings.site.timezone
    return monthly(
        session,
        who,
        month=month or periods.month_of(now, zone),
        zone=zone,
        default=settings.pricing,
        agreement=settings.reports.agreement,
        power=site_power(settings),
        now=now,
    )


def monthly(
    session: Session,
    who: Principal,
    *,
    month: str,
    zone: str,
    default: PricePlan,
    agreement: Agreement,
    power: PowerModel,
    now: datetime,
) -> MonthlyReport:
    """The report of `month` (YYYY-MM in `zone`); Invalid for a malformed month or one that
    has not begun, Forbidden for anyone but a center admin."""
    if not who.is_admin:
        raise Forbidden("the center's monthly report is for the center's admins")
    try:
        month = periods.parse_month(month)
    except ValueError as err:
        raise Invalid("month: {problem}", problem=str(err)) from None
    start, end = periods.month_bounds(month, zone)
    if start > now:
        raise Invalid("month: {month} has not begun", month=month)
    util, by_model, by_day, simulated = _utilization(session, who, start, end, zone, now)
    orgs = {o.id: o for o in tenancy.list_orgs(session, who)}  # every one: `who` is an admin
    served = usage.orgs_with_usage(session, month)
    bills, currency = _bills(session, orgs, month, zone, default)
    revenue = _revenue(bills, currency, agreement)
    pflops = _pflops(session, month)
    energy, energy_by_day = _energy(session, month, zone, power)
    energy = _metered(session, energy, start, end, now)
    return MonthlyReport(
        month=month,
        zone=zone,
        start=start,
        end=end,
        generated_at=now,
        provisional=now < end or any(b.status == "draft" for b in bills),
        utilization=util,
        by_model=by_model,
        by_day=by_day,
        simulated_allocated_device_hours=simulated,
        tenants=_tenants(orgs.values(), served, start, end),
        tenants_served=len(served & set(orgs)),
        tenants_new=sum(1 for o in orgs.values() if start <= utc(o.created_at) < end),
        jobs=_jobs(session, start, end),
        pflops_hours=pflops[0],
        pflops_hours_other_sites=pflops[1],
        pflops_hours_simulated=pflops[2],
        revenue=revenue,
        bills=bills,
        energy=energy,
        energy_by_day=energy_by_day,
    )


def _utilization(
    session: Session, who: Principal, start: datetime, end: datetime, zone: str, now: datetime
) -> tuple[DeviceHours, list[DeviceHours], list[DeviceHours], float]:
    first = periods.day_of(start, zone)
    days = (periods.day_of(end - timedelta(seconds=1), zone) - first).days + 1
    rows = kpis.utilization(session, who, by="model", first=first, days=days, zone=zone, now=now)
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for n in range(days):  # every day of the month that has begun, used or not
        day = first + timedelta(days=n)
        if periods.day_bounds(day, zone)[0] < now:
            sums[("day", day.isoformat())] = [0.0, 0.0, 0.0, 0.0]
    simulated = 0.0
    for r in rows:
        if r.simulated:
            simulated += r.allocated_device_hours
            continue
        busy = None if r.busy_rate is None else r.busy_rate * r.capacity_device_hours
        for key in (("day", r.day), ("model", r.group), ("month", "")):
            s = sums[key]
            s[0] += r.capacity_device_hours
            s[1] += r.allocated_device_hours
            if busy is not None:
                s[2] += busy
                s[3] += r.capacity_device_hours

    def made(key: tuple[str, str]) -> DeviceHours:
        capacity, allocated, busy, busy_capacity = sums[key]
        return DeviceHours(
            group=key[1],
            capacity_device_hours=capacity,
            allocated_device_hours=allocated,
            allocation_rate=allocated / capacity if capacity else None,
            busy_device_hours=busy if busy_capacity else None,
            busy_rate=busy / busy_capacity if busy_capacity else None,
        )

    days_seen = sorted(k for k in sums if k[0] == "day")
    sums.setdefault(("month", ""), [0.0, 0.0, 0.0, 0.0])
    models = sorted(k for k in sums if k[0] == "model")
    return made(("month", "")), [made(k) for k in models], [made(k) for k in days_seen], simulated


def _tenants(
    orgs: Iterable[Org], served: set[str], start: datetime, end: datetime
) -> list[TenantKind]:
    counts: dict[str, Counter[str]] = {k.value: Counter() for k in OrgKind}
    for org in orgs:
        created = utc(org.created_at)
        if created >= end and org.id not in served:
            continue  # made after the month (its records, if any, keep it counted)
        kind = counts.setdefault(org.kind.value, Counter())
        kind["total"] += 1
        kind["served"] += org.id in served
        kind["new"] += start <= created < end
    return [
        TenantKind(kind=k, served=c["served"], new=c["new"], total=c["total"])
        for k, c in counts.items()
    ]


def _jobs(session: Session, start: datetime, end: datetime) -> list[JobsOfKind]:
    counted = census.by_kind(session, start, end, JOB_ENDS)
    submitted, ended = counted.submitted, counted.ended
    kinds = sorted(set(submitted) | {k for k, _ in ended})
    return [
        JobsOfKind(
            kind=k,
            submitted=submitted[k],
            succeeded=ended[(k, "succeeded")],
            failed=ended[(k, "failed")],
            cancelled=ended[(k, "cancelled")],
        )
        for k in kinds
    ]


def _ran_elsewhere(record: usage.ComputeUse) -> bool:
    """Written here for a job of this site's tenant that ran at a peer (federation.books)."""
    return (record.replica_id or "").startswith(ELSEWHERE)


def _pflops(session: Session, month: str) -> tuple[float, float, float]:
    """PFLOPS-hours of real devices, the part of them at peer sites, and of simulated devices."""
    real, elsewhere, fake = Fraction(0), Fraction(0), Fraction(0)
    for record in usage.accelerated(session, month):
        amount = rating.pflops(record.accelerator) * rating.held_hours(
            record.milli, record.duration_us
        )
        if record.simulated:
            fake += amount
        else:
            real += amount
            if _ran_elsewhere(record):
                elsewhere += amount
    return float(real), float(elsewhere), float(fake)


def _metered(
    session: Session, energy: Energy, start: datetime, end: datetime, now: datetime
) -> Energy:
    """The month's energy with the facility meters' hours beside it: their measured PUE, the
    hours measured and the gaps (hours of the month so far that no meter hour covers count as
    gaps where the center has meters at all)."""
    pue, good, gaps = facility.summary(session, start, end)
    if not good and not gaps:
        return energy
    upto = min(end, periods.hour_floor(now))
    hours = max(0, int((upto - start).total_seconds() // 3600))
    return energy.model_copy(
        update={
            "meters_pue": pue,
            "meters_hours": good,
            "meters_gap_hours": max(gaps, hours - good),
        }
    )


def _energy(
    session: Session, month: str, zone: str, power: PowerModel
) -> tuple[Energy, list[EnergyDay]]:
    it = facility = carbon = 0.0
    records = without = 0
    days: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    methods: dict[str, float] = defaultdict(float)
    pue_methods: dict[str, float] = defaultdict(float)
    configured = 0.0
    for record in usage.measured_here(session, month):  # not at a peer: its power is theirs
        start = utc(record.start)
        used = record.pue if record.pue is not None else power.pue_at(start)
        own_it = record.energy_kwh / used
        configured += own_it * power.pue_at(start)
        pue_methods[record.pue_method or "configured"] += record.energy_kwh
        records += 1
        facility += record.energy_kwh
        it += own_it
        if record.energy_method:
            methods[record.energy_method] += record.energy_kwh
        day = days[periods.day_of(start, zone).isoformat()]
        day[0] += own_it
        day[1] += record.energy_kwh
        if record.carbon_kg is None:
            without += 1
        else:
            carbon += record.carbon_kg
            day[2] += record.carbon_kg
    energy = Energy(
        it_kwh=it,
        facility_kwh=facility,
        pue=facility / it if it else None,
        carbon_kg=carbon,
        records=records,
        without_carbon=without,
        by_method=dict(sorted(methods.items())),
        configured_pue=configured / it if it else None,
        by_pue_method=dict(sorted(pue_methods.items())),
    )
    by_day = [
        EnergyDay(day=d, it_kwh=v[0], facility_kwh=v[1], carbon_kg=v[2])
        for d, v in sorted(days.items())
    ]
    return energy, by_day


def _bills(
    session: Session, orgs: dict[str, Org], month: str, zone: str, default: PricePlan
) -> tuple[list[OrgBill], str]:
    """Every organization whose invoice of the month has a line or is issued, and their one
    currency (Conflict when they have several: the report adds money of one currency)."""
    issued = invoices.issued_orgs(session, month)
    out: list[OrgBill] = []
    currencies: set[str] = set()
    for org in sorted(orgs.values(), key=lambda o: o.name):
        invoice = invoices.compute(session, org_id=org.id, month=month, zone=zone, default=default)
        if not invoice.lines and org.id not in issued:
            continue
        currencies.add(invoice.currency)
        totals = {k: Decimal(v) for k, v in invoice.totals().items()}
        out.append(
            OrgBill(
                org_id=org.id,
                name=org.name,
                kind=org.kind.value,
                status=invoice.status,
                invoice_id=invoice.id,
                totals=Money(**totals),
            )
        )
    if len(currencies) > 1:
        raise Conflict(
            "the month's invoices are in more than one currency ({currencies}); "
            "the report adds money of one currency only",
            currencies=", ".join(sorted(currencies)),
        )
    return out, next(iter(currencies), default.currency)


def _revenue(bills: list[OrgBill], currency: str, agreement: Agreement) -> Revenue:
    totals = Money(
        **{
            k: sum((getattr(b.totals, k) for b in bills), ZERO)
            for k in ("gross", "discount", "subsidy", "voucher", "net")
        }
    )
    public = totals.subsidy + totals.voucher
    shares = split(agreement, payments=totals.net, public=public)
    return Revenue(
        currency=currency,
        totals=totals,
        payments=totals.net,
        public=public,
        shares=[Share(**vars(s)) for s in shares],
        rule=agreement.rule(),
    )
