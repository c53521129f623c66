"""Queue sort by priority class and by age (aging lifts a waiting job's score without bound, so
nothing starves: after `weight` points per hour a low-priority job passes newer higher ones)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aicc.scheduler.plugins.base import Cycle
from aicc.scheduler.snapshot import JobView


@dataclass(frozen=True)
class Priority:
    """The job's priority (docs/contracts.md §2: low 0, normal 100, high 1000, or an integer)."""

    name: str = "priority"

    def score(self, job: JobView, cycle: Cycle) -> float:
        return float(job.priority)


@dataclass(frozen=True)
class Aging:
    """Hours waited (since submission); a profile's weight makes it points per hour."""

    name: str = "aging"

    def score(self, job: JobView, cycle: Cycle) -> float:
        return max(0.0, (cycle.now - job.submitted_at).total_seconds()) / 3600.0


def priority(args: Mapping[str, Any]) -> Priority:
    return Priority()


def aging(args: Mapping[str, Any]) -> Aging:
    return Aging()
