"""Budget admission (plugins/budget.py) on hand-made snapshots: rate × declared runtime against
what is left, per project and organization, within one cycle, with models narrowed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sched_fixtures import A100, H100, job, node, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler.framework import schedule
from aicc.scheduler.snapshot import Bind, JobView, NodeView, Wait

RATES = ((H100, 4.0), (A100, 1.0))  # money per hour of the whole job


def priced(job_id: str, *, hours: float | None, minute: float = 0, **kw: Any) -> JobView:
    runtime = None if hours is None else int(hours * 3600)
    return replace(job(job_id, minute=minute, runtime_s=runtime, **kw), price_rates=RATES)


def decide(
    pending: list[JobView], left: dict[str, float], nodes: list[NodeView] | None = None
) -> dict[str, Bind | Wait]:
    snap = snapshot(nodes or [node("n1", gpus=4)], pending, tenants=tree({"prj-a": Quota()}))
    snap = replace(snap, budget_left=left)
    return {d.job_id: d for d in schedule(snap, "default") if isinstance(d, Bind | Wait)}


def test_a_job_that_would_overspend_waits_with_reason_budget() -> None:
    out = decide([priced("big", hours=3)], {"prj-a": 10.0})  # 4 × 3 = 12 > 10
    wait = out["big"]
    assert isinstance(wait, Wait) and wait.reasons[0].code == "budget"
    assert "12.00" in wait.reasons[0].message and "10.00" in wait.reasons[0].message
    assert isinstance(decide([priced("ok", hours=2)], {"prj-a": 10.0})["ok"], Bind)


def test_the_organizations_budget_counts_too_and_the_tightest_wins() -> None:
    out = decide([priced("j", hours=2)], {"prj-a": 100.0, "org": 5.0})
    assert isinstance(out["j"], Wait) and "organization" in out["j"].reasons[0].message


def test_one_cycle_does_not_spend_a_budget_twice() -> None:
    out = decide([priced("first", hours=2), priced("second", hours=2, minute=1)], {"prj-a": 10.0})
    assert isinstance(out["first"], Bind)
    assert isinstance(out["second"], Wait) and out["second"].reasons[0].code == "budget"


def test_models_are_narrowed_to_what_the_budget_allows() -> None:
    nodes = [node("h", gpus=1, model=H100), node("a", gpus=1, model=A100)]
    out = decide([priced("j", hours=2, models=(H100, A100))], {"prj-a": 3.0}, nodes)
    bind = out["j"]
    assert isinstance(bind, Bind) and bind.placements[0].node == "a"


def test_without_a_declared_runtime_only_an_exhausted_budget_holds_it() -> None:
    assert isinstance(decide([priced("j", hours=None)], {"prj-a": 0.5})["j"], Bind)
    held = decide([priced("j", hours=None)], {"prj-a": -1.0})["j"]
    assert isinstance(held, Wait) and "spent" in held.reasons[0].message


def test_no_budget_or_no_rates_changes_nothing() -> None:
    assert isinstance(decide([priced("j", hours=100)], {})["j"], Bind)
    assert isinstance(decide([job("j", runtime_s=3600 * 100)], {"prj-a": 0.0})["j"], Bind)
