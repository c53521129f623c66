"""Price plans in the store, versioned by `effective_from`: the center's, and per organization.

A version is never changed: a new price is a new version. At any instant the plan in force for
an organization is its own latest version from before that instant laid over the center's
(stored, else the `pricing` setting): the organization's per-model prices replace the center's
for those models, its other prices and its discount replace the center's where it gives them.
An organization's version in another currency than the center's stands alone.

Versions start on a whole hour, and metering cuts usage at whole hours, so every usage record
falls under exactly one version (docs/billing.md).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.pricing import Currency, Money, PricePlan, Rate
from aicc.core.tenancy import Principal, can_read
from aicc.core.text import LINE
from aicc.services.billing.views import EffectivePricePlan, PricePlanVersion
from aicc.services.common import Conflict, Forbidden, Invalid, from_row, new_id, utcnow
from aicc.services.tenancy import audit, tenancy
from aicc.store.tables.billing import PricePlanRow

CENTER = "center"
PRICE_KEYS = (
    *("pflops_hour", "cpu_core_hour", "memory_gib_hour", "storage_gib_day"),
    *("input_mtok", "output_mtok", "request"),
)
BATCH_KEY = "batch_discount"  # kept with the prices, and merged as one of them
TIER_KEY = "api_tier"  # likewise: an organization's version without one keeps the center's


class PlanIn(BaseModel):
    """A price plan version as the API and `aicc admin price-plan set -f` take it."""

    model_config = ConfigDict(extra="forbid")
    org_id: str | None = Field(default=None, description="None: the center's plan")
    name: Annotated[str, Field(min_length=1, max_length=100), LINE] = "plan"
    currency: Currency = "CNY"
    effective_from: datetime = Field(description="a whole hour, with its time zone")
    accelerator_hour: dict[str, Money] = Field(default_factory=dict)
    pflops_hour: Money | None = None
    cpu_core_hour: Money | None = None
    memory_gib_hour: Money | None = None
    storage_gib_day: Money | None = None
    input_mtok: Money | None = Field(default=None, description="per million prompt tokens")
    output_mtok: Money | None = Field(default=None, description="per million completion tokens")
    request: Money | None = Field(default=None, description="per answered gateway request")
    discount: Rate = Decimal(0)
    batch_discount: Rate = Field(
        default=Decimal(0), description="share off a batch's request and token prices (/v1/batches)"
    )
    api_tier: int | None = Field(
        default=None,
        ge=1,
        le=3,
        description="service tier of the organization's new API keys: 1 (served first) .. 3",
    )

    @field_validator("effective_from")
    @classmethod
    def _whole_hour(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-01T00:00:00+08:00")
        periods.check_year(value.year, "effective_from")
        if value.minute or value.second or value.microsecond:
            raise ValueError("a plan starts on a whole hour (usage is cut at whole hours)")
        return value.astimezone(UTC)

    def plan(self) -> PricePlan:
        """Raises pydantic's ValidationError for an unknown accelerator model."""
        return from_row(PricePlan, self)


@dataclass(frozen=True)
class Effective:
    """The plan in force, and the versions it was made of (`ids`; empty: the setting only)."""

    plan: PricePlan
    ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return "+".join(self.ids) or "settings"


def _stored(row: PricePlanRow) -> dict[str, Any]:
    return {"name": row.name, "currency": row.currency, **row.prices, "discount": row.discount}


def _merge(base: PricePlan, row: PricePlanRow) -> PricePlan:
    own = PricePlan.model_validate(_stored(row))
    if own.currency != base.currency:
        return own
    given = row.prices
    values: dict[str, Any] = {
        "name": own.name,
        "currency": own.currency,
        "accelerator_hour": {**base.accelerator_hour, **own.accelerator_hour},
        "discount": own.discount,
    }
    for key in (*PRICE_KEYS, BATCH_KEY, TIER_KEY):
        values[key] = getattr(own, key) if given.get(key) is not None else getattr(base, key)
    return PricePlan.model_validate(values)


@dataclass
class Plans:
    """The versions that concern one organization, loaded once, resolved at any instant."""

    default: PricePlan
    center: list[PricePlanRow] = field(default_factory=list)
    own: list[PricePlanRow] = field(default_factory=list)
    _cache: dict[tuple[str, str], Effective] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, *, org_id: str, default: PricePlan) -> Plans:
        rows = session.scalars(
            select(PricePlanRow)
            .where(or_(PricePlanRow.scope == CENTER, PricePlanRow.scope == org_id))
            .order_by(PricePlanRow.effective_from)
        ).all()
        return cls(
            default,
            [r for r in rows if r.scope == CENTER],
            [r for r in rows if r.scope == org_id],
        )

    @staticmethod
    def _latest(rows: list[PricePlanRow], at: datetime) -> PricePlanRow | None:
        i = bisect.bisect_right([r.effective_from for r in rows], at)
        return rows[i - 1] if i else None

    def at(self, at: datetime) -> Effective:
        center, own = self._latest(self.center, at), self._latest(self.own, at)
        key = (center.id if center else "", own.id if own else "")
        found = self._cache.get(key)
        if found is None:
            base = PricePlan.model_validate(_stored(center)) if center else self.default
            plan = _merge(base, own) if own else base
            ids = tuple(r.id for r in (center, own) if r is not None)
            found = self._cache[key] = Effective(plan, ids)
        return found


