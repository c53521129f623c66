"""Monthly invoices per organization: drafts computed from usage records, issued ones frozen.

A draft is never stored: asking for it prices the month's usage records that no issued invoice
holds yet (plus late records of months already issued) under the plans in force when each was
used, applies the credits in order (gross → plan discount → subsidy → vouchers → net, per line),
and adds the month's adjustments. Issuing stores the lines as computed, marks their usage
records and adjustments with the invoice, and records what each credit gave; from then on the
invoice never changes, and a correction is an adjustment line on a later month's invoice.

A line is one job's (or deployment's) use of one item (an accelerator model, CPU, memory,
storage, tokens) in the month under one price, from its first day (`day`) to its last
(`last_day`): its quantity is the exact sum of its records' quantities, and it names the usage
records it comes from. A project's lines of one item at one price are rounded once, as one line
item of the month: their exact sum × the price, half-up to 0.01 (docs/contracts.md §1), the cents
shared among the lines by largest remainder (`rating.allocate`), so tiny uses add up to what
they cost. Lines split where the credits in force change (a voucher or subsidy starts or ends
within the month), so each credit applies to whole lines.

The invoice's footprint is each project's kWh of real accelerators and their kg CO₂e: over the
records of the month's own use and the late records its lines carry (the meter wrote both
figures; an invoice only sums them), frozen with the invoice when it is issued.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.pricing import (
    ZERO,
    PricePlan,
    Settlement,
    Subsidy,
    settle,
    to_money,
)
from aicc.core.tenancy import Principal, Role
from aicc.services.billing import credits, extra_lines, rating, records, views
from aicc.services.billing.plans import Plans
from aicc.services.common import (
    Conflict,
    Forbidden,
    Invalid,
    asked_month,
    from_row,
    new_id,
    utcnow,
)
from aicc.services.notify import events
from aicc.services.tenancy import audit, tenancy
from aicc.store.tables.billing import (
    AdjustmentRow,
    InvoiceLineRow,
    InvoiceRow,
    SubsidyRow,
    UsageRow,
    VoucherRow,
)

AMOUNTS = ("gross", "discount", "subsidy", "voucher", "net")


class IssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str
    month: str


@dataclass
class _Group:
    project_id: str | None
    job_id: str | None
    item: str
    unit: str
    unit_price: Decimal
    accelerator: str | None
    day: date
    period: str
    plan: str
    plan_name: str
    discount: Decimal
    currency: str
    quantity: Fraction = Fraction(0)
    usage_ids: list[int] = field(default_factory=list)
    deployment_id: str | None = None  # the gateway's requests to one deployment
    last_day: date | None = None
    credits: tuple[str, ...] = ()  # the credits valid on its days (the same on each)
    gross: Decimal = ZERO  # its share of its line item's amount (`rating.allocate`)


@dataclass
class Invoice:
    id: str | None
    org_id: str
    period: str
    status: str  # draft | issued
    currency: str
    lines: list[dict[str, Any]]
    unpriced: list[dict[str, Any]]
    issued_at: datetime | None = None
    # per project: {"project_id", "energy_kwh", "carbon_kg"}; None: issued before it was kept
    projects_footprint: list[dict[str, Any]] | None = None
    # a draft's usage records on no line, only in `unpriced`: the issued invoice takes them
    # too, so that they are listed once and not again in every later month's draft
    unpriced_ids: list[int] = field(default_factory=list)

    def footprint(self) -> dict[str, Any] | None:
        """kWh and kg CO₂e of real accelerators, in all and per project; None for invoices
        issued before footprints were kept. Rounded to the watt-hour and the gram."""
        if self.projects_footprint is None:
            return None
        kwh = sum(p["energy_kwh"] for p in self.projects_footprint)
        kg = sum(p["carbon_kg"] for p in self.projects_footprint)
        methods: dict[str, float] = {}
        for p in self.projects_footprint:
            for method, part in (p.get("by_method") or {}).items():
                methods[method] = methods.get(method, 0.0) + part
        return {
            "energy_kwh": round(kwh, 3),
            "carbon_kg": round(kg, 3),
            "by_method": {m: round(v, 3) for m, v in sorted(methods.items())},
            "projects": [
                {
                    **p,
                    "energy_kwh": round(p["energy_kwh"], 3),
                    "carbon_kg": round(p["carbon_kg"], 3),
                    "by_method": {
                        m: round(v, 3) for m, v in sorted((p.get("by_method") or {}).items())
                    },
                }
                for p in self.projects_footprint
            ],
        }

    def totals(self) -> dict[str, str]:
        return {k: str(sum((Decimal(line[k]) for line in self.lines), ZERO)) for k in AMOUNTS}

    def credits_given(self) -> dict[str, str]:
        given: dict[str, Decimal] = {}
        for line in self.lines:
            for credit in line["credits"]:
                given[credit["id"]] = given.get(credit["id"], ZERO) + Decimal(credit["amount"])
        return {k: str(v) for k, v in given.items()}

    def only(self, projects: Iterable[str | None]) -> Invoice:
        keep = set(projects)
        lines = [line for line in self.lines if line["project_id"] in keep]
        unpriced = [u for u in self.unpriced if u["project_id"] in keep]
        footprint = self.projects_footprint
        if footprint is not None:
            footprint = [p for p in footprint if p["project_id"] in keep]
        return Invoice(
            self.id, self.org_id, self.period, self.status, self.currency, lines, unpriced,
            self.issued_at, footprint,
        )  # fmt: skip

    def bill(self) -> views.Bill:
        """The invoice as the API and the SDK show it."""
        return views.Bill.model_validate(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_id": self.org_id,
            "period": self.period,
            "status": self.status,
            "currency": self.currency,
            "issued_at": self.issued_at,
            "totals": self.totals(),
            "footprint": self.footprint(),
            "lines": self.lines,
            "unpriced": self.unpriced,
        }


def compute(session: Session, *, org_id: str, month: str, zone: str, default: PricePlan) -> Invoice:
    """The organization's invoice of `month`: the issued one, or the draft as of now."""
    month = asked_month(month)
    stored = session.scalar(
        select(InvoiceRow).where(InvoiceRow.org_id == org_id, InvoiceRow.period == month)
    )
    if stored is not None:
        return _issued(session, stored)
    plans = Plans.load(session, org_id=org_id, default=default)
    currency = plans.at(periods.month_bounds(month, zone)[0]).plan.currency
    issued = set(session.scalars(select(InvoiceRow.period).where(InvoiceRow.org_id == org_id)))
    rows = session.scalars(
        select(UsageRow)
        .where(UsageRow.org_id == org_id, UsageRow.invoice_id.is_(None), UsageRow.period <= month)
        .order_by(UsageRow.start, UsageRow.id)
    )
    held = _Credits(credits._org_subsidies(session, org_id), credits._org_vouchers(session, org_id))
    cover = extra_lines.Cover.load(session, org_id, month, zone)  # leases' own jobs: zero
    groups: dict[tuple[object, ...], _Group] = {}
    unpriced: dict[tuple[str | None, str, str], Fraction] = {}
    unpriced_ids: list[int] = []
    footprint: dict[str | None, list[float]] = {}
    by_method: dict[str | None, dict[str, float]] = {}
    for record in rows:
        if record.period != month and record.period not in issued:
            continue  # an earlier month's own draft holds it
        eff = cover.plan(record, plans.at(record.start))
        day = periods.day_of(record.start, zone)
        valid = held.valid_on(day)
        on_a_line = False
        for rated in rating.rate(record, eff.plan):
            if rated.unit_price is None:
                missing = (record.project_id, rated.item, rated.unit)
                unpriced[missing] = unpriced.get(missing, Fraction(0)) + rated.quantity
                continue
            on_a_line = True
            key: tuple[object, ...] = (record.project_id, record.job_id, record.deployment_id)
            key += (rated.item, rated.unit)
            key += (rated.unit_price, valid, record.period, eff.key)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(
                    record.project_id, record.job_id, rated.item, rated.unit, rated.unit_price,
                    rated.accelerator, day, record.period, eff.key, eff.plan.name,
                    eff.plan.discount, eff.plan.currency, deployment_id=record.deployment_id,
                    credits=valid,
                )  # fmt: skip
            group.day, group.last_day = min(group.day, day), max(group.last_day or day, day)
            group.quantity += rated.quantity
            group.usage_ids.append(record.id)
        if not on_a_line:
            unpriced_ids.append(record.id)
        if _real_compute(record) and (on_a_line or record.period == month):
            sums = footprint.setdefault(record.project_id, [0.0, 0.0])
            sums[0] += record.energy_kwh
            sums[1] += record.carbon_kg or 0.0
            if record.energy_method:
                kinds = by_method.setdefault(record.project_id, {})
                kinds[record.energy_method] = (
                    kinds.get(record.energy_method, 0.0) + record.energy_kwh
                )
    _round_per_item(groups.values())
    lines = _settle_lines(session, org_id, sorted(groups.values(), key=_order), currency, held)
    lines += _adjustment_lines(session, org_id, month, start=len(lines))
    lines += extra_lines.lines(  # leases' charges and SLA credits (services/leases/sla.py)
        session, org_id, month, zone=zone, default=default, start=len(lines)
    )
    return Invoice(
        None,
        org_id,
        month,
        "draft",
        currency,
        lines,
        [
            {"project_id": p, "item": i, "unit": u, "quantity": str(rating.as_decimal(q))}
            for (p, i, u), q in sorted(unpriced.items(), key=lambda kv: str(kv[0]))
        ],
        projects_footprint=[
            {"project_id": p, "energy_kwh": kwh, "carbon_kg": kg, "by_method": by_method.get(p, {})}
            for p, (kwh, kg) in sorted(footprint.items(), key=lambda kv: kv[0] or "")
        ],
        unpriced_ids=unpriced_ids,
    )


