"""Queue sort by how much service a job has had or will need, in discrete levels.

- `attained` is Tiresias's discretized two-dimensional least-attained-service (NSDI'19): a job's
  level is the number of thresholds its attained device-seconds have passed (GPUs x time run,
  over all its attempts); level 0 goes first. It needs no runtime estimate. So that nothing
  starves behind a stream of new jobs, a job that has waited, since its last attempt ended,
  `promote` times as long as all its attempts ran goes back to level 0 (Tiresias's promotion),
  and while it runs from there only the service of that attempt counts. The wait counts from the
  last attempt, not from submission: otherwise an old job stays promoted whatever it runs, and
  such jobs could take turns preempting each other. A job that has waited `starve` times its
  declared runtime is *starving* (level -1, like Volcano's `sla` waiting time): it goes first and
  may also take younger jobs at level 0. Promotion cannot help a job that is already at level 0
  but needs a whole node or a gang's worth of devices, which a stream of small jobs at its own
  level keeps busy; in the Philly trace a few such 8-GPU jobs of 20 s waited days.
- `declared` is the same ladder over the work a job still declares: devices x (declared runtime
  minus what all its attempts have run). Short declared jobs go first (like SRPT with backfill).
  A job that has outrun its declaration is expected to run about as long again as it has run
  (so it falls back to least-attained-service instead of jumping the queue); the live server
  enforces `max_runtime`, so under-declaring does not pay there.
- `predicted` is the `declared` ladder over the runtime predicted from like jobs' finished runs
  (the view's `predicted_runtime_s`), and may make a waiting job starving as `attained` does.
  With `lift`, a job comes down one level for each `lift` of its projected slowdown over 1
  (all it has waited since submission over its expected runtime; finish-time fairness, as
  Themis ranks jobs), never below the first: shortest work first among jobs equally delayed
  for their size, so the top level (whole nodes for days) does not wait behind every shorter
  job, and once it runs it is not every shorter newcomer's victim. Alone, a preempted job's
  wait lifts it again, and on the Philly trace long jobs took turns preempting each other (12x
  the preemptions; BENCHMARKS.md, "Fair and short"). With `lift_at_start` (as the `predicted`
  profile has it) only the waits before a job's starts lift it: a preempted job waiting again
  keeps the lift its last attempt started with, so a preemption cannot lift its victim into
  preempting back (the view carries no first start, so waits after earlier preemptions that
  ended in a restart still count).

Each plugin also ranks running jobs for the `service` preemption rule: a waiting job may
preempt a running one whose level is higher than its own by at least `preempt_gap`.

Every ladder also takes the operator's aging (`age_every_s`, `age_levels`; `aging` in
config.yaml sets them on the policy's ladders, `profiles.with_aging`): a level up per so much
wait, bounded (`Ladder`).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aicc.scheduler.plugins.base import Cycle
from aicc.scheduler.quota import replica_milli
from aicc.scheduler.snapshot import JobView

HOUR = 3600.0
STARVING = -1  # the level of a starving job (see `Attained.starve`)


def devices(job: JobView) -> float:
    """Whole devices the job holds or asks for (a share counts its fraction; CPU-only: 1)."""
    milli = replica_milli(job.request)
    return job.replicas * (milli / 1000.0 if milli else 1.0)


def ran_s(job: JobView, cycle: Cycle) -> float:
    """Seconds this attempt has run (0 while it waits)."""
    start = job.attempt_started_at
    return 0.0 if start is None else max(0.0, (cycle.now - start).total_seconds())


@dataclass(frozen=True)
class Ladder:
    """Levels by device-seconds; `thresholds` ascending.

    Aging an operator sets (`aging` in config.yaml, or a plugin's `age_every_s` and
    `age_levels`): a job comes up one level for each `age_every_s` it has waited (since
    submission, less what earlier attempts ran, up to this attempt's start: a running job keeps
    what it waited before it started), at most `age_levels` levels (None: no bound), never
    above the first. `age_levels` also bounds `predicted`'s lift by slowdown: one bound on all
    that a wait lifts."""

    thresholds: tuple[float, ...]
    preempt_gap: int = 1
    age_every_s: float | None = None
    age_levels: int | None = None
    # whether a wait may lift a job (set from the fields above): checked before any more work,
    # so a ladder without aging ranks as fast as it did before there was any
    ages: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ages", self.age_every_s is not None)

    def level(self, value: float) -> int:
        return bisect.bisect_right(self.thresholds, value)

    def rank(self, job: JobView, cycle: Cycle) -> int:
        raise NotImplementedError

    def aged(self, level: int, job: JobView, cycle: Cycle, up: int = 0) -> int:
        """`level` (above the first) lifted by the job's wait: `up` levels (another lift's,
        `predicted`'s by slowdown) or one per `age_every_s` waited, whichever is more, at most
        `age_levels`, never above the first."""
        if self.age_every_s is not None:
            up = max(up, int(waited_before_start(job, cycle) / self.age_every_s))
        if self.age_levels is not None and up > self.age_levels:
            up = self.age_levels
        return max(0, level - up) if up else level

    def score(self, job: JobView, cycle: Cycle) -> float:
        """Minus the level. The cycle's own ladder (preemption's) ranks each job once."""
        if cycle.ladder is self:
            return float(-cycle.level(job))
        return float(-self.rank(job, cycle))


def waited_before_start(job: JobView, cycle: Cycle) -> float:
    """Seconds the job has waited since submission, less what its earlier attempts ran, up to
    this attempt's start (now, while it waits): operator aging's measure of its wait."""
    since = job.attempt_started_at or cycle.now
    return max(0.0, (since - job.submitted_at).total_seconds() - job.attained_s / devices(job))


def waited_s(job: JobView, at: datetime, count: float | None = None) -> float:
    """Seconds the job has waited, as of `at`, since its last attempt ended (when that is
    unknown: since submission, less what its earlier attempts ran). `count`: `devices(job)`,
    where the caller has it already."""
    if job.queued_at is not None:
        return (at - job.queued_at).total_seconds()
    if count is None:
        count = devices(job)
    return (at - job.submitted_at).total_seconds() - job.attained_s / count


def promoted(job: JobView, at: datetime, factor: float, count: float | None = None) -> bool:
    """Has the job, as of `at`, waited since its last attempt `factor` times as long as its
    earlier attempts ran?"""
    if count is None:
        count = devices(job)
    ran = job.attained_s / count  # wall seconds of the earlier attempts
    return ran > 0 and waited_s(job, at, count) >= factor * ran


def starving(job: JobView, cycle: Cycle, factor: float, count: float | None = None) -> bool:
    """Has the waiting job waited `factor` times its declared runtime?"""
    if job.max_runtime_s is None or job.attempt_started_at is not None:
        return False
    return waited_s(job, cycle.now, count) >= factor * job.max_runtime_s


@dataclass(frozen=True)
class Attained(Ladder):
    name: str = "attained"
    promote: float | None = None  # None: never promoted
    starve: float | None = None  # None: never starving

    def service(self, job: JobView, cycle: Cycle, count: float | None = None) -> float:
        """Device-seconds attained (`count`: `devices(job)`, where the caller has it)."""
        if count is None:
            count = devices(job)
        if self.promote is not None:
            at = job.attempt_started_at or cycle.now
            if promoted(job, at, self.promote, count):
                return ran_s(job, cycle) * count
        return job.attained_s + ran_s(job, cycle) * count

    def rank(self, job: JobView, cycle: Cycle) -> int:
        count = devices(job)  # once: the helpers below each asked for it (the same value)
        if self.starve is not None and starving(job, cycle, self.starve, count):
            return STARVING
        level = self.level(self.service(job, cycle, count))
        return self.aged(level, job, cycle) if self.ages and level > 0 else level


@dataclass(frozen=True)
class Declared(Ladder):
    name: str = "declared"
    unknown_level: int | None = None  # no declared runtime; None: the last level

    def runtime_s(self, job: JobView) -> float | None:
        """The runtime the ladder expects of the job: here, what it declared."""
        return job.max_runtime_s

    def rank(self, job: JobView, cycle: Cycle, aged: bool = True) -> int:
        """The job's level; `aged`: lifted by its wait (`Ladder.aged`)."""
        runtime = self.runtime_s(job)
        if runtime is None:
            top = len(self.thresholds)
            level = top if self.unknown_level is None else self.unknown_level
        else:
            count = devices(job)
            ran = job.attained_s / count + ran_s(job, cycle)
            left = runtime - ran
            level = self.level((left if left > 0 else ran) * count)
        return self.aged(level, job, cycle) if aged and self.ages and level > 0 else level


