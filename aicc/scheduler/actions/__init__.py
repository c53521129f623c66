"""The actions a cycle runs for each job, in the order a profile names them (Volcano keeps
allocate, backfill, preempt and reclaim apart the same way). Adding one: a module with its
`ACTION`, and one line here."""

from __future__ import annotations

from aicc.scheduler.actions import admit, allocate, backfill, preempt, reclaim, reserve, shrink
from aicc.scheduler.actions.base import Action

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        admit.ACTION,
        reclaim.ACTION,
        backfill.ACTION,
        allocate.ACTION,
        shrink.ACTION,
        preempt.ACTION,
        reserve.ACTION,
    )
}

__all__ = ["ACTIONS", "Action"]
