"""Fragmentation gradient descent (FGD, USENIX ATC'23): place a replica where the cluster's
expected fragmentation grows least.

Scores are cached per (node, request shape): a placement changes one node, so the next replica
of a shape re-scores only the nodes that changed since that shape was last placed (`version`),
and each node's own fragmentation is cached the same way. Until the first reweight, scores are
also remembered per node state (`ClusterState.state_ids`): a changed node whose state some node
was in before takes the score computed then. A center of alike nodes, filled one replica at a
time, revisits few states (the scheduler benchmark: about four in five re-scored nodes). A table
catches up on a few changes in plain Python (`_update_few`), on many as vectors (`_update`).
Where every node's devices are of one model, a replica restricted to some models reads the
table of its shape for any model, with infinity on the nodes of other models
(`ClusterState.model_nodes`): the same costs where it fits, one table less to keep up.

A new task mix over known shapes (`reweight`: the live scheduler's workload changes with every
job, and the simulator offers each arrival to a fresh cycle's view) changes every node's score.
From the first reweight on, each shape's table also keeps the weight-free parts of its
candidates (`FragModel.parts`), so a choice after a reweight is a weighted sum per node rather
than a new scan of every device; the kept parts are bounded (`PARTS_BUDGET`), least recently
used first out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from aicc.scheduler.placement.base import MAX_SCORE, cheapest
from aicc.scheduler.placement.demand import MILLI, Choice, Demand
from aicc.scheduler.placement.few import FEW, FewScorer, Row, best
from aicc.scheduler.placement.frag import CHUNK, FragModel
from aicc.scheduler.placement.state import (
    BoolArray,
    ClusterState,
    Figures,
    FloatArray,
    IntArray,
    StateMemo,
)
from aicc.scheduler.placement.task_mix import TaskMix
from aicc.scheduler.snapshot import DevicePick

MAX_SHAPES = 4096  # cached request shapes per state before the tables start over
PARTS_BUDGET = 32_000_000  # candidate parts kept per state after a reweight (float32: 128 MB)


@dataclass
class _Table:
    """Per node, for one request shape: cost (lower is better, inf where it does not fit), the
    device slot of a share, and the node version scored.
    After a reweight also the weights the costs were computed with and the candidates' group
    capacities (`FragModel.group_capacity`, (N, C, G); exact integers, so float32 loses
    nothing)."""

    cost: FloatArray
    column: IntArray
    version: IntArray
    weights: int = 0
    ce: npt.NDArray[np.float32] | None = None
    mark: int = -1  # the state's `mark` when `version` last matched it (-1: unknown)
    # until a reweight: cost and slot per node state (`ClusterState.state_ids`)
    memo: StateMemo = field(default_factory=lambda: StateMemo(2))

    @classmethod
    def empty(cls, n: int) -> _Table:
        return cls(
            np.full(n, np.inf),
            np.full(n, -1, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
        )


@dataclass
class _Cache:
    frag: FragModel
    tables: dict[Demand, _Table] = field(default_factory=dict)  # least recently used first
    weights: int = 0  # the policy's reweights applied to `frag`
    keep_parts: bool = False  # from the first reweight on
    kept: int = 0  # elements of the tables' `ce`
    few: FewScorer | None = None  # scoring a few nodes in plain Python (`few.py`), once asked
    plain: bool | None = None  # the policy's `_row_costs_match`, once asked
    any_model: dict[Demand, Demand] = field(default_factory=dict)  # the shape, models None
    elsewhere: dict[tuple[str, ...], FloatArray] = field(default_factory=dict)  # inf off models


@dataclass
class Candidates:
    """The placements of one replica on K feasible nodes: C candidates per node (one per device
    slot for a share, else one), with the fragmentation increase of each."""

    rows: IntArray  # (K,) node indices
    valid: BoolArray  # (K, C)
    delta: FloatArray  # (K, C) fragmentation increase, milli-devices (inf where not valid)
    after: IntArray  # (K, C, D) device free shares after the placement
    cpu_after: IntArray  # (K,)
    mem_after: IntArray  # (K,)
    ce: FloatArray  # (K, C, G) the weight-free group capacities of the placements


@dataclass(eq=False)
class FGDPolicy:
    """Pick the node and device that increase the expected fragmentation least; random among ties.

    `integer_scores` (the default) scores as the authors' Kubernetes plugin does: kube-scheduler
    node scores are integers, 100 * sigmoid(-delta / 1000) truncated, so placements whose
    increase differs by less than a few hundredths of a device tie and are chosen among at
    random (a share takes the first device of the best integer score). On the openb trace this
    rounding is worth +0.5 point of allocation over exact scores (94.6 -> 95.1), and is what
    reproduces the published FGD figure. `memory` counts memory in whether a task shape fits a
    node (our protocol; the authors' simulator ignores it).
    """

    workload: TaskMix
    memory: bool = True
    integer_scores: bool = True
    name: str = "fgd"

    def __post_init__(self) -> None:
        self._shapes = frozenset(s for s in self.workload.shapes if s.count)
        self._weights = 0

    def reweight(self, workload: TaskMix) -> bool:
        """Score against `workload` from now on. False (and no change) when it has a
        device-using shape this policy was not built with: build a new policy then."""
        if not all(s in self._shapes for s in workload.shapes if s.count):
            return False
        self.workload = workload
        self._weights += 1
        return True

    def _cache(self, state: ClusterState) -> _Cache:
        cache = state.caches.get(self)
        if cache is None:
            cache = _Cache(
                FragModel(self.workload, state, memory=self.memory), weights=self._weights
            )
            state.caches[self] = cache
        assert isinstance(cache, _Cache)
        if cache.weights != self._weights:
            reweighted = cache.frag.reweight(self.workload)
            assert reweighted  # the model was built with every shape the policy accepts
            cache.weights = self._weights
            cache.keep_parts = True
        return cache

    def frag_model(self, state: ClusterState) -> FragModel:
        return self._cache(state).frag

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        spot = self.spot(state, demand, rng)
        return None if spot is None else Choice(spot[0], state.names[spot[0]], spot[1])

    def spot(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> tuple[int, tuple[DevicePick, ...]] | None:
        """`choose`'s node and devices, without a `Choice` (the cycle's placer, per replica)."""
        cache = self._cache(state)
        scored, elsewhere = demand, None
        if demand.models is not None and demand.count:
            nodes = state.model_nodes(demand.models)
            if nodes is not None:  # the table of any model, read where the models are
                scored = cache.any_model.get(demand) or cache.any_model.setdefault(
                    demand, replace(demand, models=None)
                )
                if nodes is not True:
                    elsewhere = cache.elsewhere.get(demand.models)
                    if elsewhere is None:
                        elsewhere = np.where(nodes, 0.0, np.inf)
                        cache.elsewhere[demand.models] = elsewhere
        table = self._table(state, scored, cache)
        # + inf where the models are not: one vector operation; finite costs stay as they are
        cost = table.cost if elsewhere is None else table.cost + elsewhere
        node = cheapest(state, cost, rng)
        if node is None:
            return None
        column = table.column.item(node) if demand.shared else None
        return node, state.picks(node, demand, column)

    def _table(self, state: ClusterState, demand: Demand, cache: _Cache) -> _Table:
        """The shape's table, up to date."""
        table = cache.tables.get(demand)
        if table is None:
            if len(cache.tables) >= MAX_SHAPES:
                cache.tables.clear()
                cache.kept = 0
            table = cache.tables[demand] = _Table.empty(state.size)
        if cache.keep_parts:
            self._rescore(state, demand, table, cache)
            return table
        few = state.few_stale(table.version, table.mark)
        if few is None:
            stale = state.stale(table.version, table.mark)
            if len(stale):
                self._update(state, demand, table, cache, stale)
        elif few:
            self._update_few(state, demand, table, cache, few)
        table.mark = state.mark
        return table

    def _update(
        self, state: ClusterState, demand: Demand, table: _Table, cache: _Cache, stale: IntArray
    ) -> None:
        """Re-score the stale nodes. While the weights stand, a node's score depends only on its
        state, so a node in a state some node was in before takes the score it had then: a
        center of alike nodes filled one replica at a time revisits few states. A few nodes
        are scored in plain Python where the policy allows it (`few.py`), with the same costs."""

        def scored(rows: IntArray) -> FloatArray:
            return self._scored(state, demand, cache, rows)

        table.cost[stale], table.column[stale] = table.memo.figures(state, stale, scored).T
        table.version[stale] = state.version[stale]

    def _update_few(
        self, state: ClusterState, demand: Demand, table: _Table, cache: _Cache, stale: list[int]
    ) -> None:
        """`_update` of a few stale nodes (`ClusterState.few_stale`), the usual case after a
        bind, in plain Python: the same figures, without numpy's fixed cost per array."""

        def scored(rows: list[int]) -> Figures:
            few = self._few(state, cache) if len(rows) <= FEW else None
            if few is None:
                return self._scored(state, demand, cache, np.array(rows, dtype=np.int64))
            found = few.rows(state, demand, rows)  # `_scored`'s plain path, without arrays
            cost, slot = best(found, lambda row: self.row_costs(state, demand, row))
            return list(zip(cost, slot, strict=True))

        pairs = table.memo.pairs(state, stale, scored)
        cost, column = table.cost, table.column
        version, now = table.version, state.version
        for row, (value, slot) in zip(stale, pairs, strict=True):
            cost[row] = value
            column[row] = int(slot)
            version[row] = now.item(row)

    def _scored(
        self, state: ClusterState, demand: Demand, cache: _Cache, rows: IntArray
    ) -> FloatArray:
        """(cost, slot) of each of these nodes, (len(rows), 2): a few in plain Python where the
        policy allows it (`few.py`), else as vectors."""
        cost: Sequence[float] | FloatArray
        slot: Sequence[int] | IntArray
        few = self._few(state, cache) if len(rows) <= FEW else None
        if few is not None:
            found = few.rows(state, demand, rows)
            cost, slot = best(found, lambda row: self.row_costs(state, demand, row))
        else:
            cost, slot = self.score(state, demand, rows, cache.frag)[:2]
        result: FloatArray = np.empty((len(rows), 2))
        result[:, 0], result[:, 1] = cost, slot
        return result

    def _few(self, state: ClusterState, cache: _Cache) -> FewScorer | None:
        """The plain-Python scorer, where this policy gives `row_costs` for its `costs` and the
        cluster's nodes are each of one model; else None."""
        if cache.plain is None:
            cache.plain = self._row_costs_match()
        if not cache.plain:
            return None
        if cache.few is None:
            cache.few = FewScorer(cache.frag, state)
        return cache.few if cache.few.usable(state) else None

    def _row_costs_match(self) -> bool:
        """Whether the class that defines `costs` also defines `row_costs` (a subclass that
        changes one changes both), and plain FGD scores exactly (no integer scores)."""
        for klass in type(self).__mro__:
            if "costs" in vars(klass):
                if "row_costs" not in vars(klass):
                    return False
                return klass is not FGDPolicy or not self.integer_scores
        return False

    def _rescore(self, state: ClusterState, demand: Demand, table: _Table, cache: _Cache) -> None:
        """Bring a table up to date keeping its candidates' parts: re-score the nodes changed
        since, or after a reweight every node, from the kept parts."""
        frag = cache.frag
        cache.tables[demand] = cache.tables.pop(demand)  # most recently used last
        if table.ce is None:
            width = state.dev_free.shape[1] if demand.shared else 1
            shape = (state.size, width, len(frag.g_milli))
            table.ce = np.zeros(shape, dtype=np.float32)
            table.version[:] = -1
            table.mark = -1
            cache.kept += table.ce.size
            for other in cache.tables.values():  # least recently used first
                if cache.kept <= PARTS_BUDGET or other is table:
                    break
                if other.ce is not None:
                    cache.kept -= other.ce.size
                    other.ce = None
                    other.version[:] = -1
                    other.mark = -1
        stale = state.stale(table.version, table.mark)
        table.mark = state.mark
        if table.weights != frag.weights_version:
            rows = np.arange(state.size)
            table.weights = frag.weights_version
        elif len(stale):
            rows = stale
        else:
            return
        kept = np.ones(state.size, dtype=np.bool_)
        kept[stale] = False
        cost, slot, ce = self.score(state, demand, rows, frag, table.ce, kept[rows])
        table.cost[rows], table.column[rows] = cost, slot
        if ce is not None:
            table.ce[ce[0]] = ce[1]
        table.version[stale] = state.version[stale]

    # --- scoring ----------------------------------------------------------------------------------

    def score(
        self,
        state: ClusterState,
        demand: Demand,
        rows: IntArray,
        frag: FragModel,
        kept: npt.NDArray[np.float32] | None = None,
        known: BoolArray | None = None,
    ) -> tuple[FloatArray, IntArray, tuple[IntArray, FloatArray] | None]:
        """(cost, device slot) of the given nodes for this request shape, and the parts of
        its candidates (their rows, their group capacities). `kept`: the table's kept parts,
        up to date for the rows where `known` is true (the others' are computed)."""
        cand = candidates(state, demand, rows, frag, kept, known)
        if cand is None:
            return (*best_of(rows, None, None), None)
        return (*best_of(rows, cand.rows, self.costs(state, demand, cand)), (cand.rows, cand.ce))

    def costs(self, state: ClusterState, demand: Demand, cand: Candidates) -> FloatArray:
        """The cost (K, C) of each candidate, lower is better: its fragmentation increase (as
        kube-scheduler's integer score with `integer_scores`). A subclass adds its terms here."""
        if not self.integer_scores:
            return cand.delta
        scores: FloatArray = np.where(cand.valid, -integer_score(cand.delta), 1).astype(np.float64)
        return scores

    def row_costs(self, state: ClusterState, demand: Demand, row: Row) -> list[float]:
        """`costs` of one node's candidates (`few.Row`), exact scores only: the same floats."""
        return row.delta