def _real_compute(record: UsageRow) -> bool:
    """A record whose energy the meter measured: real accelerators (simulated ones draw none)
    and CPU jobs on nodes whose power was measured (records.measured)."""
    return records.measured(record.kind, record.accelerator, record.simulated, record.energy_method)


@dataclass(frozen=True)
class _Credits:
    """The organization's subsidy programs and vouchers, loaded once per invoice."""

    programs: list[SubsidyRow]
    vouchers: list[VoucherRow]

    def valid_on(self, day: date) -> tuple[str, ...]:
        """The credits valid on `day`: days with the same ones may share a line."""
        held: list[SubsidyRow | VoucherRow] = [*self.programs, *self.vouchers]
        return tuple(sorted(credit.id for credit in held if credits.valid_on(credit, day)))


def _round_per_item(groups: Iterable[_Group]) -> None:
    """Each line's gross, its project's line item of the month (one item at one price, under
    the same credits) rounded once and shared by largest remainder (`rating.allocate`)."""
    items: dict[tuple[object, ...], list[_Group]] = {}
    for g in groups:
        key = (g.project_id, g.item, g.unit, g.unit_price, g.credits, g.period, g.plan)
        items.setdefault(key, []).append(g)
    for members in items.values():
        shares = rating.allocate([g.quantity for g in members], members[0].unit_price)
        for g, gross in zip(members, shares, strict=True):
            g.gross = gross


