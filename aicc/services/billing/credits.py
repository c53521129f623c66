"""Vouchers (prepaid credit, 算力券) and subsidy programs, and what is left of each.

Nothing is spent until an invoice is issued: an issued invoice records, per credit, what it
took (`InvoiceRow.totals["credits"]`), and what is left is the amount (a voucher) or the
calendar year's cap (a subsidy, per organization) minus what issued invoices took. Drafts and
estimates use what is left now, so two drafts may show the same balance; the first issued takes
it (docs/billing.md).

A voucher can also pay what is not usage: a need's reward held from it (`hold`, until the award
or the withdrawal `release`s what was not given) and a challenge team's training subsidy given
on to the team as a voucher of its own (`pass_on`). Each is a row of `voucher_moves` (positive
out of the voucher, negative back), taken off its balance at once, so what is held cannot also
pay an invoice and the balance stays exact across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aicc.core import accelerator_names, periods
from aicc.core.periods import BookDate
from aicc.core.pricing import ZERO, Currency, Money, Subsidy, Voucher, to_money
from aicc.core.tenancy import Principal, Role, can_read
from aicc.core.text import LINE
from aicc.services.billing import views
from aicc.services.common import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    from_row,
    new_id,
    utcnow,
)
from aicc.services.tenancy import audit, tenancy
from aicc.store.tables.billing import InvoiceRow, SubsidyRow, VoucherMoveRow, VoucherRow


def today(now: datetime, zone: str) -> date:
    return periods.day_of(now, zone)


def _models(names: Iterable[str]) -> list[str]:
    try:
        return [accelerator_names.lookup(name).name for name in names]
    except KeyError as err:
        raise Invalid("accelerators: {error}", error=err.args[0]) from None


class VoucherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str
    project_id: str | None = Field(default=None, description="only this project's usage")
    name: Annotated[str, Field(min_length=1, max_length=100), LINE]
    amount: Money = Field(gt=0)
    currency: Currency = "CNY"
    accelerators: list[str] = Field(
        default_factory=list, max_length=100, description="models it pays; [] all"
    )
    valid_from: BookDate | None = Field(default=None, description="default: today")
    valid_until: BookDate | None = None

    @model_validator(mode="after")
    def _window(self) -> VoucherIn:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class SubsidyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100), LINE]
    org_id: str | None = Field(default=None, description="None: every organization")
    rate: Decimal = Field(gt=0, le=1, description="share of the discounted fee, e.g. 0.5")
    yearly_cap: Money | None = Field(default=None, description="per organization and year")
    currency: Currency = "CNY"
    accelerators: list[str] = Field(default_factory=list, max_length=100)
    valid_from: BookDate | None = None
    valid_until: BookDate | None = None


# --- what issued invoices took ------------------------------------------------------------------


def taken(session: Session, org_id: str, *, year: int | None = None) -> dict[str, Decimal]:
    """credit id -> what the organization's issued invoices took from it (in `year` only);
    without `year`, a voucher's also counts what moved out of it (`moved`: rewards held,
    subsidies given on, less what came back)."""
    out: dict[str, Decimal] = {}
    query = select(InvoiceRow.period, InvoiceRow.totals).where(InvoiceRow.org_id == org_id)
    for period, totals in session.execute(query):
        if year is not None and not period.startswith(f"{year}-"):
            continue
        for credit_id, amount in (totals.get("credits") or {}).items():
            out[credit_id] = out.get(credit_id, ZERO) + Decimal(amount)
    if year is None:
        for voucher_id, amount in moved(session, org_id).items():
            out[voucher_id] = out.get(voucher_id, ZERO) + amount
    return out


def moved(session: Session, org_id: str) -> dict[str, Decimal]:
    """voucher id -> what moved out of the organization's vouchers, less what came back."""
    out: dict[str, Decimal] = {}
    query = select(VoucherMoveRow.voucher_id, VoucherMoveRow.amount).where(
        VoucherMoveRow.org_id == org_id
    )
    for voucher_id, amount in session.execute(query):
        out[voucher_id] = out.get(voucher_id, ZERO) + Decimal(amount)
    return out


