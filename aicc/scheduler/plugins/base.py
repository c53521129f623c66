"""The extension points' protocols. Plugins see the running cycle through `Cycle` (kube-
scheduler's framework handle and CycleState): the snapshot, the quota tree with its usage, lane
counts, allocations per project, and a scratch space for what a plugin computes once a cycle.
A protocol, so that plugins depend on what they read, never on the cycle's module. Each
extension point's protocol is here too: `JobScore`, `ShareScore`, `Admission`, `ModelChoice`,
and `ServiceLadder`, which a queue-sort plugin satisfies to be the `service` rule's ladder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from aicc.scheduler.quota import Amounts, QuotaTree
from aicc.scheduler.snapshot import CycleDecision, JobView, Snapshot, WaitReason

T = TypeVar("T")


class Cycle(Protocol):
    """What plugins read of the running cycle (implemented by `aicc.scheduler.cycle.Cycle`)."""

    @property
    def now(self) -> datetime: ...
    @property
    def snapshot(self) -> Snapshot: ...
    @property
    def tree(self) -> QuotaTree: ...
    @property
    def lane_limit(self) -> dict[str, int | None]: ...
    @property
    def lane_count(self) -> Counter[str]: ...
    @property
    def alloc(self) -> dict[str, Amounts]: ...  # per project, what its bound jobs hold
    @property
    def decisions(self) -> Sequence[CycleDecision]: ...
    @property
    def ladder(self) -> object | None: ...  # the queue-sort plugin preemption ranks jobs by

    def level(self, job: JobView) -> int: ...
    def model_of(self, node: str, device_index: int) -> str | None: ...
    def demand(self, job: JobView, model: str | None) -> Amounts: ...

    def scratch(self, key: Hashable, build: Callable[[], T]) -> T:
        """What `build()` returned the first time this cycle was asked for `key`."""
        ...


class JobScore(Protocol):
    """Queue sort: a job's static score for this cycle (higher goes first), weighted."""

    @property
    def name(self) -> str: ...

    def score(self, job: JobView, cycle: Cycle) -> float: ...


@runtime_checkable
class ServiceLadder(Protocol):
    """A queue-sort plugin that ranks jobs on a service ladder (plugins/service.py): the first
    one of a profile is the ladder the `service` preemption rule reads. Declared by having
    these members, so the framework asks the capability, never the plugin's class."""

    @property
    def preempt_gap(self) -> int: ...  # levels a victim must be above its preemptor

    def rank(self, job: JobView, cycle: Cycle) -> int: ...  # the job's level, 0 goes first


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
