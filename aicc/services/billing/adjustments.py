"""Adjustments: corrections and charges on an organization's invoice of an open month. A center
admin makes one (`adjust`); a context above billing adds one in its own transaction through
`add_adjustment` (a paid template's run). The month's draft invoice carries them
(`invoices.compute`), and issuing freezes them with it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.pricing import MAX_MONEY, Currency, to_money
from aicc.core.tenancy import Principal
from aicc.core.text import LINE
from aicc.services.billing import views
from aicc.services.common import Conflict, Forbidden, Invalid, asked_month, from_row, new_id, utcnow
from aicc.services.tenancy import audit, tenancy
from aicc.store.tables.billing import AdjustmentRow, InvoiceRow


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_id: str
    month: str = Field(description="the (open) month whose invoice carries it, YYYY-MM")
    amount: Decimal = Field(
        ge=-MAX_MONEY, le=MAX_MONEY, allow_inf_nan=False, description="signed: negative is a credit"
    )
    currency: Currency = "CNY"
    description: Annotated[str, Field(min_length=1, max_length=500), LINE]
    project_id: str | None = None
    reference: str | None = Field(default=None, description="the issued invoice it corrects")


def adjust(session: Session, who: Principal, body: AdjustmentIn, *, zone: str) -> views.Adjustment:
    """A correction on the invoice of an open month (center admins)."""
    if not who.is_admin:
        raise Forbidden("only center admins adjust invoices")
    org = tenancy.get_org(session, who, body.org_id)
    month = asked_month(body.month)
    closed = session.scalar(
        select(InvoiceRow.id).where(InvoiceRow.org_id == org.id, InvoiceRow.period == month)
    )
    if closed is not None:
        raise Conflict(
            "the invoice of {month} is issued ({invoice_id}) and cannot change; "
            "put the correction on an open month, naming it in `reference`",
            month=month,
            invoice_id=closed,
        )
    if body.project_id is not None:
        project = tenancy.visible_project(session, who, body.project_id)
        if project.org_id != org.id:
            raise Invalid(f"project_id: {project.id} is not in organization {org.id}")
    if body.reference is not None:
        ref = session.get(InvoiceRow, body.reference)
        if ref is None or ref.org_id != org.id:
            raise Invalid(f"reference: no issued invoice {body.reference} of {org.id}")
    made = add_adjustment(
        session,
        org_id=org.id,
        project_id=body.project_id,
        period=month,
        amount=to_money(body.amount),
        currency=body.currency,
        description=body.description,
        reference=body.reference,
        created_by=who.user_id,
        now=utcnow(),
    )
    detail = {"period": made.period, "amount": made.amount}
    audit.record(
        session, who, "invoice.adjust", "adjustment", made.id, org_id=org.id, detail=detail
    )
    return made


def add_adjustment(
    session: Session,
    *,
    org_id: str,
    project_id: str | None,
    period: str,
    amount: Decimal,
    currency: str,
    description: str,
    created_by: str | None,
    now: datetime,
    reference: str | None = None,
) -> views.Adjustment:
    """Write one adjustment on `org_id`'s invoice of `period` (> 0 a charge, < 0 a credit), in
    the caller's transaction: billing's writer for the contexts above it (a paid template's run)
    and `adjust`. Checks nothing: the caller has; `open_month` finds a period still open."""
    row = AdjustmentRow(
        id=new_id("adj"),
        org_id=org_id,
        project_id=project_id,
        period=period,
        amount=str(amount),
        currency=currency,
        description=description,
        reference=reference,
        created_at=now,
        created_by=created_by,
    )
    session.add(row)
    return from_row(views.Adjustment, row)