def best_of(
    rows: IntArray, feasible: IntArray | None, values: FloatArray | None
) -> tuple[FloatArray, IntArray]:
    """(cost, slot) per row from the costs (K, C) of the candidates on the feasible rows
    (sorted, among `rows`): each row's cheapest candidate; inf and -1 where none fits."""
    if feasible is None or values is None:
        return np.full(len(rows), np.inf), np.full(len(rows), -1, dtype=np.int64)
    best = values.argmin(axis=1)
    lowest = values[np.arange(len(best)), best]
    if len(feasible) == len(rows):
        return lowest, best
    cost, column = np.full(len(rows), np.inf), np.full(len(rows), -1, dtype=np.int64)
    at = np.searchsorted(rows, feasible)
    cost[at], column[at] = lowest, best
    return cost, column


def integer_score(delta: FloatArray) -> IntArray:
    """kube-scheduler's integer node score of a fragmentation increase (FGD's plugin)."""
    x = np.clip(delta / MILLI, -700.0, 700.0)
    result: IntArray = np.trunc(MAX_SCORE / (1.0 + np.exp(x))).astype(np.int64)
    return result


def candidates(
    state: ClusterState,
    demand: Demand,
    rows: IntArray,
    frag: FragModel,
    kept: npt.NDArray[np.float32] | None = None,
    known: BoolArray | None = None,
) -> Candidates | None:
    """Every placement of the replica on the feasible nodes among `rows`, and its fragmentation
    increase. None when the replica fits none of them. `kept` (per node, (N, C, G)): group
    capacities already known for the rows where `known` is true."""
    nodes, ok = state.feasible(demand, rows)
    if nodes.all():
        keep: IntArray | slice = slice(None)
    elif nodes.any():
        keep = nodes.nonzero()[0]
        rows, ok = rows[keep], ok[keep]
    else:
        return None
    dev = state.dev_free[rows]
    cpu = state.cpu_free[rows] - demand.cpu
    mem = state.mem_free[rows] - demand.mem
    if demand.shared:
        after = dev[:, None, :] - _share_matrix(dev.shape[1], demand.milli)
        valid = ok
    elif demand.count:
        take = ok & (ok.cumsum(axis=1) <= demand.count)
        after = (dev - take * MILLI)[:, None, :]
        valid = np.ones((len(rows), 1), dtype=np.bool_)
    else:
        after = dev[:, None, :]
        valid = np.ones((len(rows), 1), dtype=np.bool_)
    if kept is None or known is None:
        before = frag.current(state, rows)
        ce = _group_capacity(frag, rows, after)
    else:
        before = frag.refresh(state)[rows]
        up_to_date = known[keep]
        ce = kept[rows].astype(np.float64)
        if not up_to_date.all():
            fresh = (~up_to_date).nonzero()[0]
            ce[fresh] = _group_capacity(frag, rows[fresh], after[fresh])
    idle = np.add.reduce(after, axis=2).astype(np.float64)
    # Rounded so that float noise cannot split states whose fragmentation is equal.
    delta = (frag.combine(idle, ce, frag.fits(cpu, mem)) - before[:, None]).round(6)
    delta = np.where(valid, delta, np.inf)
    return Candidates(rows, valid, delta, after, cpu, mem, ce)


@functools.lru_cache(maxsize=256)
def _share_matrix(width: int, milli: int) -> IntArray:
    """(1, width, width): candidate c takes `milli` from device slot c."""
    result: IntArray = (milli * np.eye(width, dtype=np.int64))[None]
    return result


def _group_capacity(frag: FragModel, rows: IntArray, after: IntArray) -> FloatArray:
    """`FragModel.group_capacity` in passes of bounded size."""
    k, c, _ = after.shape
    if k * c <= CHUNK:
        return frag.group_capacity(rows, after)
    out = np.empty((k, c, len(frag.g_milli)), dtype=np.float64)
    step = max(1, CHUNK // max(c, 1))
    for start in range(0, k, step):
        sl = slice(start, start + step)
        out[sl] = frag.group_capacity(rows[sl], after[sl])
    return out