def _order(g: _Group) -> tuple[str, ...]:
    job = g.job_id or g.deployment_id or ""
    return (g.day.isoformat(), g.project_id or "", job, g.item, g.unit, g.plan)


def _settle_lines(
    session: Session, org_id: str, groups: list[_Group], currency: str, held: _Credits
) -> list[dict[str, Any]]:
    """One line per usage group, in order: each draws on the vouchers' balances and the
    subsidies' yearly caps what the lines before it left."""
    if any(g.currency != currency for g in groups):
        raise Conflict(
            "usage of organization {org_id} is priced in more than one currency this month; "
            "give its plan versions one currency",
            org_id=org_id,
        )
    used = credits.taken(session, org_id)
    vouchers, programs = held.vouchers, held.programs
    balance = {v.id: credits.voucher_left(v, used) for v in vouchers}
    caps: dict[tuple[str, int], Decimal | None] = {}
    names = {v.id: v.name for v in vouchers} | {p.id: p.name for p in programs}
    lines = []
    for position, g in enumerate(groups):
        gross = g.gross
        year = g.day.year
        subsidies = _subsidies(session, org_id, programs, g, currency, caps)
        usable = [
            credits.as_voucher(v, balance[v.id])
            for v in vouchers
            if v.currency == currency and v.project_id in (None, g.project_id) and balance[v.id] > 0
        ]
        bill = settle(
            gross,
            accelerator=g.accelerator,
            currency=currency,
            discount=g.discount,
            subsidies=subsidies,
            vouchers=usable,
            on=g.day,
        )
        for credit in bill.credits:
            if credit.kind == "voucher":
                balance[credit.name] -= credit.amount
            else:
                cap = caps[(credit.name, year)]
                caps[(credit.name, year)] = None if cap is None else cap - credit.amount
        lines.append(_usage_line(position, g, bill, currency, names))
    return lines


