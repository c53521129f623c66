"""Admission: the profile's admission plugins (lanes, quota, budget) in order; the first that
refuses sends the job to the `refused` stage, others may narrow its accelerator models."""

from __future__ import annotations

from aicc.scheduler.actions.base import Action
from aicc.scheduler.cycle import CycleState, Trial


def run(cycle: CycleState, trial: Trial) -> bool:
    for plugin in cycle.profile.admission:
        verdict = plugin.admit(trial.job, trial.models, cycle)
        if verdict.reason is not None:
            trial.stage, trial.reason, trial.reasons = "refused", verdict.reason, [verdict.reason]
            return False
        if verdict.models is not None:
            trial.models = [m for m in trial.models if m in verdict.models]
    return False


ACTION = Action("admit", "admitted", run)
