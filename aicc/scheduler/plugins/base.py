"""The extension points' protocols. Plugins see the running cycle (`Cycle`): the snapshot, the
working cluster, the quota tree with its usage, lane counts, and allocations per project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aicc.scheduler.snapshot import JobView, WaitReason

if TYPE_CHECKING:
    from aicc.scheduler.framework import Cycle


class JobScore(Protocol):
    """Queue sort: a job's static score for this cycle (higher goes first), weighted."""

    @property
    def name(self) -> str: ...

    def score(self, job: JobView, cycle: Cycle) -> float: ...


class ShareScore(Protocol):
    """Queue sort across projects: recomputed after each bind of the project (fair share)."""

    @property
    def name(self) -> str: ...

    def share(self, project: str, cycle: Cycle) -> float: ...


@dataclass(frozen=True)
class Verdict:
    """Admission's answer: wait for `reason`, or go on with the accelerator models in `models`
    (None: every model the job accepts)."""

    reason: WaitReason | None = None
    models: tuple[str, ...] | None = None


ADMIT = Verdict()


class Admission(Protocol):
    """Admission: may this job be placed now, and on which of its models?"""

    @property
    def name(self) -> str: ...

    def admit(self, job: JobView, models: list[str], cycle: Cycle) -> Verdict: ...


class ModelChoice(Protocol):
    """Orders the accelerator models a job accepts: the first that fits is taken."""

    @property
    def name(self) -> str: ...

    def order(self, job: JobView, models: list[str], cycle: Cycle) -> list[str]: ...
