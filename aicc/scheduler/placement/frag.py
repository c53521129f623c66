"""FGD's fragmentation measure, vectorized over node states and cached per node.

For a node and one task shape t, the fragment is the node's idle device capacity that t could not
use: all of it if t cannot run on the node at all (CPU, memory, device count or model) or asks for
no device; otherwise the idle capacity on devices whose free share is smaller than t's share (or
of a model t does not accept). A node's expected fragmentation is the sum over shapes weighted by
their popularity (Weng et al., "Beware of Fragmentation", USENIX ATC'23, §4).

Rewritten so it vectorizes: with W the total weight,

    F(node) = W * idle - sum over device shapes g (share, count, models) of
              [count of devices usable by g >= g.count] * usable(g) * H_g(cpu free, mem free)

where usable(g) is the free capacity on devices g can use, and H_g the weight of the shapes of g
whose CPU and memory fit. Shapes without devices only contribute to W * idle.

The weights enter only through W and H, so a node state splits into weight-free parts (idle,
[enough] * usable per group, which shapes fit) and a cheap weighted sum of them (`parts`,
`combine`). Nodes keep their parts, so a new task mix over the same shapes (`reweight`) costs a
product per node, not a new scan of every device.
"""

from __future__ import annotations

import numpy as np

from aicc.scheduler.placement.state import (
    BoolArray,
    ClusterState,
    FloatArray,
    IntArray,
    StateMemo,
)
from aicc.scheduler.placement.task_mix import TaskMix, TaskShape

CHUNK = 4096  # candidate states evaluated per vector pass (bounds temporary memory)


def single_model_nodes(state: ClusterState) -> bool:
    """Whether the devices of every node are all of one model."""
    if state.dev_model.size == 0:
        return True
    model = np.where(state.dev_exists, state.dev_model, -1)
    return bool(((model == model.max(axis=1, keepdims=True)) | ~state.dev_exists).all())


