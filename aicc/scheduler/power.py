"""The site's power cap (demand response, issue 22 point 3): a waiting job whose start would
take the estimated facility power over `Snapshot.power.cap_w` waits with the reason
`power_cap` and the numbers; jobs that fit still start. Pure, like the rest of the scheduler:
the cap, the PUE of the hour and the power model come in the snapshot.

What is counted: every healthy device of a node that is not down draws its idle share of its
catalog TDP; a held device (any share, a MIG slice by its share, devices held by jobs outside
AICC included) adds its busy share at the site's assumed utilization — the meter's model
(services/billing/meter.py). A replica without an accelerator draws its share of its node's
power by its CPU and memory, the meter's method for a CPU job's energy: the node's measured
power (fresh BMC or RAPL samples, `PowerCap.node_w`) where it has one, else its cores times the
configured `PowerCap.core_w` (`cpu_w`), so CPU jobs count against the cap too. A waiting job's
need is that busy share on the most power-hungry model (a CPU job: node) it may land on (it is
not placed yet); once bound, what it took is counted exactly. Running jobs are never stopped
when a cap drops: the cap only holds back new starts (preempting for a cap is future work).

Under a demand-response event's cap (`PowerCap.until`), a deferrable job that draws power waits
the event out even when it would fit, as long as it can still run its declared runtime before
its deadline once the event ends: the utility asked for load to be shed, and flexible work is
what the center sheds first; guaranteed jobs (and deferrable ones whose deadline cannot wait)
still start when they fit under the cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from aicc.core.catalog import mig_milli
from aicc.core.energy import node_share, shared_w
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    JobView,
    NodeView,
    PowerCap,
    Snapshot,
    WaitReason,
)


def device_busy_w(cap: PowerCap, model: str) -> float:
    """IT watts a whole device of `model` adds over idle while held."""
    return cap.tdp_w.get(model, 0.0) * (1 - cap.idle_fraction) * cap.utilization


def _slice_share(profile: str) -> float:
    return mig_milli(profile) / 1000


def facility_w(cap: PowerCap, nodes: Sequence[NodeView]) -> float:
    """Estimated facility power (W) of `nodes` as the snapshot shows them: idle power of every
    device plus the busy share of what is held, times the PUE."""
    it = 0.0
    for node in nodes:
        for device in node.devices:
            tdp = cap.tdp_w.get(device.model, 0.0)
            it += tdp * cap.idle_fraction
            if device.mig:
                held = sum(_slice_share(s.profile) for s in device.mig if s.used)
            else:
                held = (1000 - device.free_milli) / 1000
            it += held * device_busy_w(cap, device.model)
    return it * cap.pue


def cpu_w(cap: PowerCap, cpu_milli: int, memory_mib: int, node: NodeView | None) -> float:
    """IT watts a replica without an accelerator draws on `node`: its CPU and memory share of
    the node's measured power (the meter's method), else its cores times `cap.core_w`."""
    measured = cap.node_w.get(node.name) if node is not None else None
    if node is None or measured is None:
        return max(0, cpu_milli) / 1000 * cap.core_w
    share = node_share(cpu_milli, memory_mib, node.total_cpu_milli, node.total_memory_mib)
    return shared_w(measured, share)


def _cpu_only(job: JobView) -> bool:
    r = job.request
    return r.mig_profile is None and r.accel_milli is None and r.accel_count <= 0


def running_w(cap: PowerCap, jobs: Sequence[JobView], nodes: dict[str, NodeView]) -> float:
    """Facility watts of the placed jobs without an accelerator (the others' devices are in
    `facility_w`)."""
    it = 0.0
    for job in jobs:
        if _cpu_only(job):
            for placement in job.placements:
                node = nodes.get(placement.node)
                it += cpu_w(cap, job.request.cpu_milli, job.request.memory_mib, node)
    return it * cap.pue


def need_w(cap: PowerCap, job: JobView, nodes: Sequence[NodeView]) -> float:
    """Facility watts a waiting job would add: its devices' busy share on the most
    power-hungry model it accepts among the schedulable nodes'; without an accelerator, its
    CPU and memory share of the most power-hungry schedulable node (`cpu_w`)."""
    r = job.request
    if _cpu_only(job):
        places: list[NodeView | None] = [n for n in nodes if n.schedulable]
        watts = max(cpu_w(cap, r.cpu_milli, r.memory_mib, n) for n in places or [None])
        return job.replicas * watts * cap.pue
    if r.mig_profile is not None:
        share = _slice_share(r.mig_profile)
    elif r.accel_milli is not None:
        share = r.accel_milli / 1000
    else:
        share = float(r.accel_count)
    if share <= 0:
        return 0.0
    models = {d.model for n in nodes if n.schedulable for d in n.devices}
    if r.models is not None:
        models &= set(r.models)
    watts = max((device_busy_w(cap, m) for m in models), default=0.0)
    return share * job.replicas * watts * cap.pue


def bound_w(
    cap: PowerCap, bind: Bind, nodes: dict[str, NodeView], job: JobView | None = None
) -> float:
    """Facility watts a job just bound adds, from the devices it took (without an
    accelerator: from its CPU and memory on the nodes it took)."""
    if job is not None and _cpu_only(job):
        return running_w(cap, [replace(job, placements=bind.placements)], nodes)
    it = 0.0
    for placement in bind.placements:
        node = nodes.get(placement.node)
        if node is None:
            continue
        models = {d.index: d.model for d in node.devices}
        for pick in placement.devices:
            it += pick.milli / 1000 * device_busy_w(cap, models.get(pick.index, ""))
    return it * cap.pue


PREFIX = "waits for the site's power cap"  # how a power_cap wait's message begins


def kw(watts: float) -> str:
    return f"{watts / 1000:.1f}"


class Budget:
    """The power left under the cap during one cycle: each job asks before it is considered,
    and what each bind takes is added."""

    def __init__(self, snapshot: Snapshot, cap: PowerCap) -> None:
        self.cap = cap
        self.nodes = snapshot.nodes
        self.by_name = {n.name: n for n in snapshot.nodes}
        self.used_w = facility_w(cap, snapshot.nodes) + running_w(
            cap, snapshot.running, self.by_name
        )

    @classmethod
    def of(cls, snapshot: Snapshot) -> Budget | None:
        return cls(snapshot, snapshot.power) if snapshot.power is not None else None

    def refuse(self, job: JobView) -> WaitReason | None:
        """The `power_cap` reason when starting `job` would go over the cap; None if it fits."""
        need = need_w(self.cap, job, self.nodes)
        if need <= 0:
            return None
        source = f" ({self.cap.source})" if self.cap.source else ""
        if self.sheds(job):
            assert self.cap.until is not None and job.deadline is not None
            why = (
                f"{PREFIX}{source}: a deferrable job waits out the demand-response event "
                f"(deadline {job.deadline:%Y-%m-%d %H:%M} UTC)"
            )
            return WaitReason("power_cap", why)
        if self.used_w + need <= self.cap.cap_w + 1e-6:
            return None
        why = (
            f"{PREFIX}{source}: {kw(self.used_w)} of "
            f"{kw(self.cap.cap_w)} kW in use, needs {kw(need)} kW"
        )
        return WaitReason("power_cap", why)

    def sheds(self, job: JobView) -> bool:
        """Whether `job` is flexible load to shed for the event in force: deferrable, and its
        declared runtime still fits between the event's end and its deadline."""
        until = self.cap.until
        if until is None or not job.deferrable or job.deadline is None:
            return False
        if job.max_runtime_s is None:
            return False
        return until + timedelta(seconds=job.max_runtime_s) <= job.deadline

    def take(self, job: JobView, decisions: Sequence[CycleDecision]) -> None:
        """Count `job`'s binds among its decisions."""
        for decision in decisions:
            if isinstance(decision, Bind):
                mine = job if decision.job_id == job.id else None
                self.used_w += bound_w(self.cap, decision, self.by_name, mine)
