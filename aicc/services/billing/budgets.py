"""Budgets: a monthly spending limit per project or organization, alerts, and what is left.

Spending is what usage costs under the plan in force after the plan's discount, before
subsidies and vouchers (credits pay a bill; they do not raise a limit): the month's usage
records, plus what replicas running now have used since they were last metered. What is left
for admission also sets aside what running jobs will still cost until their declared end, so
two jobs admitted one after the other cannot both spend the same money (docs/billing.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.jobspec import MAX_RUNTIME_S
from aicc.core.pricing import Currency, Money, PricePlan, to_money
from aicc.core.tenancy import Principal, Role, can_manage, can_read
from aicc.scheduler.snapshot import JobView
from aicc.services.billing import rating, views
from aicc.services.billing.plans import Plans
from aicc.services.common import Forbidden, Invalid, NotFound, from_row, new_id, utcnow
from aicc.services.nodes import census
from aicc.services.notify import events
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.tables.billing import BudgetRow, UsageRow

DEFAULT_THRESHOLDS = (0.5, 0.8, 1.0)


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: Money = Field(description="per calendar month in the billing time zone")
    currency: Currency = "CNY"
    thresholds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS),
        description="shares of the limit that raise an alert, e.g. [0.5, 0.8, 1.0]",
    )

    def checked(self) -> list[float]:
        if any(not 0 < t <= 10 for t in self.thresholds):
            raise Invalid("thresholds: each is a share of the limit above 0, e.g. 0.8")
        return sorted(set(self.thresholds))


def set_budget(
    session: Session,
    who: Principal,
    body: BudgetIn,
    *,
    org_id: str | None = None,
    project_id: str | None = None,
    running: Sequence[views.ReplicaUse],
    zone: str,
    default: PricePlan,
) -> views.Budget:
    """Set (or replace) the budget of a project or an organization: its organization's admins
    and center admins. Another tenant's is a 404. Returns it with this month's spending, where
    `running` are the replicas holding resources now (jobs' `metering.running`)."""
    if project_id is not None:
        project = tenancy.visible_project(session, who, project_id)
        org, scope = project.org_id, project.id
    elif org_id is not None:
        org = scope = tenancy.get_org(session, who, org_id).id
    else:
        raise Invalid("name a project or an organization")
    if not can_manage(who, org_id=org):
        raise Forbidden("only the organization's admins set budgets")
    thresholds = body.checked()
    now = utcnow()
    row = session.scalar(select(BudgetRow).where(BudgetRow.scope == scope))
    if row is None:
        row = BudgetRow(
            id=new_id("bud"),
            scope=scope,
            org_id=org,
            project_id=project_id,
            created_at=now,
            alerted={},
        )
        session.add(row)
    row.limit, row.currency, row.thresholds, row.updated_at = (
        str(to_money(body.limit)),
        body.currency,
        thresholds,
        now,
    )
    detail = {"limit": row.limit, "currency": row.currency}
    audit.record(session, who, "budget.set", "budget", row.id, org_id=org, detail=detail)
    spend = spending(session, {org}, running, now=now, zone=zone, default=default)
    return _budget(row, spend)


def _visible(who: Principal, row: BudgetRow) -> bool:
    if row.project_id is None or who.is_admin or who.role is Role.ORG_ADMIN:
        return can_read(who, org_id=row.org_id)
    return can_read(who, org_id=row.org_id, project_id=row.project_id)


def delete_budget(session: Session, who: Principal, budget_id: str) -> None:
    row = session.get(BudgetRow, budget_id)
    if row is None or not _visible(who, row):
        raise NotFound("budget {budget_id} not found", budget_id=budget_id)
    if not can_manage(who, org_id=row.org_id):
        raise Forbidden("only the organization's admins remove budgets")
    session.delete(row)
    audit.record(session, who, "budget.delete", "budget", row.id, org_id=row.org_id)


# --- spending -----------------------------------------------------------------------------------


@dataclass
class Spending:
    """Per organization and per project: spent this month, and set aside for running jobs."""

    month: str
    spent: dict[str, Decimal] = field(default_factory=dict)
    committed: dict[str, Decimal] = field(default_factory=dict)

    def add(self, into: dict[str, Decimal], keys: Iterable[str | None], amount: Decimal) -> None:
        for key in keys:
            if key:
                into[key] = into.get(key, Decimal(0)) + amount


def spending(
    session: Session,
    org_ids: set[str],
    running: Iterable[views.ReplicaUse],
    *,
    now: datetime,
    zone: str,
    default: PricePlan,
) -> Spending:
    """What each of these organizations and their projects spent this month, and what their
    running jobs will still cost until their declared ends. `running`: the replicas holding
    resources now, as jobs hands them over (those of other organizations are skipped)."""
    month = periods.month_of(now, zone)
    start, _ = periods.month_bounds(month, zone)
    out = Spending(month)
    plans = {org: Plans.load(session, org_id=org, default=default) for org in org_ids}
    records = session.scalars(
        select(UsageRow).where(UsageRow.org_id.in_(org_ids), UsageRow.period == month)
    )
    for record in records:
        amount = rating.cost(record, plans[record.org_id].at(record.start).plan)
        out.add(out.spent, (record.org_id, record.project_id), amount)
    models = _models(session)
    for rep in running:
        if rep.org_id not in org_ids or rep.ended_at is not None:
            continue
        plan = plans[rep.org_id].at(now).plan
        per_hour = replica_rate(plan, rep, models) or Decimal(0)
        since = max(rep.metered_to or rep.started_at or now, start)
        used_h = Decimal(max(0.0, (now - since).total_seconds())) / 3600
        out.add(out.spent, (rep.org_id, rep.project_id), per_hour * used_h)
        runtime = rep.max_runtime_s
        if runtime is not None:
            started = min(rep.started_at or now, now)  # nothing started after now
            end = started + timedelta(seconds=min(runtime, MAX_RUNTIME_S))
            left_h = Decimal(max(0.0, (end - now).total_seconds())) / 3600
            out.add(out.committed, (rep.org_id, rep.project_id), per_hour * left_h)
    return out


def _models(session: Session) -> dict[tuple[str, int], str]:
    """(node id, device index) -> the device's model, through nodes' census."""
    return {(d.node_id, d.index): d.model for d in census.devices(session)}


def replica_rate(
    plan: PricePlan, rep: views.ReplicaUse, models: dict[tuple[str, int], str]
) -> Decimal | None:
    model = next((models.get((rep.node_id, index)) for index, _ in rep.devices), None)
    milli = sum(milli for _, milli in rep.devices)
    return rating.hourly_rate(
        plan, model=model, milli=milli, cpu_milli=rep.cpu_milli, memory_mib=rep.memory_mib
    )


def budgets(
    session: Session,
    who: Principal,
    *,
    running: Sequence[views.ReplicaUse],
    now: datetime,
    zone: str,
    default: PricePlan,
) -> list[views.Budget]:
    """The budgets the caller may see, with this month's spending and what is left;
    `running`: the replicas holding resources now (jobs' `metering.running`)."""
    rows = [r for r in session.scalars(select(BudgetRow)) if _visible(who, r)]
    if not rows:
        return []
    orgs = {r.org_id for r in rows}
    spend = spending(session, orgs, running, now=now, zone=zone, default=default)
    return [_budget(r, spend) for r in rows]


def _budget(row: BudgetRow, spend: Spending) -> views.Budget:
    spent = spend.spent.get(row.scope, Decimal(0))
    committed = spend.committed.get(row.scope, Decimal(0))
    limit = Decimal(row.limit)
    return from_row(
        views.Budget,
        row,
        month=spend.month,
        spent=str(spent.quantize(Decimal("0.01"))),
        committed=str(committed.quantize(Decimal("0.01"))),
        left=str((limit - spent - committed).quantize(Decimal("0.01"))),
        alerted=list((row.alerted or {}).get(spend.month, [])),
    )


def left_for_admission(
    session: Session,
    *,
    running: Sequence[views.ReplicaUse],
    now: datetime,
    zone: str,
    default: PricePlan,
    orgs: set[str] | None = None,
) -> dict[str, float]:
    """tenant id (project or organization) -> money left this month, for every budget (of
    these organizations only, when `orgs` is given)."""
    rows = list(session.scalars(select(BudgetRow)))
    if orgs is not None:
        rows = [r for r in rows if r.org_id in orgs]
    if not rows:
        return {}
    owners = {r.org_id for r in rows}
    spend = spending(session, owners, running, now=now, zone=zone, default=default)
    return {
        r.scope: float(
            Decimal(r.limit)
            - spend.spent.get(r.scope, Decimal(0))
            - spend.committed.get(r.scope, Decimal(0))
        )
        for r in rows
    }


def alert(
    session: Session,
    *,
    running: Sequence[views.ReplicaUse],
    now: datetime,
    zone: str,
    default: PricePlan,
) -> int:
    """Write a `budget.alert` audit entry for each threshold crossed this month, once;
    `running`: the replicas holding resources now (jobs' `metering.running`)."""
    rows = list(session.scalars(select(BudgetRow)))
    if not rows:
        return 0
    spend = spending(
        session, {r.org_id for r in rows}, running, now=now, zone=zone, default=default
    )
    written = 0
    for row in rows:
        spent = spend.spent.get(row.scope, Decimal(0))
        limit = Decimal(row.limit)
        done = set((row.alerted or {}).get(spend.month, []))
        crossed = [t for t in row.thresholds if t not in done and spent >= limit * Decimal(str(t))]
        if not crossed:
            continue
        row.alerted = {spend.month: sorted(done | set(crossed))}
        for share in crossed:
            audit.record(
                session,
                None,
                "budget.alert",
                "budget",
                row.id,
                org_id=row.org_id,
                detail={
                    "month": spend.month,
                    "threshold": share,
                    "spent": str(spent.quantize(Decimal("0.01"))),
                    "limit": row.limit,
                    "project_id": row.project_id,
                },
            )
            _notify(session, row, spend.month, share, spent)
            written += 1
    return written


def _notify(session: Session, row: BudgetRow, month: str, share: float, spent: Decimal) -> None:
    """`budget.threshold` beside its audit entry, once per budget, month and threshold."""
    spent_text = f"{spent.quantize(Decimal('0.01'))}"
    events.emit(
        session,
        "budget.threshold",
        org_id=row.org_id,
        project_id=row.project_id,
        subject="budget at {share} of {limit} in {month}",
        body="Spent {spent} of the {limit} budget for {month} ({share} threshold).",
        params={"share": f"{share:.0%}", "limit": row.limit, "month": month, "spent": spent_text},
        data={"budget_id": row.id, "month": month, "threshold": share, "spent": spent_text},
        key=f"budget.threshold:{row.id}:{month}:{share}",
    )


# --- what budget admission needs in the scheduler's snapshot ------------------------------------


@dataclass(frozen=True)
class Context:
    """What the snapshot needs to price jobs: the billing zone and the default price plan."""

    zone: str
    default: PricePlan


def budgeted_orgs(session: Session, jobs: list[JobView]) -> set[str]:
    """The organizations whose budgets (theirs or a project's) some of these waiting jobs are
    under: what the snapshot reads the running replicas of for `admission_inputs` (none: no
    budget concerns a waiting job, and nothing is spent on spending)."""
    scopes = {
        (scope, org) for scope, org in session.execute(select(BudgetRow.scope, BudgetRow.org_id))
    }
    if not scopes or not jobs:
        return set()
    orgs = _project_orgs(session)
    waiting = {j.project_id for j in jobs} | {orgs.get(j.project_id) for j in jobs}
    return {org for scope, org in scopes if scope in waiting}


def _project_orgs(session: Session) -> dict[str, str]:
    return directory.project_orgs(session)


def admission_inputs(
    session: Session,
    now: datetime,
    jobs: list[JobView],
    models: set[str],
    context: Context,
    *,
    concerned: set[str],
    running: Sequence[views.ReplicaUse],
) -> tuple[dict[str, float], dict[str, tuple[tuple[str, float], ...]]]:
    """(money left per budgeted tenant, price rates per waiting job of a budgeted tenant).

    `concerned`: `budgeted_orgs` of these jobs; `running`: those organizations' replicas
    holding resources now (jobs' `metering.running`). A job's rate on a model is its
    replicas' hourly price there (device share, CPU, memory) under the plan in force now;
    `models` are the accelerator models the center has."""
    if not concerned or not jobs:
        return {}, {}
    orgs = _project_orgs(session)
    left = left_for_admission(
        session,
        running=running,
        now=now,
        zone=context.zone,
        default=context.default,
        orgs=concerned,
    )
    plans: dict[str, PricePlan] = {}
    rates: dict[str, tuple[tuple[str, float], ...]] = {}
    for job in jobs:
        org = orgs.get(job.project_id)
        if org is None or (job.project_id not in left and org not in left):
            continue
        if org not in plans:
            plans[org] = Plans.load(session, org_id=org, default=context.default).at(now).plan
        r = job.request
        accel = r.accel_count > 0 or r.mig_profile is not None
        milli = (r.accel_milli if r.accel_milli is not None else 1000 * r.accel_count) or 1000
        found = []
        choices = sorted(m for m in models if r.models is None or m in r.models) if accel else [""]
        for model in choices:
            each = rating.hourly_rate(
                plans[org],
                model=model or None,
                milli=milli if model else 0,
                cpu_milli=r.cpu_milli,
                memory_mib=r.memory_mib,
            )
            if each is not None:
                found.append((model, float(each) * job.replicas))
        rates[job.id] = tuple(found)
    return left, rates
