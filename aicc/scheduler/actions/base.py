"""What an action is: one step a job goes through in a cycle, run when the job is at its stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aicc.scheduler.cycle import CycleState, Trial


@dataclass(frozen=True)
class Action:
    """`run(cycle, trial)` acts on a job whose trial is at `stage` (`admitted`, `refused`,
    `unfit`); it returns True when it decided the job (a `Bind`, or a `Wait` it wrote)."""

    name: str
    stage: str
    run: Callable[[CycleState, Trial], bool]
