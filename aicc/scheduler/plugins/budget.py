"""Budget admission: a job whose price rate × declared runtime would exceed what is left of
its project's or organization's budget waits, with reason `budget`.

Both figures arrive in the snapshot (`Snapshot.budget_left`, `JobView.price_rates`), computed
by the caller from the store; this plugin only compares them, so the simulator and the live
server decide alike. What jobs bound earlier in the same cycle will cost (their rate on the
model they got × their declared runtime) is taken off what is left first, so one cycle cannot
spend a budget twice. A job without a declared runtime cannot be priced ahead: it is admitted
while something is left. A model the plan does not price is not held back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aicc.scheduler.plugins.base import ADMIT, Cycle, Verdict
from aicc.scheduler.snapshot import Bind, JobView, WaitReason


@dataclass
class _Spent:
    """Per cycle: how far through its decisions we have read, and what those binds cost."""

    jobs: dict[str, JobView]
    seen: int = 0
    by_tenant: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetAdmission:
    name: str = "budget"

    def admit(self, job: JobView, models: list[str], cycle: Cycle) -> Verdict:
        left_by = cycle.snapshot.budget_left
        if not left_by or not job.price_rates:
            return ADMIT
        path = [t.id for t in cycle.tree.path(job.project_id)]
        budgeted = [t for t in path if t in left_by]
        if not budgeted:
            return ADMIT
        spent = self._spent(cycle)
        tenant = min(budgeted, key=lambda t: left_by[t] - spent.get(t, 0.0))
        left = left_by[tenant] - spent.get(tenant, 0.0)
        rates = dict(job.price_rates)
        hours = None if job.max_runtime_s is None else job.max_runtime_s / 3600.0
        allowed: list[str] = []
        cheapest: float | None = None
        for model in models or [""]:
            rate = rates.get(model)
            cost = 0.0 if rate is None or hours is None else rate * hours
            if rate is None or (left > 0 and cost <= left):
                allowed.append(model)
            elif cheapest is None or cost < cheapest:
                cheapest = cost
        if not allowed:
            what = "its organization's" if tenant != job.project_id else "its project's"
            if cheapest is not None and hours is not None and left > 0:
                why = (
                    f"this job would cost up to {cheapest:.2f} over its declared runtime; "
                    f"{left:.2f} is left of {what} budget this month"
                )
            else:
                why = f"{what} budget for this month is spent ({left:.2f} left)"
            return Verdict(WaitReason("budget", why))
        if not models or len(allowed) == len(models):
            return ADMIT
        return Verdict(models=tuple(allowed))

    def _spent(self, cycle: Cycle) -> dict[str, float]:
        """What the binds made so far in this cycle will cost, per budgeted tenant."""
        memo = cycle.scratch(_Spent, lambda: _Spent({j.id: j for j in cycle.snapshot.pending}))
        jobs = memo.jobs
        left_by = cycle.snapshot.budget_left
        decisions = cycle.decisions
        for decision in decisions[memo.seen :]:
            if not isinstance(decision, Bind):
                continue
            bound: JobView | None = jobs.get(decision.job_id)
            if bound is None or not bound.price_rates or bound.max_runtime_s is None:
                continue
            model = ""
            for placement in decision.placements:
                for pick in placement.devices:
                    model = cycle.model_of(placement.node, pick.index) or ""
                    break
                break
            rate = dict(bound.price_rates).get(model)
            if rate is None:
                continue
            cost = rate * bound.max_runtime_s / 3600.0
            for tenant in cycle.tree.path(bound.project_id):
                if tenant.id in left_by:
                    memo.by_tenant[tenant.id] = memo.by_tenant.get(tenant.id, 0.0) + cost
        memo.seen = len(decisions)
        return memo.by_tenant


def budget(args: Mapping[str, Any]) -> BudgetAdmission:
    return BudgetAdmission()