@dataclass(frozen=True)
class Predicted(Declared):
    """The `declared` ladder over the runtime predicted from like jobs (`JobView.
    predicted_runtime_s`, scheduler/predict.py; the declared one where there is no
    prediction): remaining work = devices x (predicted runtime - what all attempts ran). A job
    that outlives its prediction ranks by what it has run, as least attained service does."""

    name: str = "predicted"
    starve: float | None = None  # a waiting job is starving after this x its runtime
    lift: float | None = None  # a level down per this much projected slowdown over 1
    # count only the waits before the job's starts: a preempted job waiting again keeps the lift
    # it had when its last attempt started (the wait a preemption causes cannot lift it)
    lift_at_start: bool = False

    def runtime_s(self, job: JobView) -> float | None:
        predicted = job.predicted_runtime_s
        return job.max_runtime_s if predicted is None else predicted

    def __post_init__(self) -> None:
        object.__setattr__(self, "ages", self.age_every_s is not None or self.lift is not None)

    def rank(self, job: JobView, cycle: Cycle, aged: bool = True) -> int:
        if self.starve is not None and job.attempt_started_at is None:
            # the shorter of the two: a short job of a key whose history is long (an 8-GPU job
            # of 7 s among hours-long ones) starves as soon as its declaration says it may
            known = [r for r in (job.predicted_runtime_s, job.max_runtime_s) if r is not None]
            if known and waited_s(job, cycle.now) >= self.starve * min(known):
                return STARVING
        level = super().rank(job, cycle, aged=False)
        if not aged or not self.ages or level <= 0:
            return level
        # the more of the two lifts: by projected slowdown (`lift`) and by wait (aging)
        up = 0 if self.lift is None else int(self.delay(job, cycle) / self.lift)
        return self.aged(level, job, cycle, up)

    def delay(self, job: JobView, cycle: Cycle) -> float:
        """The job's projected slowdown less 1 (finish-time fairness, as Themis ranks jobs):
        all it has waited since submission over the runtime expected of it, which does not
        grow while it runs. A job of days that waited days is lifted as far as one of minutes
        that waited minutes, so the ladder's top does not starve behind a stream of shorter
        work, nor, once running, is it the first victim of every shorter job."""
        runtime = self.runtime_s(job)
        if runtime is None:
            return 0.0
        earlier = job.attained_s / devices(job)  # wall seconds of the earlier attempts
        ran = earlier + ran_s(job, cycle)
        waited = (cycle.now - job.submitted_at).total_seconds() - ran
        if self.lift_at_start:
            # as of this attempt's start, or of the last one's end (the wait before it started)
            since = job.attempt_started_at or (job.queued_at if earlier > 0 else None)
            if since is not None:
                waited = (since - job.submitted_at).total_seconds() - earlier
        return max(0.0, waited) / max(runtime, ran, 1.0)


