"""Preempt: a job that does not fit may evict cheaper work (the profile's preemption rules,
preempt.py); it then waits for its victims to stop."""

from __future__ import annotations

from datetime import timedelta

from aicc.scheduler import preempt
from aicc.scheduler.actions.base import Action
from aicc.scheduler.cycle import CycleState, Trial


def run(cycle: CycleState, trial: Trial) -> bool:
    config = cycle.profile.preempt
    if config is None:
        return False
    outcome = preempt.try_preempt(cycle, trial.job, trial.attempts)
    if outcome is None:
        return False
    waiting, decisions = outcome
    start = cycle.now + timedelta(seconds=config.grace_s)
    cycle.wait(trial.job, [waiting, *trial.reasons], start)
    cycle.decisions.extend(decisions)
    return True


ACTION = Action("preempt", "unfit", run)
