"""What every placement policy shares: the interface and the tie-break among equal scores."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from aicc.scheduler.placement.demand import Choice, Demand
from aicc.scheduler.placement.state import BoolArray, ClusterState, FloatArray, IntArray

MAX_SPEC_CPU = 128_000  # milli-cores of the largest node the FGD baselines normalize by
MAX_SPEC_GPU = 8_000  # milli-devices of the largest node (8 devices)
MAX_SCORE = 100  # kube-scheduler's node scores are integers 0..100


class Policy(Protocol):
    """Places one replica. Returns None when no node can take it; never changes the state."""

    @property
    def name(self) -> str: ...

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None: ...


def random_among(rng: np.random.Generator, candidates: IntArray) -> int:
    """One of the candidates, uniformly at random."""
    if len(candidates) == 1:
        return int(candidates[0])
    return int(candidates[int(rng.integers(len(candidates)))])


def pick_tied(state: ClusterState, rng: np.random.Generator, candidates: IntArray) -> int:
    """One of equally good nodes: uniformly at random, as kube-scheduler does, unless the state
    carries a `tie_order`, then the first of them in that order (see `ClusterState.tie_order`)."""
    if state.tie_order is not None and len(candidates) > 1:
        return int(candidates[int(np.argmin(state.tie_order[candidates]))])
    return random_among(rng, candidates)


def cheapest(state: ClusterState, cost: FloatArray, rng: np.random.Generator) -> int | None:
    """A node of the lowest finite cost, ties broken by `pick_tied`; None if every cost is
    infinite."""
    if state.ties_in_node_order:  # the first of the lowest: no need to gather the ties
        node = int(cost.argmin())
        return node if math.isfinite(cost.item(node)) else None
    best = cost.min()
    if not np.isfinite(best):
        return None
    return pick_tied(state, rng, np.flatnonzero(cost == best))


def best_node(
    state: ClusterState, scores: IntArray, feasible: BoolArray, rng: np.random.Generator
) -> int | None:
    """A feasible node of the highest score, ties broken by `pick_tied`; None if none fits."""
    nodes = np.flatnonzero(feasible)
    if len(nodes) == 0:
        return None
    values = scores[nodes]
    return pick_tied(state, rng, nodes[values == values.max()])


def trunc(values: FloatArray) -> IntArray:
    """Go's int64(float): truncation toward zero, as the FGD simulator's scores are computed."""
    result: IntArray = np.trunc(values).astype(np.int64)
    return result