def voucher_left(row: VoucherRow, used: dict[str, Decimal]) -> Decimal:
    return max(ZERO, Decimal(row.amount) - used.get(row.id, ZERO))


def subsidy_left(row: SubsidyRow, used_this_year: dict[str, Decimal]) -> Decimal | None:
    if row.yearly_cap is None:
        return None
    return max(ZERO, Decimal(row.yearly_cap) - used_this_year.get(row.id, ZERO))


# --- for the estimator and for rating -----------------------------------------------------------


def _org_vouchers(session: Session, org_id: str) -> list[VoucherRow]:
    return list(
        session.scalars(
            select(VoucherRow).where(VoucherRow.org_id == org_id).order_by(VoucherRow.created_at)
        )
    )


def _org_subsidies(session: Session, org_id: str) -> list[SubsidyRow]:
    return list(
        session.scalars(
            select(SubsidyRow)
            .where(or_(SubsidyRow.org_id.is_(None), SubsidyRow.org_id == org_id))
            .order_by(SubsidyRow.created_at)
        )
    )


def as_voucher(row: VoucherRow, balance: Decimal) -> Voucher:
    """The pure estimator's voucher, named by its id (so credits can be traced back)."""
    return Voucher(
        name=row.id,
        balance=balance,
        currency=row.currency,
        accelerators=tuple(row.accelerators),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )


def as_subsidy(row: SubsidyRow, cap: Decimal | None) -> Subsidy:
    return Subsidy(
        name=row.id,
        rate=Decimal(row.rate),
        cap=cap,
        currency=row.currency,
        accelerators=tuple(row.accelerators),
    )


def valid_on(row: SubsidyRow | VoucherRow, day: date) -> bool:
    """A subsidy program or voucher within its dates on `day`."""
    return (row.valid_from is None or row.valid_from <= day) and (
        row.valid_until is None or day <= row.valid_until
    )


def applicable(
    session: Session, *, org_id: str, project_id: str, currency: str, zone: str, now: datetime
) -> tuple[list[Subsidy], list[Voucher]]:
    """What would pay part of a new use by this project now: programs valid today with cap
    left this year, and the project's or organization's vouchers with balance left."""
    day = today(now, zone)
    used = taken(session, org_id)
    used_year = taken(session, org_id, year=day.year)
    vouchers = [
        as_voucher(v, left)
        for v in _org_vouchers(session, org_id)
        if v.currency == currency
        and v.project_id in (None, project_id)
        and (left := voucher_left(v, used)) > 0
    ]
    subsidies = []
    for s in _org_subsidies(session, org_id):
        cap = subsidy_left(s, used_year)
        if s.currency == currency and valid_on(s, day) and (cap is None or cap > 0):
            subsidies.append(as_subsidy(s, cap))
    return subsidies, vouchers


# --- administration -----------------------------------------------------------------------------


def create_voucher(
    session: Session, who: Principal, body: VoucherIn, *, zone: str
) -> views.Voucher:
    if not who.is_admin:
        raise Forbidden("only center admins issue vouchers")
    org = tenancy.get_org(session, who, body.org_id)
    if body.project_id is not None:
        project = tenancy.visible_project(session, who, body.project_id)
        if project.org_id != org.id:
            raise Invalid(
                "project_id: {project_id} is not in organization {org_id}",
                project_id=project.id,
                org_id=org.id,
            )
    row = VoucherRow(
        id=new_id("vch"),
        org_id=org.id,
        project_id=body.project_id,
        name=body.name,
        amount=str(to_money(body.amount)),
        currency=body.currency,
        accelerators=_models(body.accelerators),
        valid_from=body.valid_from or today(utcnow(), zone),
        valid_until=body.valid_until,
        created_at=utcnow(),
        created_by=who.user_id,
    )
    session.add(row)
    detail = {"amount": row.amount, "currency": row.currency}
    audit.record(session, who, "voucher.create", "voucher", row.id, org_id=org.id, detail=detail)
    return _voucher(row, voucher_left(row, {}))


