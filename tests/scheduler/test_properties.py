"""Properties over random centers, running work, quotas and queues, for every built-in profile:
no decision over-commits a device, a node or a quota ceiling; a gang is bound whole or not at
all; jobs bound in a cycle never delay the reserved job's start; preemptions are well formed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sched_fixtures import A100, GIB, H100, T0

from aicc.core.tenancy import Quota
from aicc.scheduler.framework import Cycle, schedule
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.quota import EPSILON, placed_demand
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    DevicePick,
    DeviceView,
    JobView,
    MigSlice,
    NodeView,
    Placement,
    Preempt,
    ReplicaRequest,
    Reserve,
    Snapshot,
    TenantView,
    Wait,
)

PROFILES = ("default", "fifo", "easy", "spread")
PROJECTS = ("p0", "p1", "p2")
MIG_LAYOUT = ("3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb")
GRACE = timedelta(seconds=30)


@st.composite
def nodes_st(draw: st.DrawFn) -> list[NodeView]:
    out = []
    for i in range(draw(st.integers(1, 5))):
        model = draw(st.sampled_from([H100, A100]))
        devices = []
        for d in range(draw(st.integers(0, 8))):
            mig = draw(st.booleans()) and draw(st.booleans())
            slices = tuple(MigSlice(k, p) for k, p in enumerate(MIG_LAYOUT)) if mig else ()
            devices.append(DeviceView(d, model, 80 * GIB, mig=slices))
        cpu = draw(st.sampled_from([16_000, 64_000]))
        memory = draw(st.sampled_from([64 * GIB, 512 * GIB]))
        nodes_labels = {"pool": f"pool{i % 2}", "rack": f"rack{i % 3}"}
        out.append(
            NodeView(
                f"n{i}",
                cpu,
                memory,
                devices,
                nodes_labels,
                draw(st.booleans() | st.just(True)),
                cpu,
                memory,
            )
        )
    return out


@st.composite
def request_st(draw: st.DrawFn) -> ReplicaRequest:
    cpu = draw(st.integers(1, 8)) * 1000
    memory = draw(st.integers(1, 32)) * GIB
    models = draw(st.none() | st.sampled_from([(H100,), (A100,), (H100, A100)]))
    kind = draw(st.sampled_from(["cpu", "whole", "whole", "share", "mig"]))
    if kind == "whole":
        return ReplicaRequest(cpu, memory, draw(st.integers(1, 8)), models=models)
    if kind == "share":
        milli = draw(st.sampled_from([100, 250, 500, 750]))
        accel_memory = draw(st.none() | st.sampled_from([10 * GIB, 40 * GIB]))
        return ReplicaRequest(cpu, memory, 1, milli, accel_memory, models)
    if kind == "mig":
        return ReplicaRequest(
            cpu, memory, 1, models=models, mig_profile=draw(st.sampled_from(MIG_LAYOUT))
        )
    return ReplicaRequest(cpu, memory)


def job_st(prefix: str, index: int) -> st.SearchStrategy[JobView]:
    return st.builds(
        JobView,
        id=st.just(f"{prefix}{index}"),
        replicas=st.integers(1, 3),
        request=request_st(),
        priority=st.sampled_from([0, 100, 1000]),
        submitted_at=st.integers(-7200, 0).map(lambda s: T0 + timedelta(seconds=s)),
        project_id=st.sampled_from(PROJECTS),
        queue=st.sampled_from(["", "q"]),
        max_runtime_s=st.none() | st.integers(60, 4 * 3600),
    )


def occupy(nodes: list[NodeView], job: JobView, rng: st.DataObject) -> tuple[Placement, ...] | None:
    """Place a running job by hand (lowest free devices), reducing the nodes' free capacity."""
    r = job.request
    placements = []
    for replica in range(job.replicas):
        for n in nodes:
            if n.free_cpu_milli < r.cpu_milli or n.free_memory_mib < r.memory_mib:
                continue
            ok = [d for d in n.devices if r.models is None or d.model in r.models]
            picks: list[DevicePick] = []
            if r.mig_profile is not None:
                for d in ok:
                    free = [s for s in d.mig if not s.used and s.profile == r.mig_profile]
                    if free:
                        s = free[0]
                        d.mig = tuple(
                            MigSlice(x.index, x.profile, x.used or x.index == s.index)
                            for x in d.mig
                        )
                        picks = [DevicePick(d.index, 428, 40 * GIB, s.index)]
                        break
                if not picks:
                    continue
            elif r.accel_milli is not None:
                fit = [
                    d
                    for d in ok
                    if not d.mig
                    and d.free_milli >= r.accel_milli
                    and (d.free_memory_mib or 0) >= (r.accel_memory_mib or 0)
                ]
                if not fit:
                    continue
                d = fit[0]
                d.free_milli -= r.accel_milli
                if r.accel_memory_mib is not None and d.free_memory_mib is not None:
                    d.free_memory_mib -= r.accel_memory_mib
                picks = [DevicePick(d.index, r.accel_milli, r.accel_memory_mib)]
            elif r.accel_count:
                whole = [d for d in ok if not d.mig and d.free_milli == 1000][: r.accel_count]
                if len(whole) < r.accel_count:
                    continue
                for d in whole:
                    d.free_milli = 0
                picks = [DevicePick(d.index, 1000) for d in whole]
            n.free_cpu_milli -= r.cpu_milli
            n.free_memory_mib -= r.memory_mib
            placements.append(Placement(replica, n.name, tuple(picks)))
            break
        else:
            return None  # (the capacity it took stays taken: a job of another attempt, say)
    return tuple(placements)