class FragModel:
    """Fragmentation of node states for one workload on one cluster's device layout.

    `memory=False` ignores memory when deciding whether a shape fits, as the FGD authors'
    simulator does; our protocol counts it (docs/benchmarks-protocol.md §1).
    """

    def __init__(self, workload: TaskMix, state: ClusterState, *, memory: bool = True) -> None:
        self.workload = workload
        groups: dict[tuple[int, int, tuple[str, ...] | None], int] = {}
        task_group: list[int] = []
        cpu: list[int] = []
        mem: list[int] = []
        using = [shape for shape in workload.shapes if shape.count]
        for shape in using:
            groups.setdefault((shape.milli, shape.count, shape.models), len(groups))
        # task columns grouped by device group, so a group's weight is one contiguous sum
        using.sort(key=lambda shape: groups[(shape.milli, shape.count, shape.models)])
        self._column: dict[TaskShape, int] = {}  # device-using shape -> its task column
        for shape in using:
            self._column[shape] = len(cpu)
            task_group.append(groups[(shape.milli, shape.count, shape.models)])
            cpu.append(shape.cpu_milli)
            mem.append(shape.memory_mib if memory else 0)
        keys = list(groups)
        self.g_milli: IntArray = np.array([k[0] for k in keys], dtype=np.int64)
        self.g_count: IntArray = np.array([k[1] for k in keys], dtype=np.int64)
        self.t_cpu: IntArray = np.array(cpu, dtype=np.int64)
        self.t_mem: IntArray = np.array(mem, dtype=np.int64)
        self.t_group: IntArray = np.array(task_group, dtype=np.int64)
        self.g_start: IntArray = np.searchsorted(self.t_group, np.arange(len(keys)))
        self.total_weight = 0.0
        self.t_weight: FloatArray = np.zeros(len(cpu), dtype=np.float64)  # per task column
        self.weights_version = 0  # bumped by every `reweight`
        self._set_weights(workload)
        restricted = [i for i, k in enumerate(keys) if k[2] is not None]
        self.restricted: IntArray = np.array(restricted, dtype=np.int64)
        self.g_allowed: BoolArray = np.stack(
            [state.allowed(keys[i][2]) for i in restricted] or [np.zeros_like(state.dev_exists)]
        )
        # Groups that differ only by models share one device test per distinct share size; where
        # every node has a single model (a trace's cluster), models filter whole nodes.
        self.m_values, self.g_m = np.unique(self.g_milli, return_inverse=True)
        self.by_node = single_model_nodes(state)
        self.g_node_ok: BoolArray = np.asarray(self.g_allowed.any(axis=2))  # (groups, nodes)
        # per node: fragmentation (at `node_version`, combined with `node_weights`) and the
        # weight-free parts it was combined from (at `parts_version`)
        self.node_frag: FloatArray = np.zeros(state.size, dtype=np.float64)
        self.node_version: IntArray = np.full(state.size, -1, dtype=np.int64)
        self._mark = -1  # the state's `mark` when `node_version` last matched it
        self.node_weights = self.weights_version
        self.node_idle: FloatArray = np.zeros((state.size, 1), dtype=np.float64)
        self.node_ce: FloatArray = np.zeros((state.size, 1, len(keys)), dtype=np.float64)
        self.node_fits: BoolArray = np.zeros((state.size, len(cpu)), dtype=np.bool_)
        self.parts_version: IntArray = np.full(state.size, -1, dtype=np.int64)
        self._memo = StateMemo(1)  # `current`, at `_memo_weights`
        self._memo_weights = self.weights_version

    def _set_weights(self, workload: TaskMix) -> bool:
        """Take the weights of `workload`; False (and no change) if it has a device-using shape
        this model was not built with."""
        weight = np.zeros(len(self.t_cpu), dtype=np.float64)
        for shape, w in zip(workload.shapes, workload.weights, strict=True):
            if shape.count == 0:
                continue
            column = self._column.get(shape)
            if column is None:
                return False
            weight[column] = float(w)
        self.workload = workload
        self.total_weight = float(workload.weights.sum())
        self.t_weight = weight
        return True

    def reweight(self, workload: TaskMix) -> bool:
        """Measure against `workload` from now on, keeping the weight-free parts of every node.
        False (and no change) when it has a device-using shape this model was not built with:
        build a new model then."""
        if not self._set_weights(workload):
            return False
        self.weights_version += 1
        return True

    def frag(self, rows: IntArray, cpu: IntArray, mem: IntArray, dev: IntArray) -> FloatArray:
        """Fragmentation of K candidate states: rows (K,) are the nodes (for device models),
        cpu and mem (K,) free after placement, dev (K, C, D) free device shares of C candidate
        placements per node. Returns (K, C) in milli-devices."""
        k, c, _ = dev.shape
        out = np.empty((k, c), dtype=np.float64)
        step = max(1, CHUNK // max(c, 1))
        for start in range(0, k, step):
            sl = slice(start, start + step)
            out[sl] = self.combine(*self.parts(rows[sl], cpu[sl], mem[sl], dev[sl]))
        return out

    def parts(
        self, rows: IntArray, cpu: IntArray, mem: IntArray, dev: IntArray
    ) -> tuple[FloatArray, FloatArray, BoolArray]:
        """The weight-free parts of `frag` for the same arguments (unchunked): idle (K, C),
        [enough] * usable per device group (K, C, G), which shapes' CPU and memory fit (K, T)."""
        idle: FloatArray = np.add.reduce(dev, axis=2).astype(np.float64)
        return idle, self.group_capacity(rows, dev), self.fits(cpu, mem)

    def combine(self, idle: FloatArray, ce: FloatArray, fits: BoolArray) -> FloatArray:
        """Fragmentation (K, C) from its parts, with the current weights."""
        if len(self.g_milli) == 0:
            empty: FloatArray = idle * self.total_weight
            return empty
        # per group, the weight of its shapes that fit: (K, G); sums, not a BLAS product, which
        # starts threads that cost more than the product on a busy machine
        weight = np.add.reduceat(fits * self.t_weight, self.g_start, axis=1)
        used = np.einsum("kcg,kg->kc", ce, weight)
        result: FloatArray = idle * self.total_weight - used
        return result

    def fits(self, cpu: IntArray, mem: IntArray) -> BoolArray:
        """Which shapes' CPU and memory fit in these free amounts: (K, T)."""
        result: BoolArray = (self.t_cpu[None, :] <= cpu[:, None]) & (
            self.t_mem[None, :] <= mem[:, None]
        )
        return result

    def group_capacity(self, rows: IntArray, dev: IntArray) -> FloatArray:
        """Per candidate state and device group: the free capacity the group's shapes could use,
        where enough of its devices hold the group's share, else 0. (K, C, G)."""
        if len(self.g_milli) == 0:
            return np.zeros((*dev.shape[:2], 0), dtype=np.float64)
        if self.by_node:
            # usable[k, c, m, d]: device d holds a share of size m (absent devices are 0 free)
            usable = dev[:, :, None, :] >= self.m_values[None, None, :, None]
            capacity = np.einsum("kcmd,kcd->kcm", usable, dev, dtype=np.float64)[:, :, self.g_m]
            enough = np.add.reduce(usable, axis=3)[:, :, self.g_m] >= self.g_count[None, None, :]
            if len(self.restricted):
                enough[:, :, self.restricted] &= self.g_node_ok[:, rows].T[:, None, :]
        else:
            # usable[k, c, g, d]: device d can hold a share of group g
            usable = dev[:, :, None, :] >= self.g_milli[None, None, :, None]
            if len(self.restricted):
                allowed = self.g_allowed[:, rows, :].transpose(1, 0, 2)  # (K, Gr, D)
                usable[:, :, self.restricted, :] &= allowed[:, None, :, :]
            capacity = np.einsum("kcgd,kcd->kcg", usable, dev, dtype=np.float64)
            enough = np.add.reduce(usable, axis=3) >= self.g_count[None, None, :]
        result: FloatArray = enough * capacity
        return result

    def current(self, state: ClusterState, rows: IntArray) -> FloatArray:
        """The fragmentation of these nodes as they are now. Until the next `reweight`, a node in
        a state some node was in before takes the figure computed then."""
        if self._memo_weights != self.weights_version:
            self._memo.forget()
            self._memo_weights = self.weights_version

        def measured(fresh: IntArray) -> FloatArray:
            now = state.dev_free[fresh][:, None]
            return self.frag(fresh, state.cpu_free[fresh], state.mem_free[fresh], now)

        result: FloatArray = self._memo.figures(state, rows, measured)[:, 0]
        return result

    def refresh(self, state: ClusterState) -> FloatArray:
        """Per-node fragmentation of the current state, re-scoring only nodes changed since (and
        re-weighting every node's kept parts after a `reweight`)."""
        stale = state.stale(self.node_version, self._mark)
        self._mark = state.mark
        if self.node_weights != self.weights_version:
            stale = np.arange(state.size)
            self.node_weights = self.weights_version
        if len(stale) == 0:
            return self.node_frag
        changed = stale[self.parts_version[stale] != state.version[stale]]
        step = CHUNK
        for start in range(0, len(changed), step):
            rows = changed[start : start + step]
            idle, ce, fits = self.parts(
                rows, state.cpu_free[rows], state.mem_free[rows], state.dev_free[rows][:, None]
            )
            self.node_idle[rows], self.node_ce[rows], self.node_fits[rows] = idle, ce, fits
        self.parts_version[changed] = state.version[changed]
        for start in range(0, len(stale), step):
            rows = stale[start : start + step]
            combined = self.combine(self.node_idle[rows], self.node_ce[rows], self.node_fits[rows])
            self.node_frag[rows] = combined[:, 0]
        self.node_version[stale] = state.version[stale]
        return self.node_frag

    def total(self, state: ClusterState) -> float:
        """The cluster's expected fragmentation, in milli-devices."""
        return float(self.refresh(state).sum())