def _subsidies(
    session: Session,
    org_id: str,
    programs: list[SubsidyRow],
    g: _Group,
    currency: str,
    caps: dict[tuple[str, int], Decimal | None],
) -> list[Subsidy]:
    """The programs that apply to the group's day, each capped at what is left of its year
    (`caps`, by program and year, read once and then drawn down as lines take from it)."""
    year = g.day.year
    subsidies = []
    for program in programs:
        if program.currency != currency or not credits.valid_on(program, g.day):
            continue
        if (program.id, year) not in caps:
            this_year = credits.taken(session, org_id, year=year)
            caps[(program.id, year)] = credits.subsidy_left(program, this_year)
        cap = caps[(program.id, year)]
        if cap is None or cap > 0:
            subsidies.append(credits.as_subsidy(program, cap))
    return subsidies


def _usage_line(
    position: int, g: _Group, bill: Settlement, currency: str, names: dict[str, str]
) -> dict[str, Any]:
    """The invoice line of one usage group, as the invoice's JSON keeps it."""
    return views.invoice_line(
        position=position,
        kind="usage",
        project_id=g.project_id,
        job_id=g.job_id,
        deployment_id=g.deployment_id,
        item=g.item,
        unit=g.unit,
        day=g.day.isoformat(),
        last_day=(g.last_day or g.day).isoformat(),
        period=g.period,
        quantity=str(rating.as_decimal(g.quantity)),
        quantity_exact=f"{g.quantity.numerator}/{g.quantity.denominator}",
        unit_price=str(g.unit_price),
        price_plan=g.plan,
        price_plan_name=g.plan_name,
        gross=str(bill.gross),
        discount=str(bill.discount),
        subsidy=str(bill.subsidy),
        voucher=str(bill.voucher),
        net=str(bill.net),
        currency=currency,
        credits=[
            {
                "kind": c.kind,
                "id": c.name,
                "name": names.get(c.name, c.name),
                "amount": str(c.amount),
            }
            for c in bill.credits
        ],
        usage_ids=g.usage_ids,
        description="",
    )