@st.composite
def snapshot_st(draw: st.DrawFn) -> Snapshot:
    nodes = draw(nodes_st())
    data = draw(st.data())
    running = []
    for i in range(draw(st.integers(0, 6))):
        j = draw(job_st("r", i))
        placements = occupy(nodes, j, data)
        if placements is None:
            continue
        started = T0 - timedelta(seconds=draw(st.integers(0, 3 * 3600)))
        running.append(
            JobView(
                j.id,
                j.replicas,
                j.request,
                j.priority,
                j.submitted_at,
                j.project_id,
                j.queue,
                j.max_runtime_s,
                started,
                placements,
                draw(st.booleans()),
                None,
                draw(st.booleans()) and draw(st.booleans()),
            )
        )
    pending = [draw(job_st("j", i)) for i in range(draw(st.integers(1, 8)))]
    tenants = [TenantView("center", None, Quota(max=draw(st.sampled_from([{}, {"pflops": 6.0}]))))]
    tenants.append(
        TenantView("org", "center", Quota(max=draw(st.sampled_from([{}, {H100: 12_000.0}]))))
    )
    for p in PROJECTS:
        g = draw(st.sampled_from([{}, {H100: 4000.0}, {"pflops": 1.0}, {A100: 2000.0}]))
        m = draw(st.sampled_from([{}, {H100: 8000.0}, {"pflops": 3.0}, {"cpu_milli": 20_000.0}]))
        tenants.append(TenantView(p, "org", Quota(guaranteed=g, max=m)))
    from aicc.scheduler.snapshot import QueueView

    queues = (QueueView("q", draw(st.sampled_from([None, 1, 2]))),)
    return Snapshot(T0, nodes, pending, running, tuple(tenants), queues)


def _end(job: JobView) -> datetime | None:
    if job.terminating:
        return T0 + GRACE
    if job.max_runtime_s is None:
        return None
    return max(T0, (job.started_at or T0) + timedelta(seconds=job.max_runtime_s))


@given(snapshot_st())
def test_no_overcommit_whole_gangs_and_quota_ceilings(snap: Snapshot) -> None:
    for name in PROFILES:
        decisions = schedule(snap, name)
        check_capacity(snap, decisions)
        check_quota(snap, decisions)
        check_reservation(snap, decisions)
        check_preemptions(snap, decisions)


def binds(snap: Snapshot, decisions: list[CycleDecision]) -> list[tuple[JobView, Bind]]:
    jobs = {j.id: j for j in snap.pending}
    out = []
    for d in decisions:
        if isinstance(d, Bind):
            j = jobs[d.job_id]
            assert [p.replica for p in d.placements] == list(range(j.replicas))  # whole gangs
            out.append((j, d))
    return out


def check_capacity(snap: Snapshot, decisions: list[CycleDecision]) -> None:
    by_node = {n.name: n for n in snap.nodes}
    cpu: dict[str, int] = defaultdict(int)
    memory: dict[str, int] = defaultdict(int)
    milli: dict[tuple[str, int], int] = defaultdict(int)
    dev_memory: dict[tuple[str, int], int] = defaultdict(int)
    slices: set[tuple[str, int, int]] = set()
    whole: dict[tuple[str, int], int] = defaultdict(int)
    for j, b in binds(snap, decisions):
        r = j.request
        for p in b.placements:
            n = by_node[p.node]
            assert n.schedulable
            cpu[p.node] += r.cpu_milli
            memory[p.node] += r.memory_mib
            devices = {d.index: d for d in n.devices}
            for pick in p.devices:
                d = devices[pick.index]
                assert r.models is None or d.model in r.models
                key = (p.node, pick.index)
                if pick.mig_slice is not None:
                    s = next(s for s in d.mig if s.index == pick.mig_slice)
                    assert not s.used and s.profile == r.mig_profile
                    assert (p.node, pick.index, pick.mig_slice) not in slices
                    slices.add((p.node, pick.index, pick.mig_slice))
                    continue
                assert not d.mig
                milli[key] += pick.milli
                dev_memory[key] += pick.memory_mib or 0
                whole[key] += pick.milli == 1000
    for name, used in cpu.items():
        assert used <= by_node[name].free_cpu_milli
    for name, used in memory.items():
        assert used <= by_node[name].free_memory_mib
    for (name, index), used in milli.items():
        d = next(d for d in by_node[name].devices if d.index == index)
        assert used <= d.free_milli
        assert dev_memory[(name, index)] <= (d.free_memory_mib or 0)
        if whole[(name, index)]:
            assert d.free_milli == 1000 and used == 1000


