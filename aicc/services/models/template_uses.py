"""A template's uses: every run is one (`TemplateUseRow`); a run of another organization's paid
template charges the runner's organization and credits the publisher's, as two billing
adjustments written in the transaction that submits the job, so a crash loses or doubles
neither.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.pricing import ZERO, to_money
from aicc.core.tenancy import Principal
from aicc.services.common import new_id, utcnow
from aicc.services.jobs import jobs
from aicc.services.models import templates
from aicc.store.tables import AdjustmentRow, InvoiceRow, OrgRow, ProjectRow, TemplateUseRow


def counts(session: Session, targets: Iterable[str]) -> dict[str, int]:
    """How many runs each template (`Template.id`) has had."""
    wanted = list(targets)
    query = (
        select(TemplateUseRow.target, func.count())
        .where(TemplateUseRow.target.in_(wanted))
        .group_by(TemplateUseRow.target)
    )
    return {target: int(n) for target, n in session.execute(query)}


def record(
    session: Session, who: Principal, template: templates.Template, job: jobs.Job, zone: str
) -> None:
    """Count the run and, for another organization's paid template, charge the runner's
    organization and credit the publisher's: adjustments on the month's invoices, in the
    job's transaction, so each is written exactly once with it."""
    runner = session.get(ProjectRow, job.project_id)
    assert runner is not None
    now = utcnow()
    use = TemplateUseRow(
        job_id=job.id,
        target=template.id,
        org_id=runner.org_id,
        price=str(to_money(template.price)),
        currency=template.currency,
        created_at=now,
    )
    paid = template.price > ZERO and template.org_id not in (None, runner.org_id)
    if paid:
        assert template.org_id is not None
        month = periods.month_of(now, zone)
        org = session.get(OrgRow, runner.org_id)
        charged, credited = (
            _open(session, runner.org_id, month),
            _open(session, template.org_id, month),
        )
        amount = to_money(template.price)
        adjustment = functools.partial(_adjustment, who, template.currency, now)
        charge = adjustment(
            runner.org_id, runner.id, charged, amount, f"template {template.ref}: run {job.id}"
        )
        credit = adjustment(
            template.org_id,
            template.project_id,
            credited,
            -amount,
            f"template {template.ref}: used by {org.name if org else runner.org_id} (run {job.id})",
        )
        session.add_all([charge, credit])
        use.charge_id, use.credit_id = charge.id, credit.id
    session.add(use)
    session.flush()


def _adjustment(
    who: Principal,
    currency: str,
    now: datetime,
    org_id: str,
    project_id: str | None,
    period: str,
    amount: Decimal,
    description: str,
) -> AdjustmentRow:
    """One side of a paid run on an organization's invoice of `period`: the runner's charge
    (`amount` > 0) or the publisher's credit (< 0)."""
    return AdjustmentRow(
        id=new_id("adj"),
        org_id=org_id,
        project_id=project_id,
        period=period,
        amount=str(amount),
        currency=currency,
        description=description,
        created_at=now,
        created_by=who.user_id,
    )


def _open(session: Session, org_id: str, month: str) -> str:
    """`month`, or the first later month whose invoice of `org_id` is not issued yet: an
    adjustment on an issued month would never be billed."""
    while session.scalar(
        select(InvoiceRow.id).where(InvoiceRow.org_id == org_id, InvoiceRow.period == month)
    ):
        month = periods.next_month(month)
    return month
