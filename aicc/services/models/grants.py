"""Template grants: a template that one organization may run at its own price, whatever the
template's visibility, as an accepted offer on a need made it (services/needs/offers.py). The
marketplace's list price and visibility stay as the publisher set them for everyone else; a
grant ends when either side ends the offer, and runs from then on are refused or list-priced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.pricing import to_money
from aicc.services.common import new_id
from aicc.store.tables.models import TemplateGrantRow


def grant(
    session: Session,
    *,
    template_id: str,
    org_id: str,
    price: Decimal,
    currency: str,
    reference: str,
    now: datetime,
) -> str:
    """Let `org_id` run the template at `price` a run (its id); the caller authorized it."""
    row = TemplateGrantRow(
        id=new_id("tgr"),
        template_id=template_id,
        org_id=org_id,
        price=str(to_money(price)),
        currency=currency,
        reference=reference,
        created_at=now,
        ended_at=None,
    )
    session.add(row)
    session.flush()
    return row.id


def end(session: Session, reference: str, *, now: datetime) -> None:
    """End the grants an offer made (none left open is fine)."""
    query = select(TemplateGrantRow).where(
        TemplateGrantRow.reference == reference, TemplateGrantRow.ended_at.is_(None)
    )
    for row in session.scalars(query):
        row.ended_at = now


@dataclass(frozen=True)
class Grant:
    """A template an organization may run, at its own price."""

    template_id: str
    price: Decimal
    currency: str


def active(session: Session, org_id: str, template_id: str | None = None) -> list[Grant]:
    """The organization's grants in force, newest first (of one template, when given)."""
    query = select(TemplateGrantRow).where(
        TemplateGrantRow.org_id == org_id, TemplateGrantRow.ended_at.is_(None)
    )
    if template_id is not None:
        query = query.where(TemplateGrantRow.template_id == template_id)
    rows = session.scalars(query.order_by(TemplateGrantRow.created_at.desc()))
    return [Grant(r.template_id, Decimal(r.price), r.currency) for r in rows]


def price(session: Session, org_id: str, template_id: str) -> tuple[Decimal, str] | None:
    """The organization's own price of a run of the template and its currency, or None."""
    found = active(session, org_id, template_id)
    return (found[0].price, found[0].currency) if found else None