def create_subsidy(
    session: Session, who: Principal, body: SubsidyIn, *, zone: str, now: datetime
) -> views.Subsidy:
    """A program for one organization or all (center admins), as `subsidies` shows it."""
    if not who.is_admin:
        raise Forbidden("only center admins create subsidy programs")
    if body.org_id is not None:
        tenancy.get_org(session, who, body.org_id)
    row = SubsidyRow(
        id=new_id("sub"),
        org_id=body.org_id,
        name=body.name,
        rate=str(body.rate),
        yearly_cap=None if body.yearly_cap is None else str(to_money(body.yearly_cap)),
        currency=body.currency,
        accelerators=_models(body.accelerators),
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        created_at=utcnow(),
        created_by=who.user_id,
    )
    session.add(row)
    audit.record(session, who, "subsidy.create", "subsidy", row.id, org_id=body.org_id)
    year = today(now, zone).year
    return _subsidy(row, subsidy_left(row, taken(session, who.org_id, year=year)), year)


def reward_voucher(
    session: Session,
    who: Principal,
    *,
    org_id: str,
    name: str,
    amount: Decimal,
    currency: Currency,
    zone: str,
    source: str | None = None,
) -> str:
    """A voucher that an award moves out of a need's escrow to a winning organization (its
    id): issued by the awarding poster, not a center admin, as the escrow already paid it. A
    reward held from the poster's voucher `source` (`hold`) gives one with that voucher's
    restrictions: the models it pays and its last day."""
    like = session.get(VoucherRow, source) if source else None
    return _issue(
        session,
        who,
        "voucher.reward",
        org_id=org_id,
        name=name,
        amount=amount,
        currency=currency,
        zone=zone,
        accelerators=list(like.accelerators) if like else [],
        valid_until=like.valid_until if like else None,
    )


def _issue(
    session: Session,
    who: Principal,
    action: str,
    *,
    org_id: str,
    name: str,
    amount: Decimal,
    currency: str,
    zone: str,
    accelerators: list[str],
    valid_from: date | None = None,
    valid_until: date | None,
    detail: dict[str, str] | None = None,
) -> str:
    """A voucher of the organization's, for its whole usage, from today (or `valid_from`, if
    later); its id."""
    now = utcnow()
    start = today(now, zone)
    row = VoucherRow(
        id=new_id("vch"),
        org_id=org_id,
        project_id=None,
        name=name[:100],
        amount=str(to_money(amount)),
        currency=currency,
        accelerators=accelerators,
        valid_from=max(start, valid_from) if valid_from else start,
        valid_until=valid_until,
        created_at=now,
        created_by=who.user_id,
    )
    session.add(row)
    told = {"amount": row.amount, "currency": row.currency, **(detail or {})}
    audit.record(session, who, action, "voucher", row.id, org_id=org_id, detail=told)
    return row.id


# --- moves: a need's reward held from a voucher, a team's subsidy given on ----------------------


