"""Reserve: the first job of the cycle that still does not fit gets space held at its earliest
start from declared runtimes (reserve.py); later jobs use that space only if they end first."""

from __future__ import annotations

from aicc.scheduler import reserve
from aicc.scheduler.actions.base import Action
from aicc.scheduler.cycle import CycleState, Trial


def run(cycle: CycleState, trial: Trial) -> bool:
    config = cycle.profile.reserve
    if config is None or cycle.reservation is not None:
        return False
    made = reserve.make(cycle, trial.job, trial.attempts, config)
    if made is None:
        return False
    cycle.reservation = made
    cycle.wait(trial.job, trial.reasons, made.at)
    cycle.decisions.append(made.decision(cycle.cluster))
    return True


ACTION = Action("reserve", "unfit", run)
