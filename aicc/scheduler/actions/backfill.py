"""Backfill: a job that ends (by its declared runtime) before the cycle's reservation starts may
use the space held for it (reserve.py)."""

from __future__ import annotations

from aicc.scheduler import reserve
from aicc.scheduler.actions.allocate import prepare
from aicc.scheduler.actions.base import Action
from aicc.scheduler.cycle import CycleState, Trial


def run(cycle: CycleState, trial: Trial) -> bool:
    if cycle.reservation is None or not cycle.is_short(trial.job):
        return False
    prepare(cycle, trial)
    placed = reserve.backfill(cycle, trial.job, trial.attempts, trial.key)
    if placed is None:
        return False
    cycle.bind(trial.job, placed)
    return True


ACTION = Action("backfill", "admitted", run)
