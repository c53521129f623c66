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
"""

from __future__ import annotations

import numpy as np

from aicc.scheduler.placement.state import BoolArray, ClusterState, FloatArray, IntArray
from aicc.scheduler.placement.workload import Workload

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
    simulator does; our protocol counts it (BENCHMARKS-REFERENCE §1).
    """

    def __init__(self, workload: Workload, state: ClusterState, *, memory: bool = True) -> None:
        self.workload = workload
        groups: dict[tuple[int, int, tuple[str, ...] | None], int] = {}
        task_group: list[int] = []
        cpu: list[int] = []
        mem: list[int] = []
        weight: list[float] = []
        for shape, w in zip(workload.shapes, workload.weights, strict=True):
            if shape.count == 0:
                continue
            key = (shape.milli, shape.count, shape.models)
            task_group.append(groups.setdefault(key, len(groups)))
            cpu.append(shape.cpu_milli)
            mem.append(shape.memory_mib if memory else 0)
            weight.append(float(w))
        keys = list(groups)
        self.total_weight = float(workload.weights.sum())
        self.g_milli: IntArray = np.array([k[0] for k in keys], dtype=np.int64)
        self.g_count: IntArray = np.array([k[1] for k in keys], dtype=np.int64)
        self.t_cpu: IntArray = np.array(cpu, dtype=np.int64)
        self.t_mem: IntArray = np.array(mem, dtype=np.int64)
        # weight of each device-using shape, spread onto its group: (shapes x groups)
        self.t_weight_by_group: FloatArray = np.zeros((len(cpu), len(keys)), dtype=np.float64)
        self.t_weight_by_group[np.arange(len(cpu)), task_group] = weight
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
        self.node_frag: FloatArray = np.zeros(state.size, dtype=np.float64)
        self.node_version: IntArray = np.full(state.size, -1, dtype=np.int64)

    def frag(self, rows: IntArray, cpu: IntArray, mem: IntArray, dev: IntArray) -> FloatArray:
        """Fragmentation of K candidate states: rows (K,) are the nodes (for device models),
        cpu and mem (K,) free after placement, dev (K, C, D) free device shares of C candidate
        placements per node. Returns (K, C) in milli-devices."""
        k, c, _ = dev.shape
        out = np.empty((k, c), dtype=np.float64)
        step = max(1, CHUNK // max(c, 1))
        for start in range(0, k, step):
            sl = slice(start, start + step)
            out[sl] = self._frag(rows[sl], cpu[sl], mem[sl], dev[sl])
        return out

    def _frag(self, rows: IntArray, cpu: IntArray, mem: IntArray, dev: IntArray) -> FloatArray:
        idle: FloatArray = dev.sum(axis=2).astype(np.float64)
        if len(self.g_milli) == 0:
            empty: FloatArray = idle * self.total_weight
            return empty
        if self.by_node:
            # usable[k, c, m, d]: device d holds a share of size m (absent devices are 0 free)
            usable = dev[:, :, None, :] >= self.m_values[None, None, :, None]
            capacity = np.einsum("kcmd,kcd->kcm", usable, dev, dtype=np.float64)[:, :, self.g_m]
            enough = usable.sum(axis=3)[:, :, self.g_m] >= self.g_count[None, None, :]
            if len(self.restricted):
                enough[:, :, self.restricted] &= self.g_node_ok[:, rows].T[:, None, :]
        else:
            # usable[k, c, g, d]: device d can hold a share of group g
            usable = dev[:, :, None, :] >= self.g_milli[None, None, :, None]
            if len(self.restricted):
                allowed = self.g_allowed[:, rows, :].transpose(1, 0, 2)  # (K, Gr, D)
                usable[:, :, self.restricted, :] &= allowed[:, None, :, :]
            capacity = np.einsum("kcgd,kcd->kcg", usable, dev, dtype=np.float64)
            enough = usable.sum(axis=3) >= self.g_count[None, None, :]
        fits = (self.t_cpu[None, :] <= cpu[:, None]) & (self.t_mem[None, :] <= mem[:, None])
        weight = fits.astype(np.float64) @ self.t_weight_by_group  # (K, G)
        used = (enough * capacity * weight[:, None, :]).sum(axis=2)
        result: FloatArray = idle * self.total_weight - used
        return result

    def refresh(self, state: ClusterState) -> FloatArray:
        """Per-node fragmentation of the current state, re-scoring only nodes changed since."""
        stale = np.flatnonzero(self.node_version != state.version)
        if len(stale):
            self.node_frag[stale] = self.frag(
                stale, state.cpu_free[stale], state.mem_free[stale], state.dev_free[stale][:, None]
            )[:, 0]
            self.node_version[stale] = state.version[stale]
        return self.node_frag

    def total(self, state: ClusterState) -> float:
        """The cluster's expected fragmentation, in milli-devices."""
        return float(self.refresh(state).sum())
