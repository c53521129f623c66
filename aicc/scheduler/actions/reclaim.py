"""Reclaim: a job within its project's guarantee, held back by an ancestor's max because other
projects borrowed the room, takes its guarantee back by preemption instead of waiting behind
the borrowers (the profile's preemption with the `reclaim` rule). It then waits for its
victims to stop."""

from __future__ import annotations

from datetime import timedelta

from aicc.scheduler import preempt
from aicc.scheduler.actions.base import Action
from aicc.scheduler.cycle import CycleState, Trial


def run(cycle: CycleState, trial: Trial) -> bool:
    config = cycle.profile.preempt
    reason = trial.reason
    if reason is None or reason.code != "quota" or config is None or "reclaim" not in config.rules:
        return False
    job = trial.job
    attempts = cycle.attempts(job, trial.models, trial.accel)
    if not any(
        cycle.tree.within_guarantee(job.project_id, cycle.demand(job, m)) for _, m in attempts
    ):
        return False
    outcome = preempt.try_preempt(cycle, job, attempts)
    if outcome is None:
        return False
    waiting, decisions = outcome
    cycle.wait(job, [waiting, reason], cycle.now + timedelta(seconds=config.grace_s))
    cycle.decisions.extend(decisions)
    return True


ACTION = Action("reclaim", "refused", run)
