"""The FGD paper's baseline policies, scored as its Kubernetes scheduler plugins score them.

Each scores every feasible node with an integer 0..100 (kube-scheduler's score range, so nodes
that differ by less than one point tie) and picks one of the best at random. A fractional share
goes to the fullest device that holds it (best fit) except under `random`, which picks any device
that holds it; whole devices are the lowest free slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aicc.scheduler.placement.base import (
    MAX_SCORE,
    MAX_SPEC_CPU,
    MAX_SPEC_GPU,
    best_node,
    random_among,
    trunc,
)
from aicc.scheduler.placement.demand import MILLI, Choice, Demand, request_class
from aicc.scheduler.placement.state import ClusterState, IntArray


def _gpu_free(state: ClusterState) -> IntArray:
    total: IntArray = state.dev_free.sum(axis=1)
    return total


@dataclass(frozen=True)
class RandomPolicy:
    """Any node where the replica fits, uniformly at random (and any device that holds a share).

    Random by construction, so the state's `tie_order` does not apply."""

    name: str = "random"

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        nodes, ok = state.feasible(demand)
        candidates = np.flatnonzero(nodes)
        if len(candidates) == 0:
            return None
        node = random_among(rng, candidates)
        column = random_among(rng, np.flatnonzero(ok[node])) if demand.shared else None
        return state.choice(node, demand, column)


@dataclass(frozen=True)
class DotProductPolicy:
    """Tetris-style alignment: the smallest dot product of the node's free (CPU, devices) and the
    request, both normalized by the largest node (128 cores, 8 devices).

    Score = 100 * (1 - dot / 2), truncated: it packs a replica where little of what it needs is
    left over.
    """

    name: str = "dot-product"

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        nodes, _ = state.feasible(demand)
        dot = (state.cpu_free / MAX_SPEC_CPU) * (demand.cpu / MAX_SPEC_CPU) + (
            _gpu_free(state) / MAX_SPEC_GPU
        ) * (demand.gpu_milli / MAX_SPEC_GPU)
        node = best_node(state, trunc(MAX_SCORE * (1 - dot / 2)), nodes, rng)
        return None if node is None else state.choice(node, demand)


@dataclass(frozen=True)
class GpuClusteringPolicy:
    """Keep replicas of the same device request together (fractional shares with shares, 2-device
    replicas with 2-device replicas, ...), then prefer fuller nodes.

    Tiers: a node holding only this request class (75..100), several classes including this one
    (50..75), no device replica yet (25..50), only other classes (0..25); within a tier
    +25 * used/8 devices. A replica without devices scores 0 everywhere (random).
    """

    name: str = "gpu-clustering"

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        nodes, _ = state.feasible(demand)
        cls = request_class(demand)
        if cls == 0:
            scores = np.zeros(state.size, dtype=np.int64)
        else:
            fill = (MAX_SCORE // 4) * (MAX_SPEC_GPU - _gpu_free(state)) // MAX_SPEC_GPU
            has = (state.classes & cls) != 0
            tier = np.where(
                has,
                np.where(state.classes == cls, 3, 2),
                np.where(state.classes == 0, 1, 0),
            )
            scores = tier * (MAX_SCORE // 4) + fill
        node = best_node(state, scores, nodes, rng)
        return None if node is None else state.choice(node, demand)


@dataclass(frozen=True)
class GpuPackingPolicy:
    """Fill used devices first, then free devices on used nodes, then untouched nodes.

    A share that fits on a partly used device scores 100 - (its free %)/10 (at least 50); devices
    that must come whole from a node already in use score 50 - their number (at least 33); a node
    whose devices are all free scores 33 - its device count. Without devices: 0 (random).
    """

    name: str = "gpu-packing"

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        nodes, ok = state.feasible(demand)
        if demand.count == 0:
            node = best_node(state, np.zeros(state.size, dtype=np.int64), nodes, rng)
            return None if node is None else state.choice(node, demand)
        full = (state.dev_free == MILLI).sum(axis=1)
        untouched = full == state.dev_count
        if demand.shared:
            fullest = np.where(ok, state.dev_free, MILLI + 1).min(axis=1, initial=MILLI + 1)
            on_used = np.maximum(MAX_SCORE - (fullest * 100 // MILLI) // 10, MAX_SCORE // 2)
            used_node = np.where(fullest < MILLI, on_used, MAX_SCORE // 2 - 1)
        else:
            used_node = np.full(state.size, max(MAX_SCORE // 2 - demand.count, MAX_SCORE // 3))
        scores = np.where(untouched, np.maximum(MAX_SCORE // 3 - full, full), used_node)
        node = best_node(state, scores.astype(np.int64), nodes, rng)
        return None if node is None else state.choice(node, demand)


@dataclass(frozen=True)
class BestFitPolicy:
    """The node left with the least free CPU and devices: score 100 * (1 - (0.5 * CPU left /
    128 cores + 0.5 * devices left / 8)), truncated (the FGD simulator's weights)."""

    name: str = "best-fit"

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        nodes, _ = state.feasible(demand)
        left = (
            0.5 * (state.cpu_free - demand.cpu) / MAX_SPEC_CPU
            + 0.5 * (_gpu_free(state) - demand.gpu_milli) / MAX_SPEC_GPU
        )
        node = best_node(state, trunc(MAX_SCORE * (1 - left)), nodes, rng)
        return None if node is None else state.choice(node, demand)
