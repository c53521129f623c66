"""Admission: queue lanes (`max_running`) and quotas (`max` at every level of the tree).

Quota admission narrows a job to the accelerator models on which its whole demand (the model's
milli and its PFLOPS) stays under every ceiling on its path; a placement on any of them is then
within quota whatever devices it takes. Borrowing beyond `guaranteed` needs no permission here:
it is allowed whenever the placement finds idle capacity, and the bind is marked borrowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aicc.scheduler.plugins.base import ADMIT, Cycle, Verdict
from aicc.scheduler.snapshot import JobView, WaitReason


@dataclass(frozen=True)
class Lanes:
    name: str = "lanes"

    def admit(self, job: JobView, models: list[str], cycle: Cycle) -> Verdict:
        limit = cycle.lane_limit.get(job.queue)
        if limit is None or cycle.lane_count[job.queue] < limit:
            return ADMIT
        return Verdict(WaitReason("queue", f"queue {job.queue} runs at most {limit} jobs at once"))


@dataclass(frozen=True)
class QuotaAdmission:
    name: str = "quota"

    def admit(self, job: JobView, models: list[str], cycle: Cycle) -> Verdict:
        tree = cycle.tree
        if not tree.enabled or not tree.path(job.project_id):
            return ADMIT
        if not models:
            why = tree.over_max(job.project_id, cycle.demand(job, None))
            return ADMIT if why is None else Verdict(WaitReason("quota", why))
        allowed: list[str] = []
        first_refusal = None
        for model in models:
            why = tree.over_max(job.project_id, cycle.demand(job, model))
            if why is None:
                allowed.append(model)
            elif first_refusal is None:
                first_refusal = why
        if allowed:
            return ADMIT if len(allowed) == len(models) else Verdict(models=tuple(allowed))
        return Verdict(WaitReason("quota", first_refusal or "over quota"))


def lanes(args: Mapping[str, Any]) -> Lanes:
    return Lanes()


def quota(args: Mapping[str, Any]) -> QuotaAdmission:
    return QuotaAdmission()
