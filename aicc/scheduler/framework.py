"""The scheduling cycle: `decisions = schedule(snapshot, profile)`, pure and deterministic.

One cycle walks the waiting jobs once, in queue order, through named extension points (the
Kubernetes scheduling framework's and Volcano's, with policies as plugins a profile selects):

1. queue sort: static job scores (priority, aging) plus a per-project share score (fair
   share) recomputed after every bind of that project; optionally jobs that stay within their
   project's guarantee go before jobs that would borrow (Kueue's order);
2. admission: lanes (`max_running`) and quotas (`max` on the whole path, models narrowed);
3. filter and score: candidate nodes from the index, `fit.py`'s rules, weighted scorers; or,
   for one replica, the profile's placement policy over every node (`placer.py`);
4. reserve: every replica of a gang placed in one statement, committed whole or discarded;
5. preempt: a job that does not fit may evict cheaper work (priority, reclaim of borrowed quota);
6. reservation and backfill: the first job that still does not fit gets space held at its
   earliest start from declared runtimes; later jobs use that space only if they end first;
7. bind: a `Bind` per placed job, and a `Wait` with reasons and position for every other.

The answer has exactly one `Bind` or `Wait` per pending job, in queue order; a `Reserve` follows
the reserved job's `Wait`, and `Preempt`s (one per victim) follow their preemptor's `Wait`.
A cycle never sees the future: only `snapshot.now`, declared runtimes and past usage.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from aicc.scheduler import preempt, reserve
from aicc.scheduler.allocate import PlaceConfig, Spot, place_job
from aicc.scheduler.cluster import Cluster, Statement
from aicc.scheduler.feasible import Feasibility
from aicc.scheduler.memo import Memo, held_of
from aicc.scheduler.placer import PolicyPlacer, snapshot_workload
from aicc.scheduler.plugins.base import Admission, JobScore, ModelChoice, ShareScore
from aicc.scheduler.plugins.fairshare import FairShare, FairState, prepare
from aicc.scheduler.quota import Demand, QuotaTree, job_demand, placed_demand
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    JobView,
    Placement,
    ReplicaRequest,
    Snapshot,
    Wait,
    WaitReason,
)

Attempt = tuple[ReplicaRequest, str | None]  # the request narrowed to a model, and that model
FAIRSHARE = WaitReason("fairshare", "projects with less recent usage went first (fair share)")


@dataclass(frozen=True)
class Profile:
    """A named set of plugins and their weights: configuration, not a fork (see profiles.py)."""

    name: str
    queue_sort: tuple[tuple[JobScore, float], ...] = ()
    share: tuple[tuple[ShareScore, float], ...] = ()
    guaranteed_first: bool = False
    admission: tuple[Admission, ...] = ()
    model_choice: ModelChoice | None = None
    place: PlaceConfig = field(default_factory=PlaceConfig)
    reserve: reserve.ReserveConfig | None = None
    preempt: preempt.PreemptConfig | None = None
    max_jobs: int | None = None  # jobs considered per cycle; the rest wait for the next one


def schedule(
    snapshot: Snapshot, profile: Profile | str = "default", memo: Memo | None = None
) -> list[CycleDecision]:
    """The decisions of one cycle. Pure: reads `snapshot`, changes nothing, reads no clock.
    A caller that runs cycle after cycle may pass the same `memo` each time (memo.py)."""
    if isinstance(profile, str):
        from aicc.scheduler.profiles import get_profile

        profile = get_profile(profile)
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


class Cycle:
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
        self.lane_limit = {q.id: q.max_running for q in snapshot.queues}
        self.lane_count: Counter[str] = Counter()
        self.alloc: dict[str, Demand] = {}
        self.held = (
            held_of(snapshot.running, {}, self.model_of)
            if memo is None
            else memo.held(snapshot, self.model_of)
        )
        held: dict[str, Demand] = {}  # per project, all its running jobs (terminating ones too)
        for job in snapshot.running:
            demand = self.held[job.id].demand
            _add(held.setdefault(job.project_id, {}), demand)
            self.lane_count[job.queue] += 1
            if not job.terminating:
                self._allocate(job.project_id, demand)
        for project, demand in held.items():  # one walk up the tree per project, not per job
            self.tree.add(project, demand)
        self.fair: FairState | None = None
        fair = next((p for p, _ in profile.share if isinstance(p, FairShare)), None)
        if fair is not None:
            weights = {t.id: t.weight for t in snapshot.tenants}
            active = {j.project_id for j in snapshot.pending} | {
                j.project_id for j in snapshot.running
            }
            self.fair = prepare(
                now=self.now,
                nodes=snapshot.nodes,
                usage=snapshot.usage,
                weights=weights,
                active=active,
                half_life_s=fair.half_life_s,
            )
        self.bound: list[tuple[datetime | None, JobView, list[Spot], ReplicaRequest]] = []
        self.claimed: set[str] = set()  # running jobs promised to a preemptor this cycle
        self.preemptors = 0
        self.victims: preempt.Pool | None = None  # built when a job first tries to preempt
        self.reservation: reserve.Reservation | None = None
        self.decisions: list[CycleDecision] = []
        self.position = 0
        self._failed: dict[tuple[object, ...], int] = {}
        self.feasible = Feasibility(snapshot.nodes)
        self._first: dict[tuple[str, ...] | None, str | None] = {}
        self._demands: dict[tuple[int, int, str | None], Demand] = {}
        self._narrow: dict[tuple[int, str], ReplicaRequest] = {}
        self._union: dict[tuple[int, tuple[str, ...]], ReplicaRequest] = {}
        self._mixed: bool | None = None
        self._shapes: dict[ReplicaRequest, int] = {}  # equal requests share one number
        self._shape_of: dict[int, tuple[ReplicaRequest, int]] = {}  # by id(); holds the object
        self._version: Counter[str] = Counter()  # per project: bumped when its usage changes
        self._keys: dict[str, tuple[int, float]] = {}  # project -> (version, share)
        self._tiers: dict[tuple[str, int, int], int] = {}  # (project, version, shape) -> tier
        self._latest_bound: list[tuple[datetime, str]] = []  # top two (submitted, project)
        # plain waits of this cycle by `_same` key, and whether the fair-share reason applies
        self._waits: dict[tuple[object, ...], tuple[tuple[WaitReason, ...], bool]] = {}
        self.ladder = preempt.service_ladder(self)
        self._levels: dict[str, int] = {}

    # --- helpers for plugins ---------------------------------------------------------------

    def model_of(self, node: str, device_index: int) -> str | None:
        i = self.cluster.index_of.get(node)
        return None if i is None else self.cluster.device_model(i, device_index)

    def _allocate(self, project: str, demand: Demand) -> None:
        _add(self.alloc.setdefault(project, {}), demand)

    def shape(self, request: ReplicaRequest) -> int:
        """A small number per distinct request: cheap keys for the cycle's caches."""
        known = self._shape_of.get(id(request))
        if known is None:
            number = self._shapes.setdefault(request, len(self._shapes))
            known = self._shape_of[id(request)] = (request, number)
        return known[1]

    def charge(self, project: str, demand: Demand) -> None:
        """Count `demand` against the project's quota path (a bind, or a preemptor's claim)."""
        self.tree.add(project, demand)
        self._version[project] += 1

    def demand(self, job: JobView, model: str | None) -> Demand:
        """`quota.job_demand`, shared by jobs of the same shape. Callers must not change it."""
        key = (self.shape(job.request), job.replicas, model)
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

    # --- the cycle ----------------------------------------------------------------------------

    def run(self) -> list[CycleDecision]:
        limit = self.profile.max_jobs
        for count, job in enumerate(self._order()):
            if limit is not None and count >= limit:
                why = f"this cycle considered its first {limit} jobs; the rest wait for the next"
                self._wait(job, [WaitReason("queue", why)])
                continue
            self._consider(job)
        return self.decisions

    def offer(self, job: JobView) -> Bind | Wait:
        """Decide one more job in this cycle as if it came next in the queue, and return its
        `Bind` or `Wait` (any `Preempt` or `Reserve` follows it in `decisions`). For the trace
        simulators, which feed arrivals one at a time into one long cycle where nothing ends."""
        start = len(self.decisions)
        self._consider(job)
        decision = self.decisions[start]
        assert isinstance(decision, Bind | Wait)
        return decision

    def _order(self) -> Iterator[JobView]:
        profile = self.profile
        static = {
            job.id: sum(w * p.score(job, self) for p, w in profile.queue_sort)
            for job in self.snapshot.pending
        }

        nominated = self.nominated()

        def job_key(job: JobView) -> tuple[bool, float, datetime, str]:
            return (job.id not in nominated, -static[job.id], job.submitted_at, job.id)

        tiers = profile.guaranteed_first and bool(self.tree.governed)
        if not profile.share and not tiers:
            yield from sorted(self.snapshot.pending, key=job_key)
            return
        queues: dict[str, list[JobView]] = {}
        for job in sorted(self.snapshot.pending, key=job_key):
            queues.setdefault(job.project_id, []).append(job)
        head = dict.fromkeys(queues, 0)

        def project_key(project: str) -> tuple[bool, int, float, datetime, str, str]:
            job = queues[project][head[project]]
            version = self._version[project]  # shares and tiers change only with usage
            tier = 0
            if tiers:
                tier_key = (project, version, self.shape(job.request))
                known = self._tiers.get(tier_key)
                if known is None:
                    demand = self.demand(job, self.first_model(job))
                    known = 0 if self.tree.within_guarantee(project, demand) else 1
                    self._tiers[tier_key] = known
                tier = known
            cached = self._keys.get(project)
            if cached is not None and cached[0] == version:
                share = cached[1]
            else:
                share = 0.0
                for plugin, weight in profile.share:
                    share += weight * plugin.share(project, self)
                self._keys[project] = (version, share)
            first = job.id not in nominated
            return (first, tier, -(static[job.id] + share), job.submitted_at, job.id, project)

        heap = [project_key(p) for p in queues]
        heapq.heapify(heap)
        while heap:
            project = heapq.heappop(heap)[-1]
            job = queues[project][head[project]]
            head[project] += 1
            yield job
            if head[project] < len(queues[project]):
                heapq.heappush(heap, project_key(project))

    def nominated(self) -> set[str]:
        """Waiting jobs whose victims have not started again: they go first, so the capacity
        they freed is theirs (kube-scheduler's nominated pods). Without this, jobs ahead in the
        queue would take it and the preemptor would preempt again every grace period. A
        preemptor that has run since its victim stopped has had that capacity: it is not
        nominated again by that victim (else, preempted in turn, it would go first and take
        back the node its own preemptor freed, which then preempts again, without end)."""
        snapshot = self.snapshot
        pending = {j.id: j for j in snapshot.pending}
        out = {j.preempted_by[-1] for j in snapshot.running if j.terminating and j.preempted_by}
        for victim in snapshot.pending:
            if not victim.preempted_by:
                continue
            preemptor = pending.get(victim.preempted_by[-1])
            if preemptor is None:
                continue
            ran_since = (
                preemptor.queued_at is not None
                and victim.queued_at is not None
                and preemptor.queued_at > victim.queued_at
            )
            if not ran_since:
                out.add(preemptor.id)
        return out & pending.keys()

    def _consider(self, job: JobView) -> None:
        same = self._same(job)
        known = self._waits.get(same) if same is not None else None
        if known is not None:  # a job just like one that waited: it waits for the same reasons
            reasons, fair = known
            if fair and self._behind_fair_share(job):
                reasons = (*reasons, FAIRSHARE)
            self._wait(job, list(reasons))
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
            self._version[project],
            self.shape(job.request),
            job.replicas,
            job.priority,
            job.queue,
            job.price_rates,
        )
        if self.ladder is not None:
            key += (self.level(job),)
        if self.reservation is not None:
            key += (id(self.reservation), self.is_short(job))
        return key

    def _decide(self, job: JobView, same: tuple[object, ...] | None) -> None:
        profile = self.profile
        r = job.request
        accel = r.accel_count > 0 or r.mig_profile is not None
        models = self.cluster.model_keys(r.models) if accel else []
        if accel and not models:
            why = "no node has an accelerator of a model this job accepts"
            self._wait(job, [WaitReason("unschedulable", why)])
            return
        if profile.model_choice is not None and len(models) > 1:
            models = profile.model_choice.order(job, models, self)
        for plugin in profile.admission:
            verdict = plugin.admit(job, models, self)
            if verdict.reason is not None:
                if not self._reclaim_guarantee(job, models, accel, verdict.reason):
                    self._remember(same, (verdict.reason,), fair=False)
                    self._wait(job, [verdict.reason])
                return
            if verdict.models is not None:
                models = [m for m in models if m in verdict.models]
        attempts = self._attempts(job, models, accel)
        key = (job.replicas, *(self.shape(req) for req, _ in attempts))
        placed = self._place(job, attempts, key)
        if placed is not None:
            self._bind(job, placed)
            return
        reason = self._why(job, attempts, key)
        if reason.code not in ("resources", "gang"):
            self._remember(same, (reason,), fair=False)
            self._wait(job, [reason])
            return
        reasons = [reason]
        if self._behind_fair_share(job):
            reasons.append(FAIRSHARE)
        if profile.preempt is not None:
            outcome = preempt.try_preempt(self, job, attempts)
            if outcome is not None:
                waiting, decisions = outcome
                start = self.now + timedelta(seconds=profile.preempt.grace_s)
                self._wait(job, [waiting, *reasons], start)
                self.decisions.extend(decisions)
                return
        if profile.reserve is not None and self.reservation is None:
            made = reserve.make(self, job, attempts, profile.reserve)
            if made is not None:
                self.reservation = made
                self._wait(job, reasons, made.at)
                self.decisions.append(made.decision(self.cluster))
                return
        self._remember(same, (reason,), fair=True)
        self._wait(job, reasons)

    def _remember(
        self, same: tuple[object, ...] | None, reasons: tuple[WaitReason, ...], *, fair: bool
    ) -> None:
        if same is not None:
            self._waits[same] = (reasons, fair)

    def _reclaim_guarantee(
        self, job: JobView, models: list[str], accel: bool, reason: WaitReason
    ) -> bool:
        """A job within its project's guarantee, held back by an ancestor's max because other
        projects borrowed the room, takes its guarantee back by preemption instead of waiting
        behind the borrowers. True when it did (it then waits for its victims to stop)."""
        config = self.profile.preempt
        if reason.code != "quota" or config is None or "reclaim" not in config.rules:
            return False
        attempts = self._attempts(job, models, accel)
        if not any(
            self.tree.within_guarantee(job.project_id, self.demand(job, m)) for _, m in attempts
        ):
            return False
        outcome = preempt.try_preempt(self, job, attempts)
        if outcome is None:
            return False
        waiting, decisions = outcome
        self._wait(job, [waiting, reason], self.now + timedelta(seconds=config.grace_s))
        self.decisions.extend(decisions)
        return True

    def _attempts(self, job: JobView, models: list[str], accel: bool) -> list[Attempt]:
        r = job.request
        if not accel:
            return [(r, None)]
        if self.profile.model_choice is None and self.profile.place.order == "first":
            if len(models) == len(self.cluster.model_keys(r.models)):
                return [(r, None)]  # as asked: fit.py's first fit, models mixed on a node
            return [(replace(r, models=tuple(models)), None)]
        out: list[Attempt] = []
        for m in models:
            shape = self.shape(r)
            narrowed = self._narrow.get((shape, m))
            if narrowed is None:
                narrowed = self._narrow[(shape, m)] = replace(r, models=(m,))
            out.append((narrowed, m))
        return out

    def _place(
        self, job: JobView, attempts: list[Attempt], key: tuple[object, ...]
    ) -> tuple[list[Spot], ReplicaRequest] | None:
        if self.reservation is not None and self.is_short(job):
            got = reserve.backfill(self, job, attempts, key)
            if got is not None:
                return got
        if key in self._failed:
            return None
        fitted = 0
        for req, model in self._by_policy(job, attempts):
            statement = Statement(self.cluster)
            spots, count = place_job(
                self.cluster, statement, req, model, job.replicas, self.profile.place
            )
            if spots is not None:
                statement.commit()
                return spots, req
            fitted = max(fitted, count)
        self._failed[key] = fitted  # capacity only shrinks in a cycle: it fails again
        return None

    def _by_policy(self, job: JobView, attempts: list[Attempt]) -> list[Attempt]:
        """The attempts as placed: one replica that the profile's placement policy covers is one
        attempt over every model it may use (their union, `model` None), since which model is
        part of what the policy weighs; model choice then orders only what the policy does not
        place. Preemption and reservation keep the per-model attempts (and their demands)."""
        placer = self.cluster.placer
        if len(attempts) <= 1 or job.replicas != 1 or placer is None:
            return attempts
        request = job.request
        if not placer.covers(request):
            return attempts
        if request.accel_count > 1 and self._mixed_nodes():
            return attempts  # a replica never mixes models on a node: one model at a time
        models = tuple(m for _, m in attempts if m is not None)
        key = (self.shape(request), models)
        union = self._union.get(key)
        if union is None:
            union = self._union[key] = replace(request, models=models)
        return [(union, None)]

    def _mixed_nodes(self) -> bool:
        """Does some node hold devices of more than one model?"""
        if self._mixed is None:
            cluster = self.cluster
            self._mixed = any(
                n.devices and not one
                for n, one in zip(cluster.nodes, cluster.single_model, strict=True)
            )
        return self._mixed

    def _why(self, job: JobView, attempts: list[Attempt], key: tuple[object, ...]) -> WaitReason:
        if not self.feasible.ever_fits(job.replicas, [req for req, _ in attempts], key):
            return WaitReason(
                "unschedulable", "no node could hold it even empty (or the gang is too large)"
            )
        res = self.reservation
        if (
            res is not None
            and not self.is_short(job)
            and reserve.fits_reserved(self, job, attempts, key)
        ):
            if res.at is None:
                why = (
                    f"space is held for {res.job.id} until jobs without a declared runtime "
                    "end; nothing may backfill into it"
                )
            else:
                runtime = (
                    "declares no max_runtime"
                    if job.max_runtime_s is None
                    else "would still run then"
                )
                why = (
                    f"space is held for {res.job.id} from {res.at.isoformat()}; this job {runtime}"
                )
            return WaitReason("reservation", why)
        fitted = self._failed.get(key, 0)
        if job.replicas > 1 and fitted > 0:
            return WaitReason(
                "gang", f"{fitted} of {job.replicas} replicas fit now; a gang starts whole"
            )
        return WaitReason(
            "resources", "no node has the free CPU, memory and accelerators this job asks for"
        )

    def _bind(self, job: JobView, placed: tuple[list[Spot], ReplicaRequest]) -> None:
        spots, _ = placed
        names = self.cluster.nodes
        placements = tuple(Placement(k, names[i].name, picks) for k, (i, picks) in enumerate(spots))
        demand = placed_demand(job.request, placements, self.model_of)
        borrowed = self.tree.borrows(job.project_id, demand)
        self.charge(job.project_id, demand)
        self.lane_count[job.queue] += 1
        self._allocate(job.project_id, demand)
        end = None
        if job.max_runtime_s is not None:
            end = self.now + timedelta(seconds=job.max_runtime_s)
        self.bound.append((end, job, spots, job.request))
        self.decisions.append(Bind(job.id, placements, borrowed))
        if self.profile.share:
            self._note_bound(job)

    def _note_bound(self, job: JobView) -> None:
        top = self._latest_bound
        entry = (job.submitted_at, job.project_id)
        same = [t for t in top if t[1] == job.project_id]
        if same:
            if same[0][0] >= entry[0]:
                return
            top.remove(same[0])
        top.append(entry)
        top.sort(reverse=True)
        del top[2:]

    def _behind_fair_share(self, job: JobView) -> bool:
        """Did a later job of another project go first in this cycle?"""
        if not self.profile.share:
            return False
        return any(p != job.project_id and t > job.submitted_at for t, p in self._latest_bound)

    def _wait(
        self, job: JobView, reasons: list[WaitReason], estimated_start: datetime | None = None
    ) -> None:
        self.position += 1
        self.decisions.append(Wait(job.id, tuple(reasons), self.position, estimated_start))


def _add(total: Demand, demand: Demand) -> None:
    for k, v in demand.items():
        total[k] = total.get(k, 0.0) + v