def _locked(session: Session, voucher_id: str) -> VoucherRow | None:
    """The voucher, its row locked until the transaction ends (two holds cannot both take what
    is left)."""
    return session.scalar(
        select(VoucherRow)
        .where(VoucherRow.id == voucher_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_vouchers(session: Session, org_id: str) -> None:
    """Lock an organization's vouchers to the transaction's end: an invoice issued takes what is
    left of them, as a hold does (`_locked`), so the two cannot both take the same credit
    (PostgreSQL; a SQLite write transaction holds the database)."""
    session.execute(select(VoucherRow.id).where(VoucherRow.org_id == org_id).with_for_update())


def left(session: Session, row: VoucherRow) -> Decimal:
    """What is left of the voucher: its amount less what issued invoices took and what moved."""
    return voucher_left(row, taken(session, row.org_id))


def _usable(
    session: Session,
    who: Principal,
    voucher_id: str,
    amount: Decimal,
    *,
    org_id: str,
    project_id: str,
    currency: str,
    until: date,
) -> VoucherRow:
    """Voucher `voucher_id` of organization `org_id`, locked, where it can pay `amount` of
    `currency` for project `project_id` and is valid on day `until`; else a refusal that says
    why (another organization's voucher, or one the caller may not see, is a 404)."""
    row = _locked(session, voucher_id)
    if row is None or row.org_id != org_id or not _may_see_voucher(who, row):
        raise NotFound("voucher {voucher_id} not found", voucher_id=voucher_id)
    if row.currency != currency:
        raise Invalid(
            "voucher: {voucher_id} is in {have}, not {want}",
            voucher_id=voucher_id,
            have=row.currency,
            want=currency,
        )
    if row.project_id not in (None, project_id):
        raise Invalid(
            "voucher: {voucher_id} pays another project's usage alone; choose one of the "
            "organization's or this project's",
            voucher_id=voucher_id,
        )
    if row.valid_until is not None and row.valid_until < until:
        raise Invalid(
            "voucher: {voucher_id} ends on {last}, before {until}; choose one valid longer",
            voucher_id=voucher_id,
            last=row.valid_until.isoformat(),
            until=until.isoformat(),
        )
    remaining = left(session, row)
    if remaining < amount:
        raise Invalid(
            "voucher: {voucher_id} has {left} {currency} left, less than {amount}",
            voucher_id=voucher_id,
            left=remaining,
            currency=row.currency,
            amount=to_money(amount),
        )
    return row


def check_usable(
    session: Session,
    who: Principal,
    voucher_id: str,
    amount: Decimal,
    *,
    org_id: str,
    project_id: str,
    currency: str,
    until: date,
) -> None:
    """Refuse, saying why, unless voucher `voucher_id` of organization `org_id` can pay `amount`
    of `currency` for project `project_id` and is valid on day `until` (a 404 for another
    organization's voucher, or one the caller may not see)."""
    _usable(
        session,
        who,
        voucher_id,
        amount,
        org_id=org_id,
        project_id=project_id,
        currency=currency,
        until=until,
    )


def hold(
    session: Session,
    who: Principal,
    voucher_id: str,
    amount: Decimal,
    *,
    reference: str,
    org_id: str,
    project_id: str,
    currency: str,
    until: date,
) -> None:
    """Hold `amount` of the voucher for `reference` (a need's reward, valid until its deadline's
    day `until`): off its balance at once, so no invoice can spend it, until `release` gives
    back what was not awarded. Refused as `check_usable` refuses."""
    amount = to_money(amount)
    if amount <= 0:
        raise Invalid("reward: a reward held from a voucher is above 0")
    row = _usable(
        session,
        who,
        voucher_id,
        amount,
        org_id=org_id,
        project_id=project_id,
        currency=currency,
        until=until,
    )
    _move(session, who, row, amount, reference, "voucher.hold")


def release(
    session: Session, who: Principal, voucher_id: str, amount: Decimal, *, reference: str
) -> None:
    """Give `amount` of what `reference` holds back to the voucher (what a need's award did not
    give, or all of it when the need is withdrawn); never more than `reference` holds."""
    amount = to_money(amount)
    if amount <= 0:
        return
    row = _locked(session, voucher_id)
    if row is None:
        raise NotFound("voucher {voucher_id} not found", voucher_id=voucher_id)
    query = select(VoucherMoveRow.amount).where(
        VoucherMoveRow.voucher_id == voucher_id, VoucherMoveRow.reference == reference
    )
    held = sum((Decimal(a) for a in session.scalars(query)), ZERO)
    if amount > held:
        raise Conflict(
            "voucher {voucher_id} holds {held} for {reference}, less than {amount}",
            voucher_id=voucher_id,
            held=held,
            reference=reference,
            amount=amount,
        )
    _move(session, who, row, -amount, reference, "voucher.release")


def pass_on(
    session: Session,
    who: Principal,
    voucher_id: str,
    amount: Decimal,
    *,
    reference: str,
    org_id: str,
    name: str,
    until: date,
    zone: str,
) -> str | None:
    """Give `amount` of voucher `voucher_id` on to organization `org_id` as a voucher of its
    own (a challenge team's training subsidy; `reference`, the team) for the models the source
    pays, valid until day `until` at the latest; its id. None, and nothing moved, when the
    source has less than `amount` left or has ended."""
    amount = to_money(amount)
    row = _locked(session, voucher_id)
    day = today(utcnow(), zone)
    if row is None or amount <= 0 or (row.valid_until is not None and row.valid_until < day):
        return None
    if left(session, row) < amount:
        return None
    _move(session, who, row, amount, reference, "voucher.give")
    return _issue(
        session,
        who,
        "voucher.subsidy",
        org_id=org_id,
        name=name,
        amount=amount,
        currency=row.currency,
        zone=zone,
        accelerators=list(row.accelerators),
        valid_from=row.valid_from,
        valid_until=min(until, row.valid_until) if row.valid_until else until,
        detail={"from": row.id, "reference": reference},
    )


def _move(
    session: Session, who: Principal, row: VoucherRow, amount: Decimal, reference: str, action: str
) -> None:
    move = VoucherMoveRow(
        id=new_id("vmv"),
        voucher_id=row.id,
        org_id=row.org_id,
        amount=str(to_money(amount)),
        reference=reference,
        created_at=utcnow(),
        created_by=who.user_id,
    )
    session.add(move)
    session.flush()
    detail = {"amount": move.amount, "currency": row.currency, "reference": reference}
    audit.record(session, who, action, "voucher", row.id, org_id=row.org_id, detail=detail)


def _may_see_voucher(who: Principal, row: VoucherRow) -> bool:
    if row.project_id is None or who.is_admin or who.role is Role.ORG_ADMIN:
        return can_read(who, org_id=row.org_id)
    return can_read(who, org_id=row.org_id, project_id=row.project_id)


def vouchers(session: Session, who: Principal, *, org_id: str | None = None) -> list[views.Voucher]:
    """Vouchers the caller may see, each with what is left; another tenant's are invisible."""
    query = select(VoucherRow).order_by(VoucherRow.created_at)
    if org_id is not None:
        tenancy.get_org(session, who, org_id)
        query = query.where(VoucherRow.org_id == org_id)
    elif not who.is_admin:
        query = query.where(VoucherRow.org_id == who.org_id)
    rows = [r for r in session.scalars(query) if _may_see_voucher(who, r)]
    used: dict[str, dict[str, Decimal]] = {}
    out = []
    for row in rows:
        spent = used.setdefault(row.org_id, taken(session, row.org_id))
        out.append(_voucher(row, voucher_left(row, spent)))
    return out


def get_voucher(session: Session, who: Principal, voucher_id: str) -> views.Voucher:
    row = session.get(VoucherRow, voucher_id)
    if row is None or not _may_see_voucher(who, row):
        raise NotFound("voucher {voucher_id} not found", voucher_id=voucher_id)
    return _voucher(row, voucher_left(row, taken(session, row.org_id)))


def _voucher(row: VoucherRow, left: Decimal) -> views.Voucher:
    return from_row(views.Voucher, row, remaining=str(left))


def subsidies(session: Session, who: Principal, *, zone: str, now: datetime) -> list[views.Subsidy]:
    """Programs that apply to the caller's organization (admins: all), with this year's cap
    left for the caller's organization (admins: per organization in `used_by_org`)."""
    query = select(SubsidyRow).order_by(SubsidyRow.created_at)
    if not who.is_admin:
        query = query.where(or_(SubsidyRow.org_id.is_(None), SubsidyRow.org_id == who.org_id))
    year = today(now, zone).year
    used = taken(session, who.org_id, year=year)
    return [_subsidy(row, subsidy_left(row, used), year) for row in session.scalars(query)]


def _subsidy(row: SubsidyRow, left: Decimal | None, year: int) -> views.Subsidy:
    remaining = None if left is None else str(left)
    return from_row(views.Subsidy, row, remaining_this_year=remaining, year=year)
