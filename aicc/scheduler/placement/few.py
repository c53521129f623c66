"""Scoring a few nodes in plain Python: the same costs as the vector path, bit for bit, without
its fixed cost per call.

After each bind, a shape re-scores only the nodes changed since it last looked: most calls score
one node, nearly all fewer than ten. The vector path (`fgd.candidates`, `FragModel`, the
policy's `costs`) spends about 100 µs on such a call, almost all of it numpy's overhead over a
hundred tiny arrays. Here a call walks its few nodes in Python and keeps numpy only where the
float arithmetic's order matters: the fragmentation of a node state (the node's now, and the one
each candidate placement leaves) is a weighted sum over the mix's device groups, summed by the
vector code itself (`FragModel.combine`) once per distinct state (model, free shares as a
multiset, free CPU and memory) and remembered while the weights stand.

What makes the rest exact: free shares, capacities and counts are integers; the per-candidate
terms (stranding, reservation, packing, `round(6)`) are single IEEE operations, which Python
performs as numpy does, in the same order; the one float sum (the reservation of whole devices)
follows numpy's pairwise summation (`pairwise_sum`). Pure: no I/O.

Used for nodes whose devices are all of one model (`FragModel.by_node`, every real cluster's
case) and for policies that give their per-candidate cost (`row_costs`); anything else takes the
vector path.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aicc.scheduler.placement.demand import MILLI, Demand
from aicc.scheduler.placement.frag import FragModel
from aicc.scheduler.placement.state import ClusterState, IntArray

FEW = 32  # node rows up to which a call takes this path
MAX_SLOTS = 128  # device slots per node up to which `pairwise_sum` follows numpy exactly
MAX_REMEMBERED = 200_000  # fragmentation of post-placement states kept before starting over

# The key of a post-placement state: the node's model, its free shares sorted, free CPU, memory.
AfterKey = tuple[int, tuple[int, ...], int, int]


@dataclass(slots=True)
class Row:
    """One feasible node as the costs need it: free CPU, memory and shares now, and after the
    replica takes its place; `valid[c]`: candidate c places it (per device slot for a share, one
    candidate otherwise) and `after[c]` the shares it leaves (not kept for a share's candidates,
    `shared`: slot c less the share), `delta[c]` its fragmentation increase (rounded to 1e-6 as
    the vector path rounds it)."""

    node: int
    cpu: int
    mem: int
    dev: list[int]
    cpu_after: int
    mem_after: int
    valid: list[bool]
    after: list[list[int]]
    shared: bool = False
    delta: list[float] = field(default_factory=list)


def round6(value: float) -> float:
    """numpy's `round(6)` of one float: multiply by 1e6, round half to even, divide."""
    return float(round(value * 1e6)) / 1e6


def pairwise_sum(values: Sequence[float]) -> float:
    """numpy's `add.reduce` of a contiguous float row of at most MAX_SLOTS values: in order below
    8, else eight running sums combined as a tree, then the rest in order."""
    n = len(values)
    if n < 8:
        total = -0.0
        for value in values:
            total += value
        return total
    r = list(values[:8])
    cut = n - n % 8
    for i in range(8, cut, 8):
        for j in range(8):
            r[j] += values[i + j]
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(cut, n):
        total += values[i]
    return total