def effective(session: Session, *, org_id: str, at: datetime, default: PricePlan) -> Effective:
    return Plans.load(session, org_id=org_id, default=default).at(at)


def effective_center(session: Session, *, at: datetime, default: PricePlan) -> PricePlan:
    """The center's own plan at `at` (its latest stored version, else the setting): what a new
    version starts from on the price list's form. The center's prices are a public list."""
    rows = session.scalars(
        select(PricePlanRow)
        .where(PricePlanRow.scope == CENTER)
        .order_by(PricePlanRow.effective_from)
    ).all()
    return Plans(default, list(rows)).at(at).plan


def api_tier(session: Session, *, org_id: str, at: datetime, default: PricePlan) -> int | None:
    """The service tier the plan in force gives the organization's new API keys (None: none)."""
    return effective(session, org_id=org_id, at=at, default=default).plan.api_tier


def in_force(
    session: Session, who: Principal, *, org_id: str | None, at: datetime, default: PricePlan
) -> EffectivePricePlan:
    """The plan in force for an organization (None: the caller's) at `at`, as the API shows
    it; another tenant's organization is a 404."""
    found_org = tenancy.get_org(session, who, org_id or who.org_id).id
    found = effective(session, org_id=found_org, at=at, default=default)
    return EffectivePricePlan(
        org_id=found_org, at=at, versions=list(found.ids), **found.plan.model_dump()
    )


def create(session: Session, who: Principal, body: PlanIn) -> PricePlanVersion:
    """A new version (center admins). Conflict if one of the same scope starts at that hour."""
    if not who.is_admin:
        raise Forbidden("only center admins set price plans")
    scope = CENTER
    if body.org_id is not None:
        scope = tenancy.get_org(session, who, body.org_id).id
    try:
        plan = body.plan()
    except ValueError as err:
        raise Invalid(f"accelerator_hour: {err}") from None
    taken = session.scalar(
        select(PricePlanRow.id).where(
            PricePlanRow.scope == scope, PricePlanRow.effective_from == body.effective_from
        )
    )
    if taken is not None:
        raise Conflict(f"price plan {taken} already starts at {body.effective_from.isoformat()}")
    prices: dict[str, Any] = {
        "accelerator_hour": {k: str(v) for k, v in plan.accelerator_hour.items()},
        **{k: str(getattr(plan, k)) for k in PRICE_KEYS if getattr(plan, k) is not None},
        **({BATCH_KEY: str(plan.batch_discount)} if plan.batch_discount else {}),
        **({TIER_KEY: plan.api_tier} if plan.api_tier is not None else {}),
    }
    row = PricePlanRow(
        id=new_id("plan"),
        scope=scope,
        org_id=body.org_id,
        name=plan.name,
        currency=plan.currency,
        effective_from=body.effective_from,
        prices=prices,
        discount=str(plan.discount),
        created_at=utcnow(),
        created_by=who.user_id,
    )
    session.add(row)
    audit.record(
        session, who, "price_plan.create", "price_plan", row.id, org_id=body.org_id or who.org_id
    )
    return _version(row)


def visible(
    session: Session, who: Principal, *, org_id: str | None = None
) -> list[PricePlanVersion]:
    """The center's versions (a public price list) and those of organizations the caller may
    read; `org_id` narrows to one organization's (404 for another tenant's)."""
    query = select(PricePlanRow).order_by(PricePlanRow.effective_from, PricePlanRow.id)
    if org_id is not None:
        tenancy.get_org(session, who, org_id)
        query = query.where(PricePlanRow.scope == org_id)
    rows = session.scalars(query).all()
    return [_version(r) for r in rows if r.org_id is None or can_read(who, org_id=r.org_id)]


def _version(row: PricePlanRow) -> PricePlanVersion:
    plan = PricePlan.model_validate(_stored(row))
    return PricePlanVersion(
        id=row.id,
        org_id=row.org_id,
        effective_from=row.effective_from,
        created_at=row.created_at,
        **plan.model_dump(),
        given=sorted(row.prices),
    )