def _adjustment_lines(
    session: Session, org_id: str, month: str, *, start: int
) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AdjustmentRow)
        .where(
            AdjustmentRow.org_id == org_id,
            AdjustmentRow.period == month,
            AdjustmentRow.invoice_id.is_(None),
        )
        .order_by(AdjustmentRow.created_at, AdjustmentRow.id)
    )
    lines = []
    for n, row in enumerate(rows):
        amount = to_money(Decimal(row.amount))
        lines.append(
            views.invoice_line(
                position=start + n,
                kind="adjustment",
                adjustment_id=row.id,
                project_id=row.project_id,
                job_id=None,
                item="adjustment",
                unit="",
                day=None,
                period=month,
                quantity="1",
                unit_price=str(amount),
                price_plan=None,
                price_plan_name=None,
                gross=str(amount),
                discount="0.00",
                subsidy="0.00",
                voucher="0.00",
                net=str(amount),
                currency=row.currency,
                credits=[],
                usage_ids=[],
                description=row.description
                + (f" (corrects {row.reference})" if row.reference else ""),
            )
        )
    return lines


def _issued(session: Session, row: InvoiceRow) -> Invoice:
    lines = [
        views.stored_line(line.line)
        for line in session.scalars(
            select(InvoiceLineRow)
            .where(InvoiceLineRow.invoice_id == row.id)
            .order_by(InvoiceLineRow.position)
        )
    ]
    return Invoice(
        row.id,
        row.org_id,
        row.period,
        row.status,
        row.currency,
        lines,
        list(row.totals.get("unpriced", [])),
        row.issued_at,
        row.totals.get("footprint"),  # None: issued before footprints were kept
    )


# --- what callers do ----------------------------------------------------------------------------


def read(
    session: Session,
    who: Principal,
    *,
    month: str,
    org_id: str | None,
    project: str | None,
    zone: str,
    default: PricePlan,
) -> Invoice:
    """The caller's view of an invoice: an org admin (or a center admin) the whole of it, a
    member the lines of its projects; `project` narrows it. Another tenant's is a 404."""
    org = tenancy.get_org(session, who, org_id or who.org_id)
    invoice = compute(session, org_id=org.id, month=month, zone=zone, default=default)
    if project is not None:
        prj = tenancy.resolve_project(session, who, project)
        if prj.org_id != org.id:
            raise Invalid(
                "project: {project} is not in organization {org_id}", project=project, org_id=org.id
            )
        return invoice.only([prj.id])
    if who.is_admin or who.role is Role.ORG_ADMIN:
        return invoice
    return invoice.only(who.project_ids)