def model_of(snap: Snapshot) -> dict[tuple[str, int], str]:
    return {(n.name, d.index): d.model for n in snap.nodes for d in n.devices}


def check_quota(snap: Snapshot, decisions: list[CycleDecision]) -> None:
    models = model_of(snap)
    tenants = {t.id: t for t in snap.tenants}
    used: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    added: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def path(project: str) -> list[str]:
        out, at = [], tenants.get(project)
        while at is not None:
            out.append(at.id)
            at = tenants.get(at.parent) if at.parent else None
        return out

    def lookup(node: str, index: int) -> str | None:
        return models.get((node, index))

    for j in snap.running:
        for k, v in placed_demand(j.request, j.placements, lookup).items():
            for t in path(j.project_id):
                used[t][k] += v
    for j, b in binds(snap, decisions):
        for k, v in placed_demand(j.request, b.placements, lookup).items():
            for t in path(j.project_id):
                used[t][k] += v
                added[t][k] += v
    for t, tenant in tenants.items():
        for k, ceiling in tenant.quota.max.items():
            if added[t][k] > 0:
                assert used[t][k] <= ceiling + EPSILON, (t, k)


def check_reservation(snap: Snapshot, decisions: list[CycleDecision]) -> None:
    """At the reserved start, the reserved placement fits in what is left of the nodes by the
    jobs still running then (those running now and those bound in this cycle)."""
    reserve = next((d for d in decisions if isinstance(d, Reserve)), None)
    if reserve is None or reserve.at is None:
        return
    victims = {d.job_id for d in decisions if isinstance(d, Preempt)}
    at = reserve.at
    free_cpu = {n.name: n.free_cpu_milli for n in snap.nodes}
    free_mem = {n.name: n.free_memory_mib for n in snap.nodes}
    free_milli = {(n.name, d.index): d.free_milli for n in snap.nodes for d in n.devices}
    free_slice = {
        (n.name, d.index, s.index)
        for n in snap.nodes
        for d in n.devices
        for s in d.mig
        if not s.used
    }

    def apply(request: ReplicaRequest, placements: tuple[Placement, ...], sign: int) -> None:
        for p in placements:
            free_cpu[p.node] += sign * request.cpu_milli
            free_mem[p.node] += sign * request.memory_mib
            for pick in p.devices:
                if pick.mig_slice is not None:
                    key3 = (p.node, pick.index, pick.mig_slice)
                    if sign > 0:
                        free_slice.add(key3)
                    else:
                        free_slice.discard(key3)
                else:
                    free_milli[(p.node, pick.index)] += sign * pick.milli

    for j in snap.running:
        end = _end(j)
        if j.id not in victims and end is not None and end <= at:
            apply(j.request, j.placements, +1)
    for j, b in binds(snap, decisions):
        apply(j.request, b.placements, -1)
        if j.max_runtime_s is not None and T0 + timedelta(seconds=j.max_runtime_s) <= at:
            apply(j.request, b.placements, +1)
    reserved = next(j for j in snap.pending if j.id == reserve.job_id)
    apply(reserved.request, reserve.placements, -1)
    assert all(v >= 0 for v in free_cpu.values())
    assert all(v >= 0 for v in free_mem.values())
    assert all(v >= 0 for v in free_milli.values())
    for p in reserve.placements:
        for pick in p.devices:
            if pick.mig_slice is None and pick.milli == 1000:
                assert free_milli[(p.node, pick.index)] == 0  # the whole device was all free


def check_preemptions(snap: Snapshot, decisions: list[CycleDecision]) -> None:
    running = {j.id: j for j in snap.running}
    waits = {d.job_id: d for d in decisions if isinstance(d, Wait)}
    victims = [d for d in decisions if isinstance(d, Preempt)]
    cycle = Cycle(snap, get_profile("default"))
    assert len({v.job_id for v in victims}) == len(victims)
    for v in victims:
        assert v.job_id in running and not running[v.job_id].terminating
        assert v.preemptor in waits and waits[v.preemptor].reasons[0].code == "preempting"
        preemptor = next(j for j in snap.pending if j.id == v.preemptor)
        victim = running[v.job_id]
        if v.reason == "priority":
            assert victim.priority < preemptor.priority
        elif v.reason == "service":  # only a job on a higher rung of the attained ladder
            assert cycle.level(victim) > cycle.level(preemptor)
        else:
            assert v.reason == "reclaim" and cycle.level(victim) >= cycle.level(preemptor)