class FewScorer:
    """Per policy and cluster state: the fragmentation of post-placement states, remembered."""

    def __init__(self, frag: FragModel, state: ClusterState) -> None:
        self.frag = frag
        self._weights = frag.weights_version
        self._known: dict[AfterKey, float] = {}
        # a node's model (all its devices are of one), -1 for none: what `g_node_ok` depends on
        model = np.where(state.dev_exists, state.dev_model, -1)
        self._model: list[int] = model.max(axis=1).tolist() if model.shape[1] else [-1] * state.size
        # the model's device groups (share size index, devices needed, row of `g_node_ok` for a
        # restricted group) and its task columns' CPU and memory, as lists for `_measure`
        where = {group: j for j, group in enumerate(frag.restricted.tolist())}
        self._groups = [
            (size, count, where.get(group))
            for group, (size, count) in enumerate(
                zip(frag.g_m.tolist(), frag.g_count.tolist(), strict=True)
            )
        ]
        self._sizes: list[int] = frag.m_values.tolist()  # the groups' distinct share sizes
        self._tasks = list(zip(frag.t_cpu.tolist(), frag.t_mem.tolist(), strict=True))
        self._fits: dict[tuple[int, int], list[bool]] = {}  # (CPU, memory) -> tasks that fit

    def usable(self, state: ClusterState) -> bool:
        return self.frag.by_node and state.dev_free.shape[1] <= MAX_SLOTS

    def rows(
        self, state: ClusterState, demand: Demand, rows: IntArray | list[int]
    ) -> list[Row | None]:
        """Per row, its candidates with their fragmentation increase; None where the replica
        does not fit."""
        nodes: list[int] = rows.tolist() if isinstance(rows, np.ndarray) else rows
        found = [_row(state, demand, int(node)) for node in nodes]
        feasible = [row for row in found if row is not None]
        if feasible:
            self._deltas(feasible, demand.milli)
        return found

    def _deltas(self, rows: list[Row], milli: int) -> None:
        """Each row's `delta`: the fragmentation of the state each candidate leaves less that of
        the node now (both as `FragModel.frag` measures them). A share's candidates on devices
        with equal free shares leave one state: measured, and their delta rounded, once."""
        if self._weights != self.frag.weights_version or len(self._known) > MAX_REMEMBERED:
            self._known.clear()
            self._weights = self.frag.weights_version
        known = self._known
        missing: dict[AfterKey, tuple[int, int, int, list[int]]] = {}
        keys: list[tuple[AfterKey, dict[int, AfterKey]]] = []  # per row: now, per free share
        for row in rows:
            model = self._model[row.node]
            now = (model, tuple(sorted(row.dev)), row.cpu, row.mem)
            if now not in known:
                missing[now] = (row.node, row.cpu, row.mem, row.dev)
            by_free: dict[int, AfterKey] = {}  # the state a candidate leaves (-1: the one)
            if row.shared:  # candidate c takes `milli` from device slot c
                for column, ok in enumerate(row.valid):
                    free = row.dev[column]
                    if ok and free not in by_free:
                        after = list(row.dev)
                        after[column] -= milli
                        key = (model, tuple(sorted(after)), row.cpu_after, row.mem_after)
                        by_free[free] = key
                        if key not in known:
                            missing[key] = (row.node, row.cpu_after, row.mem_after, after)
            else:
                after = row.after[0]
                key = by_free[-1] = (model, tuple(sorted(after)), row.cpu_after, row.mem_after)
                if key not in known:
                    missing[key] = (row.node, row.cpu_after, row.mem_after, after)
            keys.append((now, by_free))
        if missing:
            self._measure(missing)
        inf = float("inf")
        for row, (now, by_free) in zip(rows, keys, strict=True):
            base = known[now]
            delta = {free: round6(known[key] - base) for free, key in by_free.items()}
            if row.shared:
                row.delta = [
                    delta[free] if ok else inf for free, ok in zip(row.dev, row.valid, strict=True)
                ]
            else:
                row.delta = [delta[-1]]

    def _measure(self, missing: dict[AfterKey, tuple[int, int, int, list[int]]]) -> None:
        """Measure the states not known yet (node, CPU, memory, shares): their weight-free parts
        (`FragModel.parts`: integers, exact in any order) here, their weighted sum with the
        vector code (`FragModel.combine`)."""
        frag, sizes = self.frag, self._sizes
        idle: list[float] = []
        capacity: list[list[float]] = []
        fits: list[list[bool]] = []
        for key, (node, cpu, mem, dev) in missing.items():
            # per share size, the devices with at least that much free and their free total:
            # from the shares sorted (the key's), a bisection and a suffix sum (integers)
            shares = key[1]
            above = [0] * (len(shares) + 1)  # above[k]: sum of shares[k:]
            for k in range(len(shares) - 1, -1, -1):
                above[k] = above[k + 1] + shares[k]
            count, held = [], []
            for size in sizes:
                k = bisect_left(shares, size)
                count.append(len(shares) - k)
                held.append(above[k])
            node_ok: list[bool] = frag.g_node_ok[:, node].tolist() if len(frag.restricted) else []
            capacity.append(
                [
                    float(held[m]) if count[m] >= need and (j is None or node_ok[j]) else 0.0
                    for m, need, j in self._groups
                ]
            )
            idle.append(float(sum(dev)))
            fit = self._fits.get((cpu, mem))
            if fit is None:
                fit = self._fits[(cpu, mem)] = [c <= cpu and m <= mem for c, m in self._tasks]
            fits.append(fit)
        k = len(idle)
        figures = frag.combine(
            np.array(idle, dtype=np.float64).reshape(k, 1),
            np.array(capacity, dtype=np.float64).reshape(k, 1, len(self._groups)),
            np.array(fits, dtype=np.bool_).reshape(k, len(self._tasks)),
        )[:, 0].tolist()
        self._known.update(zip(missing, figures, strict=True))


def _row(state: ClusterState, demand: Demand, node: int) -> Row | None:
    """The node's candidates for the replica (as `fgd.candidates` lays them out); None if it
    does not fit."""
    cpu, mem = state.cpu_free.item(node), state.mem_free.item(node)
    if cpu < demand.cpu or mem < demand.mem or not state.schedulable.item(node):
        return None
    dev: list[int] = state.dev_free[node].tolist()
    if demand.count == 0:
        return Row(node, cpu, mem, dev, cpu - demand.cpu, mem - demand.mem, [True], [dev])
    shared = demand.shared
    need = demand.milli if shared else MILLI
    if not dev or max(dev) < need or (shared and not state.shares.item(node)):
        return None  # no device holds it (a full node, the usual case), or no sharing here
    if demand.models is None:  # every present device; absent slots have nothing free
        ok = [free >= need for free in dev]
    else:
        allowed: list[bool] = state.allowed(demand.models)[node].tolist()
        ok = [a and free >= need for a, free in zip(allowed, dev, strict=True)]
    if shared and demand.dev_mem:
        memory: list[int] = state.dev_mem_free[node].tolist()
        ok = [o and m >= demand.dev_mem for o, m in zip(ok, memory, strict=True)]
    if sum(ok) < demand.count:
        return None
    if shared:  # the shares each candidate leaves: `FewScorer._deltas`, once per free share
        return Row(node, cpu, mem, dev, cpu - demand.cpu, mem - demand.mem, ok, [], True)
    left, taken = list(dev), 0
    for column, fits in enumerate(ok):
        if fits and taken < demand.count:
            left[column] -= MILLI
            taken += 1
    return Row(node, cpu, mem, dev, cpu - demand.cpu, mem - demand.mem, [True], [left])


def best(
    rows: list[Row | None], costs: Callable[[Row], list[float]]
) -> tuple[list[float], list[int]]:
    """(cost, slot) per row as `fgd.best_of` gives them: each row's first cheapest candidate;
    inf and -1 where the replica does not fit."""
    cost: list[float] = []
    slot: list[int] = []
    for row in rows:
        if row is None:
            cost.append(float("inf"))
            slot.append(-1)
            continue
        values = costs(row)
        lowest = min(values)
        cost.append(lowest)
        slot.append(values.index(lowest))
    return cost, slot
