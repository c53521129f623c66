"""The scheduling cycle: `decisions = schedule(snapshot, profile)`, pure and deterministic.

One cycle walks the waiting jobs once, in queue order, through named extension points (the
Kubernetes scheduling framework's and Volcano's), each a registry of plugins or actions a
profile names (profiles.py):

1. queue sort (`order.py`, plugins `priority`, `aging`, `attained`, `declared`, `fairshare`):
   static job scores plus a per-project share score recomputed after every bind of that
   project; optionally jobs within their project's guarantee before borrowers (Kueue's order);
2. model choice (plugins `throughput_per_cost`, `request_order`): the accelerator models to try;
3. then the profile's actions (`actions/`), each at the stage the job has reached:
   `admit` (admission plugins `lanes`, `quota`, `budget`), `reclaim` (a refused job within its
   guarantee preempts borrowers), `backfill` (into a reservation's space), `allocate` (filter
   and score plugins: every replica through the profile's chain of placement policies,
   `allocate.place_replica`: its vector policy for one replica, `placer.py`, else the
   `indexed` walk, `indexed.py`; a gang in one statement), `preempt` (evict cheaper work, by
   the victim rules of `plugins/victims.py`), `reserve` (space held at the earliest start for
   the first job that still does not fit);
Before those, a deferrable job the green planner holds for a greener hour waits (`green.py`),
and, under a site power cap, a job whose start would go over it (`power.py`);

4. bind (the profile's `bind`, from `cycle.BINDS`): a `Bind` per placed job, and a `Wait` with
   reasons and position for every other;
5. after the queue, running elastic jobs grow into what nothing waiting wants (`elastic.grow`).

The answer has exactly one `Bind` or `Wait` per pending job, in queue order; a `Reserve` follows
the reserved job's `Wait`, `Preempt`s (one per victim) and `Shrink`s (one per elastic job) follow
their preemptor's `Wait`, and `Grow`s come last.
A cycle never sees the future: only `snapshot.now`, declared runtimes and past usage.

No job can stop a cycle for all: when one raises, `isolate` bisects the placed, then the
waiting jobs for those that make it raise (the loop fails such a waiting job as `quarantined`
and only leaves a placed one out of the snapshot), and the others are scheduled.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace

from aicc.scheduler import elastic, green, power
from aicc.scheduler.actions import ACTIONS
from aicc.scheduler.cycle import FAIRSHARE, CycleState, Trial
from aicc.scheduler.memo import Memo
from aicc.scheduler.order import nominated, order
from aicc.scheduler.profile import Profile
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import Bind, CycleDecision, JobView, Snapshot, Wait, WaitReason

__all__ = ["Cycle", "Profile", "isolate", "schedule"]


def schedule(
    snapshot: Snapshot, profile: Profile | str = "default", memo: Memo | None = None
) -> list[CycleDecision]:
    """The decisions of one cycle. Pure: reads `snapshot`, changes nothing, reads no clock.
    A caller that runs cycle after cycle may pass the same `memo` each time (memo.py)."""
    if isinstance(profile, str):
        profile = get_profile(profile)
    with collector_paused():  # the cycle's state too: building it allocates as much as a run
        return Cycle(snapshot, profile, memo).run()


def isolate(
    snapshot: Snapshot,
    profile: Profile | str = "default",
    run: Callable[[Snapshot], object] | None = None,
) -> tuple[Snapshot, dict[str, str]]:
    """After `run(snapshot)` raised (by default one cycle, `schedule(snapshot, profile)`): the
    snapshot without the jobs that make it fail, and the error each made, so that one bad job
    cannot stop scheduling for all.

    Placed jobs are looked at first, when the waiting ones alone run (a placed job's bad start
    time breaks the reservation of a waiting one that is not to blame); then the waiting ones.
    Bisection finds each culprit: the shortest failing prefix ends with a job the failure needs
    (about log2(jobs) runs per culprit). Raises the error again when a run fails with no job to
    blame."""

    def failure(pending: list[JobView], running: list[JobView]) -> Exception | None:
        trial = replace(snapshot, pending=pending, running=running)
        try:
            run(trial) if run is not None else schedule(trial, profile)
        except Exception as err:  # any error of a run is what is looked for
            return err
        return None

    blamed: dict[str, str] = {}

    def without_culprits(
        jobs: list[JobView], fails: Callable[[list[JobView]], Exception | None]
    ) -> list[JobView]:
        jobs = list(jobs)
        while (err := fails(jobs)) is not None:
            if (none := fails([])) is not None:
                raise none
            fine, bad = 0, len(jobs)  # jobs[:fine] schedule, jobs[:bad] raise `err`
            while bad - fine > 1:
                middle = (fine + bad) // 2
                if (found := fails(jobs[:middle])) is None:
                    fine = middle
                else:
                    bad, err = middle, found
            blamed[jobs.pop(bad - 1).id] = f"{type(err).__name__}: {err}"
        return jobs

    pending, running = list(snapshot.pending), list(snapshot.running)
    if failure(pending, []) is None:
        running = without_culprits(running, lambda jobs: failure(pending, jobs))
    pending = without_culprits(pending, lambda jobs: failure(jobs, running))
    return replace(snapshot, pending=pending, running=running), blamed


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, then as it was before.

    A cycle allocates hundreds of thousands of small objects (decisions, placements, cache
    keys) that all live until it returns and form no reference cycles, so the collector's
    passes free nothing; yet each full pass also walks every object of the snapshot: about a
    tenth of a large cycle's time (issue 38.2). Reference counting frees memory as usual.

    When the collector comes back, what the block left in the young generations moves to the
    oldest one as is (`gc.freeze` then `gc.unfreeze`: two list splices, and the young count
    starts again from 0). Else the first allocation after the block would start a young pass
    over every object the cycle still holds (its state, its decisions: 0.2-0.3 s of a large
    cycle, 3-4%), which frees nothing either: they die by reference counting once the caller
    drops them. A garbage cycle made in the block is found only by the next full pass, as an
    old object's is, and the moved objects do not count toward starting one: full passes are
    rare, so what a cycle builds must form no reference cycle (the placer holds its cluster
    weakly for this: every cycle's cluster once stayed, 24 GB on the whole Philly trace;
    `tests/scheduler/test_placer.py` checks a cycle leaves nothing for the collector). Not
    where the caller has frozen objects of its own (`gc.get_freeze_count()`): unfreezing
    would let them go."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


class Cycle(CycleState):
    """One cycle: the queue in order, each job through the profile's actions."""

    def __init__(self, snapshot: Snapshot, profile: Profile, memo: Memo | None = None) -> None:
        super().__init__(snapshot, profile, memo)
        self.actions = [ACTIONS[name] for name in profile.actions]
        # after `run`: how many waiting jobs waited behind a lane full from the cycle's start
        # (all of them: the decisions are those lanes' waits alone, loops/quiet.py)
        self.behind = 0

    def run(self) -> list[CycleDecision]:
        with collector_paused():
            return self._run()

    def _run(self) -> list[CycleDecision]:
        limit = self.profile.max_jobs
        held = green.holds(self.snapshot)
        behind = self._behind_full_lanes(held)
        self.behind = len(behind)
        budget = power.Budget.of(self.snapshot)
        for count, job in enumerate(order(self, behind)):
            if job.id in held:
                self.wait(job, [held[job.id]])
                continue
            if limit is not None and count >= limit:
                why = f"this cycle considered its first {limit} jobs; the rest wait for the next"
                self.wait(job, [WaitReason("queue", why)])
                continue
            if budget is None:
                self._consider(job)
                continue
            # Like a quota refusal: the job waits, and the jobs behind it that fit still start.
            refused = budget.refuse(job)
            if refused is not None:
                self.wait(job, [refused])
                continue
            start = len(self.decisions)
            self._consider(job)
            budget.take(job, self.decisions[start:])
        for job, reason in behind.values():
            self.wait(job, [reason])
        elastic.grow(self)  # last: only capacity that nothing waiting wants
        return self.decisions

    def _behind_full_lanes(
        self, held: Mapping[str, object]
    ) -> dict[str, tuple[JobView, WaitReason]]:
        """Waiting jobs whose lane is full from the start of the cycle, with the lane's reason:
        nothing this cycle does frees a place in a lane (running jobs end between cycles), so
        they wait without being ordered or looked at, and a long queue behind a full lane
        costs a cycle next to nothing. Jobs held for greener hours and nominated ones (their
        victims stopping) go the usual way. They come last in the queue's positions."""
        lanes = next((p for p in self.profile.admission if p.name == "lanes"), None)
        if lanes is None or not any(self.lane_limit.values()):
            return {}
        full = {
            q
            for q, limit in self.lane_limit.items()
            if limit is not None and self.lane_count[q] >= limit
        }
        if not full:
            return {}
        first = nominated(self)
        reasons: dict[str, WaitReason | None] = {}  # the lane's own words, once per lane
        out: dict[str, tuple[JobView, WaitReason]] = {}
        for job in self.snapshot.pending:
            if job.queue in full and job.id not in held and job.id not in first:
                if job.queue not in reasons:
                    reasons[job.queue] = lanes.admit(job, [], self).reason
                reason = reasons[job.queue]
                if reason is not None:
                    out[job.id] = (job, reason)
        return out

    def offer(self, job: JobView) -> Bind | Wait:
        """Decide one more job in this cycle as if it came next in the queue, and return its
        `Bind` or `Wait` (any `Preempt` or `Reserve` follows it in `decisions`). For the trace
        simulators, which feed arrivals one at a time into one long cycle where nothing ends."""
        start = len(self.decisions)
        self._consider(job)
        decision = self.decisions[start]
        assert isinstance(decision, Bind | Wait)
        return decision

    def nominated(self) -> set[str]:
        """Waiting jobs that go first, their victims still stopping (order.nominated)."""
        return nominated(self)

    def _consider(self, job: JobView) -> None:
        same = self._same(job)
        known = self.waits.get(same) if same is not None else None
        if known is not None:  # a job just like one that waited: it waits for the same reasons
            reasons, fair = known
            if fair and self.behind_fair_share(job):
                reasons = (*reasons, FAIRSHARE)
            self.wait(job, list(reasons))
            return
        self._decide(job, same)

    def _same(self, job: JobView) -> tuple[object, ...] | None:
        """What decides a job's fate in this cycle, as a key: jobs with equal keys bind or wait
        alike, since capacity only shrinks and usage only grows within a cycle. None for jobs
        a preemption remembers (their victims differ)."""
        if job.preempted_by:
            return None
        project = job.project_id
        key: tuple[object, ...] = (
            project,
            self.version[project],
            self.shape(job.request),
            job.replicas,
            job.priority,
            job.queue,
            job.price_rates,
        )
        if self.ladder is not None:  # the level the queue's order asked for, most often
            level = self._levels.get(job.id)
            key += (self.level(job) if level is None else level,)
        if self.reservation is not None:
            key += (id(self.reservation), self.is_short(job))
        return key

    def _decide(self, job: JobView, same: tuple[object, ...] | None) -> None:
        """The job through the actions at its stage, until one decides it; else it waits."""
        r = job.request
        accel = r.accel_count > 0 or r.mig_profile is not None
        models = self.cluster.model_keys(r.models) if accel else []
        if accel and not models:
            why = "no node has an accelerator of a model this job accepts"
            self.wait(job, [WaitReason("unschedulable", why)])
            return
        choice = self.profile.model_choice
        if choice is not None and len(models) > 1:
            models = choice.order(job, models, self)
        trial = Trial(job, same, accel, models)
        for action in self.actions:
            if action.stage == trial.stage and action.run(self, trial):
                return
        assert trial.reason is not None, "a profile's actions end with allocate"
        self.remember(same, (trial.reason,), fair=trial.stage == "unfit")
        self.wait(job, trial.reasons)
