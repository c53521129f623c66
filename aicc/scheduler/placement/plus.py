"""fgd-plus: FGD that also counts the devices a node will strand when its CPU or memory runs out,
the devices of a model that replicas restricted to that model will need, and the worth of a
device that a share's placement forfeits.

FGD descends the expected fragmentation one task ahead: a node's idle devices count as fragment
for a task shape only once the node's free CPU or memory is already below that shape's request,
and a device is as good as any other of its size whatever its model. Two things it misses:

1. Stranding. Nodes whose CPU (memory) runs short before their devices do (8-device nodes that
   get CPU-heavy replicas, CPU-only replicas on device nodes) drift there one placement at a
   time, each step free of any FGD cost, and end with idle devices nothing can use. fgd-plus
   prices it:

       stranded(node) = max(0, idle - cpu_free / cpu_per_device, idle - mem_free / mem_per_device)

   where cpu_per_device (mem_per_device) is the workload's average CPU (memory) per milli-device
   over the shapes that use devices. A node whose CPU can feed its idle devices at that rate
   strands nothing; a replica that eats CPU the node's devices will need pays for it now, a
   replica light on CPU is steered to the nodes short of it, and CPU-only replicas go where CPU
   is plentiful relative to idle devices instead of anywhere FGD sees no change.

2. Model reservation. Replicas restricted to some models (`gpu_spec`) can only use those. Of each
   model, the workload's restricted shapes claim a share: r(model) = their device demand split
   evenly over the models each accepts, as a fraction of all device demand, divided by the
   model's fraction of the cluster's devices (capped at 1). Taking a device of that model costs
   r(model) per milli-device, so unrestricted replicas leave claimed models to the replicas that
   need them (without it, steering CPU-heavy replicas to CPU-rich nodes uses up exactly the
   devices that restricted replicas were waiting for).

3. Packing. FGD does not see how the mix's shares fit together: it puts a 0.32 share next to a
   0.47 (leaving 0.21 that almost nothing can use) rather than open a device for a 0.65 to
   complete later. The cutting-stock LP of the mix's shares prices each share size at the part
   of a device it is worth (`worth.py`); a share placed on a device forfeits
   `loss = best(free) - worth(share) - best(free - share)` of a device's worth, zero when the
   share belongs to a best completion of that device. Its weight puts it first: the other terms
   decide among placements that forfeit equally (most do not forfeit anything).

    cost = delta fragmentation + STRANDING * delta stranded + RESERVATION * claimed milli used
           + PACKING * forfeited milli

Scores are exact (no integer rounding); ties are settled like FGD's. With no restricted shapes
the reservation term is zero everywhere, without shares the packing term; with stranding =
reservation = packing = 0 this is exact FGD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aicc.scheduler.placement.demand import MILLI, Demand
from aicc.scheduler.placement.few import Row, pairwise_sum, round6
from aicc.scheduler.placement.fgd import Candidates, FGDPolicy
from aicc.scheduler.placement.state import ClusterState, FloatArray, IntArray
from aicc.scheduler.placement.task_mix import TaskMix
from aicc.scheduler.placement.worth import NOTHING, Worth, share_mix, worth_of

STRANDING = 2.0  # weight of stranded device capacity against fragmented capacity
RESERVATION = 3.0  # weight of claimed device capacity taken
PACKING = 10.0  # weight of a device's worth forfeited (in milli-devices)


def per_device(workload: TaskMix) -> tuple[float, float]:
    """The workload's average (CPU milli-cores, memory MiB) per milli-device, over the shapes that
    use devices (weighted by popularity); (inf, inf) if none does."""
    cpu = mem = gpu = 0.0
    for shape, weight in zip(workload.shapes, workload.weights, strict=True):
        if shape.count:
            cpu += weight * shape.cpu_milli
            mem += weight * shape.memory_mib
            gpu += weight * shape.count * shape.milli
    if gpu == 0:
        return float("inf"), float("inf")
    return max(cpu / gpu, 1e-9), max(mem / gpu, 1e-9)


def claimed(workload: TaskMix, state: ClusterState) -> FloatArray:
    """Per device slot: the share r(model) of its model that restricted shapes claim (0..1)."""
    demand: dict[str, float] = {}
    total = 0.0
    for shape, weight in zip(workload.shapes, workload.weights, strict=True):
        amount = weight * shape.count * shape.milli
        total += amount
        for model in shape.models or ():
            demand[model] = demand.get(model, 0.0) + amount / len(shape.models or ())
    by_model = np.zeros(max(len(state.models), 1))
    capacity = state.gpu_capacity_milli
    for i, model in enumerate(state.models):
        supply = float((state.dev_model == i).sum() * MILLI) / capacity if capacity else 0.0
        if supply > 0 and total > 0:
            by_model[i] = min(1.0, demand.get(model.lower(), 0.0) / total / supply)
    result: FloatArray = np.where(state.dev_exists, by_model[np.maximum(state.dev_model, 0)], 0.0)
    return result


@dataclass(eq=False)
class FGDPlusPolicy(FGDPolicy):
    """FGD plus stranding, model reservation and packing (module docstring). `stranding`,
    `reservation` and `packing` weigh the three terms; all 0 is exact FGD."""

    integer_scores: bool = False
    stranding: float = STRANDING
    reservation: float = RESERVATION
    packing: float = PACKING
    name: str = "fgd-plus"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._fit_mix(self.workload)

    def reweight(self, workload: TaskMix) -> bool:
        if not super().reweight(workload):
            return False
        self._fit_mix(workload)
        return True

    def _fit_mix(self, workload: TaskMix) -> None:
        self._cpu_per_device, self._mem_per_device = per_device(workload)
        self._worth: Worth = worth_of(share_mix(workload)) if self.packing else NOTHING
        self._best: list[float] = self._worth.best.tolist()  # for `row_costs`

    def stranded(self, idle: FloatArray, cpu: IntArray, mem: IntArray) -> FloatArray:
        """Idle device capacity (milli) a node's free CPU and memory cannot feed."""
        by_cpu = idle - cpu / self._cpu_per_device
        by_mem = idle - mem / self._mem_per_device
        result: FloatArray = np.maximum(0.0, np.maximum(by_cpu, by_mem))
        return result

    def _claimed(self, state: ClusterState) -> FloatArray:
        key = (self, "claimed")
        found = state.caches.get(key)
        if found is None or found[0] != self._weights:
            found = state.caches[key] = (self._weights, claimed(self.workload, state))
        value = found[1]
        assert isinstance(value, np.ndarray)
        return value

    def costs(self, state: ClusterState, demand: Demand, cand: Candidates) -> FloatArray:
        """FGD's fragmentation increase plus the weighted stranding, reservation and packing
        terms; inf where a candidate is not valid."""
        nodes = cand.rows
        dev = state.dev_free[nodes]
        idle = np.add.reduce(dev, axis=1)
        before = self.stranded(idle, state.cpu_free[nodes], state.mem_free[nodes])
        # every placement of the replica on a node leaves the same idle capacity there
        after = self.stranded(idle - demand.gpu_milli, cand.cpu_after, cand.mem_after)
        total = cand.delta + (self.stranding * (after - before))[:, None]
        if self.reservation and demand.count:
            claimed = self._claimed(state)[nodes]
            if demand.shared:  # candidate c takes the share from device slot c
                taken = demand.milli * claimed
            else:
                taken = np.add.reduce((dev[:, None, :] - cand.after) * claimed[:, None, :], axis=2)
            total = total + self.reservation * taken
        if self.packing and demand.shared:  # candidate c takes the share from device slot c
            total = total + self.packing * MILLI * self._worth.loss(dev, demand.milli)
        result: FloatArray = np.where(cand.valid, total.round(6), np.inf)
        return result

    def row_costs(self, state: ClusterState, demand: Demand, row: Row) -> list[float]:
        """`costs` of one node's candidates (`few.Row`): the same float operations in the same
        order, one candidate at a time (a share's candidates once per free share and claim)."""
        idle = sum(row.dev)
        before = self._stranded_one(idle, row.cpu, row.mem)
        after = self._stranded_one(idle - demand.gpu_milli, row.cpu_after, row.mem_after)
        extra = self.stranding * (after - before)
        claimed: list[float] | None = None
        if self.reservation and demand.count:
            claimed = self._claimed(state)[row.node].tolist()
        if not demand.shared:
            total = row.delta[0] + extra
            if claimed is not None:
                terms = zip(row.dev, row.after[0], claimed, strict=True)
                taken = pairwise_sum([(free - left) * part for free, left, part in terms])
                total = total + self.reservation * taken
            return [round6(total)]
        weight = self.packing * MILLI
        costs: list[float] = []
        seen: dict[tuple[int, float], float] = {}
        for column, ok in enumerate(row.valid):
            if not ok:
                costs.append(float("inf"))
                continue
            free = row.dev[column]
            part = 0.0 if claimed is None else claimed[column]
            cost = seen.get((free, part))
            if cost is None:  # candidate c takes the share from device slot c
                total = row.delta[column] + extra
                if claimed is not None:
                    total = total + self.reservation * (demand.milli * part)
                if self.packing:
                    total = total + weight * self._loss_one(free, demand.milli)
                cost = seen[(free, part)] = round6(total)
            costs.append(cost)
        return costs

    def _stranded_one(self, idle: int, cpu: int, mem: int) -> float:
        """`stranded` of one node."""
        return max(0.0, max(idle - cpu / self._cpu_per_device, idle - mem / self._mem_per_device))

    def _loss_one(self, free: int, milli: int) -> float:
        """`Worth.loss` of one device."""
        free = min(max(free, 0), MILLI)
        if free < milli:
            return 0.0
        return max(self._best[free] - self._worth.of(milli) - self._best[max(free - milli, 0)], 0.0)