def issue(
    session: Session, who: Principal, body: IssueIn, *, zone: str, default: PricePlan
) -> Invoice:
    """Freeze the draft of an organization's month (center admins). Conflict if already
    issued, Invalid for a month that has not begun."""
    if not who.is_admin:
        raise Forbidden("only center admins issue invoices")
    org = tenancy.get_org(session, who, body.org_id)
    month = asked_month(body.month)
    now = utcnow()
    if month > periods.month_of(now, zone):
        raise Invalid("month: {month} has not begun", month=month)
    credits.lock_vouchers(session, org.id)  # a need's hold cannot take the credit meanwhile
    draft = compute(session, org_id=org.id, month=month, zone=zone, default=default)
    if draft.status == "issued":
        raise Conflict(
            "the invoice of {org_id} for {month} is already issued ({invoice_id})",
            org_id=org.id,
            month=month,
            invoice_id=draft.id,
        )
    invoice_id = new_id("inv")
    session.add(
        InvoiceRow(
            id=invoice_id,
            org_id=org.id,
            period=month,
            status="issued",
            currency=draft.currency,
            totals={
                **draft.totals(),
                "credits": draft.credits_given(),
                "unpriced": draft.unpriced,
                "footprint": draft.projects_footprint,
            },
            issued_at=now,
            issued_by=who.user_id,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"the invoice of {org.id} for {month} is already issued") from None
    for line in draft.lines:
        session.add(InvoiceLineRow(invoice_id=invoice_id, position=line["position"], line=line))
    ids = [i for line in draft.lines for i in line["usage_ids"]] + draft.unpriced_ids
    for chunk in range(0, len(ids), 500):
        for record in session.scalars(
            select(UsageRow).where(UsageRow.id.in_(ids[chunk : chunk + 500]))
        ):
            record.invoice_id = invoice_id
    adjusted = [line["adjustment_id"] for line in draft.lines if line["kind"] == "adjustment"]
    for adjustment in session.scalars(select(AdjustmentRow).where(AdjustmentRow.id.in_(adjusted))):
        adjustment.invoice_id = invoice_id
    detail = {"period": month, **draft.totals()}
    audit.record(session, who, "invoice.issue", "invoice", invoice_id, org_id=org.id, detail=detail)
    total = draft.totals().get("net", "")
    events.emit(
        session,
        "invoice.issued",
        org_id=org.id,
        subject="invoice for {month} issued",
        body="The invoice {invoice_id} of {org} for {month} is issued: {total} {currency}.",
        params={
            "month": month,
            "invoice_id": invoice_id,
            "org": org.name,
            "total": total,
            "currency": draft.currency,
        },
        data={"invoice_id": invoice_id, "month": month, "total": str(total)},
        key=f"invoice.issued:{invoice_id}",
    )
    session.flush()
    return compute(session, org_id=org.id, month=month, zone=zone, default=default)


def count(session: Session) -> int:
    """How many invoices are stored (a backup's manifest)."""
    return int(session.scalar(select(func.count()).select_from(InvoiceRow)) or 0)


def issued_orgs(session: Session, month: str) -> set[str]:
    """The organizations whose invoice of `month` is issued."""
    return set(session.scalars(select(InvoiceRow.org_id).where(InvoiceRow.period == month)))


def open_month(session: Session, org_id: str, month: str) -> str:
    """`month`, or the first later month whose invoice of `org_id` is not issued yet: an
    adjustment on an issued month would never be billed."""
    while session.scalar(
        select(InvoiceRow.id).where(InvoiceRow.org_id == org_id, InvoiceRow.period == month)
    ):
        month = periods.next_month(month)
    return month


def issued(
    session: Session, who: Principal, *, org_id: str | None = None
) -> list[views.IssuedInvoice]:
    """Issued invoices the caller's organization has (admins: all, or `org_id`'s); members
    see that they exist and their totals only through `read`."""
    query = select(InvoiceRow).order_by(InvoiceRow.period.desc(), InvoiceRow.org_id)
    if org_id is not None:
        query = query.where(InvoiceRow.org_id == tenancy.get_org(session, who, org_id).id)
    elif not who.is_admin:
        query = query.where(InvoiceRow.org_id == who.org_id)
    if not (who.is_admin or who.role is Role.ORG_ADMIN):
        return []
    return [
        from_row(views.IssuedInvoice, r, totals={k: r.totals.get(k) for k in AMOUNTS})
        for r in session.scalars(query)
    ]


CSV_FIELDS = (
    "invoice", "org_id", "period", "status", "position", "kind", "project_id", "job_id",
    "deployment_id", "item", "unit", "day", "last_day", "quantity", "unit_price", "gross",
    "discount", "subsidy", "voucher", "net", "currency", "credits", "usage_ids", "description",
    "energy_kwh", "carbon_kg",
)  # fmt: skip


def to_csv(invoice: Invoice) -> str:
    """One row per line and a TOTAL row; credits as `name=amount` pairs, usage ids joined;
    the footprint (kWh, kg CO₂e of real accelerators) on the TOTAL row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    head = {
        "invoice": invoice.id or "draft",
        "org_id": invoice.org_id,
        "period": invoice.period,
        "status": invoice.status,
    }
    for line in invoice.lines:
        writer.writerow(
            {
                **head,
                **{k: line.get(k) for k in CSV_FIELDS if k in line},
                "credits": "; ".join(f"{c['name']}={c['amount']}" for c in line["credits"]),
                "usage_ids": " ".join(map(str, line["usage_ids"])),
            }
        )
    footprint = invoice.footprint() or {}
    writer.writerow(
        {
            **head,
            "kind": "TOTAL",
            "currency": invoice.currency,
            **invoice.totals(),
            "energy_kwh": footprint.get("energy_kwh"),
            "carbon_kg": footprint.get("carbon_kg"),
        }
    )
    return out.getvalue()
