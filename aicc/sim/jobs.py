"""A discrete-event job simulator: a trace's arrivals replayed through the live scheduler.

Each cycle builds the same `Snapshot` the server builds from its store and calls the same
`schedule()`; binds start jobs, preemptions stop them after the grace period. Policies never
see the truth: a job's declared runtime (its `max_runtime_s`) is its true duration times a
seeded lognormal factor (sigma 1 by default), and it runs its true duration whatever it declared
(the live server would enforce the declaration; a trace cannot be re-run to the kill).

The cluster: `gpus` devices, 8 to a node, with CPU and memory that never bind first. A job of
more GPUs than a node holds is a gang of whole-node replicas. Each tenant (Philly's virtual
clusters) is a project guaranteed a share of the GPUs equal to its share of the trace's
GPU-time, and may borrow up to the whole cluster. A preempted job keeps its progress except a
restart overhead (60 s of work by default), and is requeued. A long replay can be saved
between cycles and resumed (`aicc sim jobs --checkpoint`).

Runtime predictions (scheduler/predict.py) learn from the jobs the replay has seen finish, never
from a job's own future: each job's view carries the prediction made when it joined the queue
(at submission, and again at each requeue), which the `predicted` ladder reads.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from aicc.core.tenancy import Quota
from aicc.scheduler import predict
from aicc.scheduler.framework import schedule
from aicc.scheduler.memo import Memo
from aicc.scheduler.plugins import fairshare
from aicc.scheduler.profile import Profile
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import (
    Bind,
    DeviceView,
    JobView,
    NodeView,
    Placement,
    Preempt,
    ReplicaRequest,
    Snapshot,
    TenantView,
    Usage,
)

MODEL = "V100-32GB"  # Philly ran P100 and P40 cards; the model only names the quota resource
CPU_PER_GPU = 4_000  # milli; nodes have twice what their GPUs' jobs ask, so GPUs bind first
MEMORY_PER_GPU = 32_768  # MiB
HALF_LIFE_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class TraceJob:
    """One job of a trace: when it arrived, how long it really runs, its GPUs, its tenant."""

    id: str
    submitted: datetime
    duration_s: float
    gpus: int
    tenant: str


@dataclass(frozen=True)
class SimConfig:
    gpus: int
    policy: str = "default"
    seed: int = 42
    sigma: float = 1.0  # of the lognormal error of declared runtimes
    restart_overhead_s: float = 60.0
    gpus_per_node: int = 8
    profile: Profile | None = None  # overrides `policy` (tuning runs)


@dataclass
class _Job:
    trace: TraceJob
    declared_s: int
    replicas: int
    request: ReplicaRequest
    remaining_s: float
    view: JobView
    attained_s: float = 0.0  # GPU-seconds received so far (all attempts)
    started_s: float | None = None  # this attempt's start
    first_start_s: float | None = None
    placements: tuple[Placement, ...] = ()
    stop_s: float | None = None  # in its grace period until then
    epoch: int = 0  # bumped at each start, so a stale finish event is ignored
    preempted_by: tuple[str, ...] = ()
    placed: JobView | None = None  # the view of this attempt while it runs
    demand: dict[str, float] = field(default_factory=dict)  # what it holds, for fair share


@dataclass
class _Node:
    name: str
    free: list[int] = field(default_factory=list)  # free device indices
    cpu_milli: int = 0
    memory_mib: int = 0
    view: NodeView | None = None  # rebuilt after a change

    def snapshot(self, per_node: int) -> NodeView:
        if self.view is None:
            self.view = NodeView(
                name=self.name,
                free_cpu_milli=self.cpu_milli,
                free_memory_mib=self.memory_mib,
                devices=[
                    DeviceView(i, MODEL, 32_768, free_milli=1000 if i in self.free else 0)
                    for i in range(per_node)
                ],
                total_cpu_milli=2 * CPU_PER_GPU * per_node,
                total_memory_mib=2 * MEMORY_PER_GPU * per_node,
            )
        return self.view


@dataclass
class Outcome:
    """What the run measured (see `summary`)."""

    jct_s: list[float] = field(default_factory=list)
    wait_s: list[float] = field(default_factory=list)
    slowdown_by_tenant: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    busy_gpu_s: float = 0.0
    preemptions: int = 0
    cycles: int = 0
    dropped: int = 0
    first_submit_s: float = 0.0
    last_end_s: float = 0.0


def shape(gpus: int, per_node: int) -> tuple[int, int]:
    """(replicas, GPUs per replica): one replica up to a node, else whole-node-sized replicas."""
    replicas = max(1, math.ceil(gpus / per_node))
    return replicas, math.ceil(gpus / replicas)


def tenants_for(jobs: Sequence[TraceJob], gpus: int) -> tuple[TenantView, ...]:
    """Center, one organization, and a project per tenant guaranteed its share of GPU-time."""
    work: dict[str, float] = defaultdict(float)
    for job in jobs:
        work[job.tenant] += job.duration_s * job.gpus
    total = sum(work.values()) or 1.0
    capacity = gpus * 1000.0
    out = [TenantView("center", None), TenantView("org", "center")]  # capacity is the limit
    for tenant in sorted(work):
        guaranteed = math.floor(capacity * work[tenant] / total)
        quota = Quota(guaranteed={MODEL: guaranteed}, max={MODEL: capacity})
        out.append(TenantView(tenant, "org", quota))
    return tuple(out)


class Simulation:
    def __init__(self, jobs: Sequence[TraceJob], config: SimConfig) -> None:
        self.config = config
        self.profile = config.profile or get_profile(config.policy)
        self.base = min((j.submitted for j in jobs), default=datetime(2000, 1, 1))
        per_node = config.gpus_per_node
        count = math.ceil(config.gpus / per_node)
        self.nodes = [
            _Node(
                f"n{i:04d}",
                list(range(min(per_node, config.gpus - i * per_node))),
                2 * CPU_PER_GPU * per_node,
                2 * MEMORY_PER_GPU * per_node,
            )
            for i in range(count)
        ]
        self.by_name = {n.name: n for n in self.nodes}
        self.tenants = tenants_for(jobs, config.gpus)
        self.usage: dict[str, Usage] = {}
        self.usage_at = self.base
        rng = np.random.default_rng(config.seed)
        factors = rng.lognormal(0.0, config.sigma, size=len(jobs))
        self.outcome = Outcome()
        self.pending: dict[str, _Job] = {}
        self.running: dict[str, _Job] = {}
        self.events: list[tuple[float, int, str, int]] = []  # (time, order, job id, epoch)
        self.jobs: dict[str, _Job] = {}
        self.held: dict[str, dict[str, float]] = {}  # per project, what its running jobs hold
        self.free_gpus = config.gpus
        self.freed = True  # capacity came back (or grace periods began) since the last cycle
        self.can_preempt = self.profile.preempt is not None
        self.memo = Memo()  # running jobs keep their views between cycles
        self.predictor = predict.RuntimePredictor()  # fed the jobs seen to finish
        self._order = 0
        requests: dict[int, ReplicaRequest] = {}  # one object per shape (cheap cycle caches)
        for job, factor in zip(jobs, factors, strict=True):
            if job.gpus > config.gpus:
                self.outcome.dropped += 1
                continue
            replicas, per = shape(job.gpus, per_node)
            request = requests.get(per)
            if request is None:
                request = requests[per] = ReplicaRequest(
                    CPU_PER_GPU * per, MEMORY_PER_GPU * per, accel_count=per
                )
            declared = max(60, round(job.duration_s * float(factor)))
            view = JobView(
                id=job.id,
                replicas=replicas,
                request=request,
                priority=100,
                submitted_at=job.submitted,
                project_id=job.tenant,
                max_runtime_s=declared,
            )
            self.jobs[job.id] = _Job(job, declared, replicas, request, job.duration_s, view)
            self._push(self._t(job.submitted), job.id, -1)
        self.outcome.first_submit_s = min((self._t(j.submitted) for j in jobs), default=0.0)

    # --- time ---------------------------------------------------------------------------------

    def _t(self, when: datetime) -> float:
        return (when - self.base).total_seconds()

    def _at(self, t: float) -> datetime:
        return self.base + timedelta(seconds=t)

    def _push(self, t: float, job_id: str, epoch: int) -> None:
        self._order += 1
        heapq.heappush(self.events, (t, self._order, job_id, epoch))

    # --- the loop -----------------------------------------------------------------------------

    def run(
        self,
        on_progress: Callable[[int], None] | None = None,
        between: Callable[[Simulation], None] | None = None,
    ) -> Outcome:
        """Replay every event (from where a resumed simulation stopped). `between` is called
        after each cycle, where the simulation may be saved and resumed later (`aicc sim jobs
        --checkpoint`): a pickled `Simulation` carries its whole state."""
        done = len(self.outcome.jct_s)
        while self.events:
            now = self.events[0][0]
            while self.events and self.events[0][0] <= now:
                _, _, job_id, epoch = heapq.heappop(self.events)
                job = self.jobs[job_id]
                if epoch == -1:
                    self._queue(job)
                elif epoch == -2:
                    self._stopped(job, now)
                elif epoch == job.epoch and job.stop_s is None and job_id in self.running:
                    self._finish(job, now)
                    done += 1
                    if on_progress is not None:
                        on_progress(done)
            # Without preemption, arrivals alone change nothing while no device is free.
            if self.pending and (self.freed or self.free_gpus > 0 or self.can_preempt):
                self._cycle(now)
            if between is not None:
                between(self)
        return self.outcome

    def _cycle(self, now_s: float) -> None:
        now = self._at(now_s)
        self.freed = False
        # what runs now stands for what ran since the last cycle: close enough for a decay of days
        self.usage = fairshare.accrue(
            self.usage, now=now, allocations=self.held, half_life_s=HALF_LIFE_S
        )
        per_node = self.config.gpus_per_node
        snapshot = Snapshot(
            now=now,
            nodes=[n.snapshot(per_node) for n in self.nodes],
            pending=[j.view for j in self.pending.values()],
            running=[j.placed for j in self.running.values() if j.placed is not None],
            tenants=self.tenants,
            usage=self.usage,
        )
        self.outcome.cycles += 1
        for decision in schedule(snapshot, self.profile, self.memo):
            if isinstance(decision, Bind):
                self._start(self.pending.pop(decision.job_id), decision.placements, now_s)
            elif isinstance(decision, Preempt):
                self._preempt(self.running[decision.job_id], decision, now_s)

    # --- job lifecycle --------------------------------------------------------------------------

    def _queue(self, job: _Job) -> None:
        """The job joins the queue with its runtime predicted from the jobs finished so far."""
        trace = job.trace
        predicted = self.predictor.predict(predict.key(trace.tenant, trace.gpus), job.declared_s)
        job.view = replace(job.view, predicted_runtime_s=predicted)
        self.pending[trace.id] = job

    def _start(self, job: _Job, placements: tuple[Placement, ...], now_s: float) -> None:
        for p in placements:
            node = self.by_name[p.node]
            for d in p.devices:
                node.free.remove(d.index)
            node.cpu_milli -= job.request.cpu_milli
            node.memory_mib -= job.request.memory_mib
            node.view = None
        self.free_gpus -= job.trace.gpus
        job.placements = placements
        job.started_s = now_s
        job.epoch += 1
        if job.first_start_s is None:
            job.first_start_s = now_s
        job.placed = replace(job.view, started_at=self._at(now_s), placements=placements)
        job.demand = {
            MODEL: 1000.0 * job.trace.gpus,
            "cpu_milli": float(job.request.cpu_milli * job.replicas),
            "memory_mib": float(job.request.memory_mib * job.replicas),
        }
        self._hold(job, +1)
        self.running[job.trace.id] = job
        self._push(now_s + job.remaining_s, job.trace.id, job.epoch)

    def _release(self, job: _Job, now_s: float) -> None:
        for p in job.placements:
            node = self.by_name[p.node]
            node.free.extend(d.index for d in p.devices)
            node.cpu_milli += job.request.cpu_milli
            node.memory_mib += job.request.memory_mib
            node.view = None
        self.free_gpus += job.trace.gpus
        self.freed = True
        self.outcome.busy_gpu_s += (now_s - (job.started_s or now_s)) * job.trace.gpus
        if job.stop_s is None:
            self._hold(job, -1)
        job.placements = ()
        job.placed = None
        del self.running[job.trace.id]

    def _hold(self, job: _Job, sign: int) -> None:
        held = self.held.setdefault(job.trace.tenant, {})
        for key, value in job.demand.items():
            held[key] = held.get(key, 0.0) + sign * value

    def _finish(self, job: _Job, now_s: float) -> None:
        self._release(job, now_s)
        trace = job.trace
        jct = now_s - self._t(trace.submitted)
        out = self.outcome
        out.jct_s.append(jct)
        out.wait_s.append(max(0.0, jct - trace.duration_s))
        out.slowdown_by_tenant[trace.tenant].append(jct / trace.duration_s)
        out.last_end_s = max(out.last_end_s, now_s)
        self.predictor.observe(
            predict.key(trace.tenant, trace.gpus), trace.duration_s, job.declared_s
        )

    def _preempt(self, job: _Job, decision: Preempt, now_s: float) -> None:
        """Progress stops now; the devices are held through the grace period, then freed."""
        ran = now_s - (job.started_s or now_s)
        job.attained_s += ran * job.trace.gpus
        job.remaining_s = min(
            job.trace.duration_s, job.remaining_s - ran + self.config.restart_overhead_s
        )
        job.stop_s = now_s + decision.grace_s
        job.preempted_by = (*job.preempted_by, decision.preemptor)
        if job.placed is not None:
            job.placed = replace(job.placed, terminating=True, preempted_by=job.preempted_by)
        self._hold(job, -1)  # a job in its grace period counts as stopping, not as usage
        self.freed = True
        self.outcome.preemptions += 1
        self._push(job.stop_s, job.trace.id, -2)

    def _stopped(self, job: _Job, now_s: float) -> None:
        # busy time counts the grace period: the devices were held
        self._release(job, now_s)
        job.stop_s = None
        job.started_s = None
        job.view = replace(
            job.view,
            preempted_by=job.preempted_by,
            attained_s=job.attained_s,
            queued_at=self._at(now_s),
        )
        self._queue(job)


def summary(outcome: Outcome, gpus: int, jobs: int) -> dict[str, float | int]:
    """The figures `aicc sim jobs` prints (issue 3, item 8)."""
    jct = np.array(outcome.jct_s or [0.0])
    makespan = max(0.0, outcome.last_end_s - outcome.first_submit_s)
    means = [float(np.mean(v)) for v in outcome.slowdown_by_tenant.values() if v]
    jain = sum(means) ** 2 / (len(means) * sum(m * m for m in means)) if means else 1.0
    return {
        "jobs": jobs,
        "finished": len(outcome.jct_s),
        "gpus": gpus,
        "avg_jct_s": round(float(jct.mean()), 1),
        "p50_jct_s": round(float(np.percentile(jct, 50)), 1),
        "p99_jct_s": round(float(np.percentile(jct, 99)), 1),
        "avg_wait_s": round(float(np.mean(outcome.wait_s or [0.0])), 1),
        "makespan_s": round(makespan, 1),
        "gpu_util_pct": round(100.0 * outcome.busy_gpu_s / (gpus * makespan), 2)
        if makespan
        else 0.0,
        "jain_fairness": round(jain, 4),
        "preemptions": outcome.preemptions,
        "dropped_jobs": outcome.dropped,
        "cycles": outcome.cycles,
    }


def by_vc(outcome: Outcome) -> list[dict[str, float | int | str]]:
    """Each virtual cluster's finished jobs and slowdown (JCT / duration), worst mean first: what
    Jain's index is taken over, and how much of the VC's slowdown its worst job makes (a few
    short jobs that waited long swing the index)."""
    rows: list[dict[str, float | int | str]] = []
    for vc, slowdowns in outcome.slowdown_by_tenant.items():
        if slowdowns:
            total, worst = float(np.sum(slowdowns)), float(np.max(slowdowns))
            rows.append(
                {
                    "vc": vc,
                    "finished": len(slowdowns),
                    "mean_slowdown": round(total / len(slowdowns), 3),
                    "max_slowdown": round(worst, 3),
                    "worst_job_share_pct": round(100.0 * worst / total, 1),
                }
            )
    return sorted(rows, key=lambda r: (-float(r["mean_slowdown"]), str(r["vc"])))


def offered_load(jobs: Sequence[TraceJob], gpus: int) -> float:
    """Percent of `gpus` the trace's GPU-time fills between its first and last submission."""
    if len(jobs) < 2:
        return 0.0
    span = (jobs[-1].submitted - jobs[0].submitted).total_seconds()
    work = sum(j.duration_s * j.gpus for j in jobs)
    return 100.0 * work / (gpus * span) if span > 0 else 0.0


def simulate(jobs: Sequence[TraceJob], config: SimConfig) -> dict[str, float | int]:
    sim = Simulation(jobs, config)
    return summary(sim.run(), config.gpus, len(jobs))
