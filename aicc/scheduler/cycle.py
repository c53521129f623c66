"""The state of one cycle, which plugins and actions read and change: the working cluster, quota
usage, lanes, shares, the decisions so far, and per-cycle caches. No policy lives here: the
queue order is `order.py`, each step a job goes through is an action (`actions/`), and the
framework (`framework.py`) runs a profile's actions over the queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aicc.scheduler.allocate import Spot
from aicc.scheduler.cluster import Cluster
from aicc.scheduler.feasible import Feasibility
from aicc.scheduler.memo import Memo, held_of
from aicc.scheduler.placer import PolicyPlacer, snapshot_workload
from aicc.scheduler.profile import Profile, service_ladder
from aicc.scheduler.quota import Amounts, QuotaTree, held_demand, job_demand
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    JobView,
    Placement,
    ReplicaRequest,
    Snapshot,
    Wait,
    WaitReason,
    request_key,
)

T = TypeVar("T")
Attempt = tuple[ReplicaRequest, str | None]  # the request narrowed to a model, and that model
Placed = tuple[list[Spot], ReplicaRequest]  # where a job's replicas go, and the request placed
Binder = Callable[["CycleState", JobView, Placed], None]
FAIRSHARE = WaitReason("fairshare", "projects with less recent usage went first (fair share)")


@dataclass(slots=True)
class Trial:
    """One job on its way through the actions. `stage` says which actions still apply:
    `admitted` (placement may go on), `refused` (admission said no: `reason`), `unfit` (no
    room now: preemption or a reservation may help), `blocked` (nothing helps this cycle)."""

    job: JobView
    same: tuple[object, ...] | None
    accel: bool
    models: list[str]
    stage: str = "admitted"
    attempts: list[Attempt] = field(default_factory=list)
    key: tuple[object, ...] = ()
    reason: WaitReason | None = None
    reasons: list[WaitReason] = field(default_factory=list)


class CycleState:
    """The state of one cycle, which plugins read: working cluster, quota usage, lanes, shares."""

    def __init__(self, snapshot: Snapshot, profile: Profile, memo: Memo | None = None) -> None:
        self.snapshot = snapshot
        self.profile = profile
        self.now = snapshot.now
        self.cluster = Cluster(snapshot.nodes)
        if profile.place.policy is not None:
            self.cluster.placer = PolicyPlacer(
                profile.place.policy, self.cluster, lambda: snapshot_workload(snapshot)
            )
        self.tree = QuotaTree(snapshot.tenants)
        self.lane_limit: dict[str, int | None] = {q.id: q.max_running for q in snapshot.queues}
        self.lane_count: Counter[str] = Counter()
        self.alloc: dict[str, Amounts] = {}
        self.held = (
            held_of(snapshot.running, {}, self.model_of)
            if memo is None
            else memo.held(snapshot, self.model_of)
        )
        held: dict[str, Amounts] = {}  # per project, all its running jobs (terminating ones too)
        for job in snapshot.running:
            demand = self.held[job.id].demand
            add(held.setdefault(job.project_id, {}), demand)
            self.lane_count[job.queue] += 1
            if not job.terminating:
                self.allocate(job.project_id, demand)
        for project, demand in held.items():  # one walk up the tree per project, not per job
            self.tree.add(project, demand)
        self.bound: list[tuple[datetime | None, JobView, list[Spot], ReplicaRequest]] = []
        self.claimed: set[str] = set()  # running jobs promised to a preemptor this cycle
        self.preemptors = 0
        self.victims: Any = None  # preempt.Pool, built when a job first tries to preempt
        self.reservation: Any = None  # reserve.Reservation, once the cycle made one
        self.decisions: list[CycleDecision] = []
        self.position = 0
        self.failed: dict[tuple[object, ...], int] = {}  # placement keys that did not fit
        self.feasible = Feasibility(snapshot.nodes)
        self._first: dict[tuple[str, ...] | None, str | None] = {}
        self._demands: dict[tuple[int, int, str | None], Amounts] = {}
        self.narrowed: dict[tuple[int, str], ReplicaRequest] = {}
        self.unions: dict[tuple[int, tuple[str, ...]], ReplicaRequest] = {}
        self._trials: dict[tuple[object, ...], tuple[list[Attempt], tuple[object, ...]]] = {}
        self.placed_as: dict[tuple[object, ...], list[Attempt]] = {}  # allocate.by_policy
        self._mixed: bool | None = None
        self._shapes: dict[tuple[object, ...], int] = {}  # equal requests share one number
        self._shape_of: dict[int, int] = {}  # by id() of the requests in `_asked`
        self._asked: list[ReplicaRequest] = []
        self.version: Counter[str] = Counter()  # per project: bumped when its usage changes
        self.share_keys: dict[str, tuple[int, float]] = {}  # project -> (version, share)
        self.tiers: dict[tuple[str, int, int], int] = {}  # (project, version, shape) -> tier
        self._latest_bound: list[tuple[datetime, str]] = []  # top two (submitted, project)
        # plain waits of this cycle by `same` key, and whether the fair-share reason applies
        self.waits: dict[tuple[object, ...], tuple[tuple[WaitReason, ...], bool]] = {}
        self._scratch: dict[Hashable, Any] = {}
        self.ladder = service_ladder(profile)
        self._bind = BINDS[profile.bind]
        self._levels: dict[str, int] = {}

    # --- helpers for plugins and actions ------------------------------------------------------

    def scratch(self, key: Hashable, build: Callable[[], T]) -> T:
        """What `build()` returned the first time this cycle was asked for `key`: a plugin's
        per-cycle state (fair share's capacities and histories, ...)."""
        if key not in self._scratch:
            self._scratch[key] = build()
        found: T = self._scratch[key]
        return found

    def model_of(self, node: str, device_index: int) -> str | None:
        i = self.cluster.index_of.get(node)
        return None if i is None else self.cluster.device_model(i, device_index)

    def allocate(self, project: str, demand: Amounts) -> None:
        add(self.alloc.setdefault(project, {}), demand)

    def shape(self, request: ReplicaRequest) -> int:
        """A small number per distinct request: cheap keys for the cycle's caches."""
        number = self._shape_of.get(id(request))
        if number is None:
            key = request_key(request)
            number = self._shape_of[id(request)] = self._shapes.setdefault(key, len(self._shapes))
            self._asked.append(request)  # alive as long as its id() is a key
        return number

    def charge(self, project: str, demand: Amounts) -> None:
        """Count `demand` against the project's quota path (a bind, or a preemptor's claim)."""
        self.tree.add(project, demand)
        self.version[project] += 1

    def demand(self, job: JobView, model: str | None) -> Amounts:
        """`quota.job_demand`, shared by jobs of the same shape. Callers must not change it."""
        number = self._shape_of.get(id(job.request))  # `shape`, inline: admission asks per model
        key = (self.shape(job.request) if number is None else number, job.replicas, model)
        found = self._demands.get(key)
        if found is None:
            found = self._demands[key] = job_demand(job, model)
        return found

    def first_model(self, job: JobView) -> str | None:
        r = job.request
        if r.accel_count == 0 and r.mig_profile is None:
            return None
        found = self._first.get(r.models, "")
        if found == "":
            models = self.cluster.model_keys(r.models)
            if self.profile.model_choice is not None and len(models) > 1:
                models = self.profile.model_choice.order(job, models, self)
            found = self._first[r.models] = models[0] if models else None
        return found

    def level(self, job: JobView) -> int:
        """The job's level on the service ladder (0 without one), computed once per cycle."""
        found = self._levels.get(job.id)
        if found is None:
            found = self._levels[job.id] = 0 if self.ladder is None else self.ladder.rank(job, self)
        return found

    def is_short(self, job: JobView) -> bool:
        """Ends (by its declared runtime) before the reservation starts: may backfill."""
        res = self.reservation
        return (
            res is not None
            and res.at is not None
            and job.max_runtime_s is not None
            and self.now + timedelta(seconds=job.max_runtime_s) <= res.at
        )

    def attempts(self, job: JobView, models: list[str], accel: bool) -> list[Attempt]:
        """The requests to try, one per accelerator model in order (or one for all of them)."""
        r = job.request
        if not accel:
            return [(r, None)]
        if self.profile.model_choice is None and self.profile.place.order == "first":
            if len(models) == len(self.cluster.model_keys(r.models)):
                return [(r, None)]  # as asked: fit.py's first fit, models mixed on a node
            return [(replace(r, models=tuple(models)), None)]
        out: list[Attempt] = []
        shape = self.shape(r)
        for m in models:
            narrowed = self.narrowed.get((shape, m))
            if narrowed is None:
                narrowed = self.narrowed[(shape, m)] = replace(r, models=(m,))
            out.append((narrowed, m))
        return out

    def trial_of(
        self, job: JobView, models: list[str], accel: bool
    ) -> tuple[list[Attempt], tuple[object, ...]]:
        """`attempts`, and the key of their fate in this cycle (replicas, the attempts' shape
        numbers). Where the attempts are requests narrowed to one model each (kept per shape
        and model, `narrowed`), both are kept per (shape, replicas, models) and shared by the
        jobs that ask alike: callers must not change them."""
        narrowed = accel and (
            self.profile.model_choice is not None or self.profile.place.order != "first"
        )
        if not narrowed:
            attempts = self.attempts(job, models, accel)
            return attempts, (job.replicas, *(self.shape(req) for req, _ in attempts))
        memo = (self.shape(job.request), job.replicas, *models)
        found = self._trials.get(memo)
        if found is None:
            attempts = self.attempts(job, models, accel)
            key = (job.replicas, *(self.shape(req) for req, _ in attempts))
            found = self._trials[memo] = (attempts, key)
        return found

    def mixed_nodes(self) -> bool:
        """Does some node hold devices of more than one model?"""
        if self._mixed is None:
            cluster = self.cluster
            self._mixed = any(
                n.devices and not one
                for n, one in zip(cluster.nodes, cluster.single_model, strict=True)
            )
        return self._mixed

    # --- decisions ----------------------------------------------------------------------------

    def bind(self, job: JobView, placed: Placed) -> None:
        """The bind extension point: the profile's bind function (`BINDS`) makes the placed
        job a decision."""
        self._bind(self, job, placed)

    def note_bound(self, job: JobView) -> None:
        """Remember the latest bound job per project (`behind_fair_share`)."""
        top = self._latest_bound
        entry = (job.submitted_at, job.project_id)
        if len(top) == 2 and entry < top[1] and job.project_id not in (top[0][1], top[1][1]):
            return  # older than both, of another project: it would be the one dropped
        same = [t for t in top if t[1] == job.project_id]
        if same:
            if same[0][0] >= entry[0]:
                return
            top.remove(same[0])
        top.append(entry)
        top.sort(reverse=True)
        del top[2:]

    def behind_fair_share(self, job: JobView) -> bool:
        """Did a later job of another project go first in this cycle?"""
        if not self.profile.share:
            return False
        return any(p != job.project_id and t > job.submitted_at for t, p in self._latest_bound)

    def remember(
        self, same: tuple[object, ...] | None, reasons: tuple[WaitReason, ...], *, fair: bool
    ) -> None:
        """Jobs with the same `same` key wait for these reasons too (framework.Cycle._same)."""
        if same is not None:
            self.waits[same] = (reasons, fair)

    def wait(
        self, job: JobView, reasons: list[WaitReason], estimated_start: datetime | None = None
    ) -> None:
        self.position += 1
        self.decisions.append(Wait(job.id, tuple(reasons), self.position, estimated_start))


def add(total: Amounts, demand: Amounts) -> None:
    for k, v in demand.items():
        total[k] = total.get(k, 0.0) + v


def bind(cycle: CycleState, job: JobView, placed: Placed) -> None:
    """The default bind: the job's placements become a `Bind`, charged to its project's quota,
    lane and allocation."""
    spots, _ = placed
    cluster = cycle.cluster
    names = cluster.nodes
    if len(spots) == 1:  # one replica, most jobs: no generator
        i, picks = spots[0]
        placements: tuple[Placement, ...] = (Placement(0, names[i].name, picks),)
    else:
        placements = tuple(Placement(k, names[i].name, picks) for k, (i, picks) in enumerate(spots))
    demand = held_demand(job.request, spots, cluster.device_model)
    borrowed = cycle.tree.borrows(job.project_id, demand)
    cycle.charge(job.project_id, demand)
    cycle.lane_count[job.queue] += 1
    cycle.allocate(job.project_id, demand)
    end = None
    if job.max_runtime_s is not None:
        end = cycle.now + timedelta(0, job.max_runtime_s)  # (days, seconds): no keywords
    cycle.bound.append((end, job, spots, job.request))
    cycle.decisions.append(Bind(job.id, placements, borrowed))
    if cycle.profile.share:
        cycle.note_bound(job)


# The bind extension point's registry: what a profile's `bind` names (one line per function).
BINDS: dict[str, Binder] = {"default": bind}
