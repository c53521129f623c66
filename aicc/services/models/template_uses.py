"""A template's uses: every run is one (`TemplateUseRow`); a run of another organization's paid
template charges the runner's organization and credits the publisher's, as two billing
adjustments written in the transaction that submits the job, so a crash loses or doubles
neither.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.pricing import ZERO, to_money
from aicc.core.tenancy import Principal
from aicc.services.billing import adjustments, invoices
from aicc.services.common import utcnow
from aicc.services.jobs import jobs
from aicc.services.models import templates
from aicc.services.tenancy import tenancy
from aicc.store.tables.models import TemplateUseRow


def counts(session: Session, targets: Iterable[str]) -> dict[str, int]:
    """How many runs each template (`Template.id`) has had."""
    wanted = list(targets)
    query = (
        select(TemplateUseRow.target, func.count())
        .where(TemplateUseRow.target.in_(wanted))
        .group_by(TemplateUseRow.target)
    )
    return {target: int(n) for target, n in session.execute(query)}


def runs_by(
    session: Session, target: str, *, org_id: str, since: datetime, until: datetime | None
) -> int:
    """How many runs of the template (`Template.id`) the organization made in [since, until)."""
    query = select(func.count()).where(
        TemplateUseRow.target == target,
        TemplateUseRow.org_id == org_id,
        TemplateUseRow.created_at >= since,
        *([TemplateUseRow.created_at < until] if until else []),
    )
    return int(session.scalar(query) or 0)


def record(
    session: Session, who: Principal, template: templates.Template, job: jobs.Job, zone: str
) -> None:
    """Count the run and, for another organization's paid template, charge the runner's
    organization and credit the publisher's: adjustments on the month's invoices (billing's
    writer), in the job's transaction, so each is written exactly once with it."""
    now = utcnow()
    use = TemplateUseRow(
        job_id=job.id,
        target=template.id,
        org_id=job.org_id,
        price=str(to_money(template.price)),
        currency=template.currency,
        created_at=now,
    )
    paid = template.price > ZERO and template.org_id not in (None, job.org_id)
    if paid:
        assert template.org_id is not None
        month = periods.month_of(now, zone)
        runner_org = tenancy.org_names(session, [job.org_id]).get(job.org_id, job.org_id)
        amount = to_money(template.price)
        adjustment = functools.partial(
            adjustments.add_adjustment,
            session,
            currency=template.currency,
            created_by=who.user_id,
            now=now,
        )
        charge = adjustment(
            org_id=job.org_id,
            project_id=job.project_id,
            period=invoices.open_month(session, job.org_id, month),
            amount=amount,
            description=f"template {template.ref}: run {job.id}",
        )
        credit = adjustment(
            org_id=template.org_id,
            project_id=template.project_id,
            period=invoices.open_month(session, template.org_id, month),
            amount=-amount,
            description=f"template {template.ref}: used by {runner_org} (run {job.id})",
        )
        use.charge_id, use.credit_id = charge.id, credit.id
    session.add(use)
    session.flush()