def _ladder(args: Mapping[str, Any], default_hours: Sequence[float]) -> dict[str, Any]:
    hours = args.get("thresholds_h", default_hours)
    thresholds = tuple(sorted(float(h) * HOUR for h in hours))
    if any(t <= 0 for t in thresholds):
        raise ValueError("service thresholds_h must be positive device-hours")
    every, levels = args.get("age_every_s"), args.get("age_levels")
    if every is not None and float(every) <= 0:
        raise ValueError("age_every_s must be positive seconds (a level per this much wait)")
    if levels is not None and int(levels) < 0:
        raise ValueError("age_levels must be a count of levels, 0 or more")
    return {
        "thresholds": thresholds,
        "preempt_gap": max(1, int(args.get("preempt_gap", 1))),
        "age_every_s": None if every is None else float(every),
        "age_levels": None if levels is None else int(levels),
    }


def _factor(args: Mapping[str, Any], key: str, meaning: str) -> float | None:
    value = args.get(key)
    if value is not None and float(value) <= 0:
        raise ValueError(f"attained {key} must be a positive factor ({meaning})")
    return None if value is None else float(value)


def attained(args: Mapping[str, Any]) -> Attained:
    return Attained(
        **_ladder(args, (1.0, 10.0)),
        promote=_factor(args, "promote", "wait / run"),
        starve=_factor(args, "starve", "wait / declared runtime"),
    )


def declared(args: Mapping[str, Any]) -> Declared:
    unknown = args.get("unknown_level")
    return Declared(
        **_ladder(args, (1.0, 10.0)), unknown_level=None if unknown is None else int(unknown)
    )


def predicted(args: Mapping[str, Any]) -> Predicted:
    unknown = args.get("unknown_level")
    return Predicted(
        **_ladder(args, (1.0, 10.0)),
        unknown_level=None if unknown is None else int(unknown),
        starve=_factor(args, "starve", "wait / predicted runtime"),
        lift=_factor(args, "lift", "projected slowdown per level"),
        lift_at_start=bool(args.get("lift_at_start", False)),
    )
