"""A cluster as numpy arrays, so a placement policy scores every node in a few vector operations.

`ClusterState` is the scheduler's own working copy: a cycle's `Cluster` builds it from its nodes
(`Cluster.vectors()`, `from_nodes`) and changes it with its own takes and gives (`change`), the
trace simulator builds it from the node CSV (`from_arrays`) and places with `apply()`. Policies
read it; every change bumps the node's `version`, which is how scoring caches know which nodes
to re-score. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from aicc.scheduler.placement.demand import (
    MILLI,
    OTHER_CLASS,
    SHARE_CLASS,
    Choice,
    Demand,
    demand_of,
    request_class,
    whole_class,
)
from aicc.scheduler.snapshot import DevicePick, NodeView, ReplicaRequest

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
# figures per row, `width` each: an array (rows, width), or (cost, slot) pairs in plain Python
Figures = FloatArray | Sequence[Sequence[float]]

FEW_ROWS = 32  # `StateMemo.figures` looks up this many rows one by one, more as vectors
FEW_FIRST = 512  # `StateMemo.figures` finds each state's first row in Python up to this many
FEW_LOG = 512  # `few_stale` walks at most this many changes (a node changed often counts often)


class StateMemo:
    """Figures remembered per node state (`ClusterState.state_ids`), `width` floats each: nodes
    in one state score alike, so a policy computes a figure once per state, not per node."""

    def __init__(self, width: int) -> None:
        self.values: FloatArray = np.zeros((0, width))
        self.known: BoolArray = np.zeros(0, dtype=np.bool_)
        # `values[number]` as Python floats, once `pairs` has read or computed it
        self.plain: dict[int, tuple[float, ...]] = {}

    def figures(
        self, state: ClusterState, rows: IntArray, compute: Callable[[IntArray], FloatArray]
    ) -> FloatArray:
        """The figures (len(rows), width) of these nodes as they are now: remembered ones looked
        up, the others computed once per state (`compute` of the first row in each) and kept."""
        if len(rows) == 1:  # one changed node, the usual case: no vector work
            number = state.state_id(int(rows[0]))
            self._reserve(state.id_count)
            if not self.known[number]:
                self.values[number] = compute(rows)[0]
                self.known[number] = True
            one: FloatArray = self.values[number : number + 1].copy()
            return one
        if len(rows) <= FEW_ROWS:
            return self._few(state, rows, compute)
        ids = state.state_ids(rows)
        self._reserve(state.id_count)
        missed = (~self.known[ids]).nonzero()[0]
        if 1 < len(missed) <= FEW_FIRST:  # each state's first row, in order, without a sort
            first: dict[int, int] = {}
            for at, number in enumerate(ids[missed].tolist()):
                first.setdefault(number, at)
            if len(first) < len(missed):
                missed = missed[list(first.values())]
        elif len(missed) > 1:
            _, firsts = np.unique(ids[missed], return_index=True)
            if len(firsts) < len(missed):
                missed = missed[np.sort(firsts)]
        if len(missed):
            self.values[ids[missed]] = compute(rows[missed])
            self.known[ids[missed]] = True
        result: FloatArray = self.values[ids]
        return result

    def _few(
        self, state: ClusterState, rows: IntArray, compute: Callable[[IntArray], FloatArray]
    ) -> FloatArray:
        """`figures` of a few rows, looked up one by one (no vector work but the last): the
        same rows computed, in the same order."""
        ids = self.numbers(state, rows.tolist(), lambda few: compute(np.array(few, np.int64)))
        result: FloatArray = self.values[ids]
        return result

    def numbers(
        self,
        state: ClusterState,
        rows: list[int],
        compute: Callable[[list[int]], Figures],
    ) -> list[int]:
        """The state number of each row, every one's figures known (`values[number]`): the
        missing ones computed once per state (`compute` of the first row in each, `width`
        figures per row), in order. Plain Python, `compute` too where it can: a call scores
        about two rows, and numpy's fixed cost per array was most of such a call."""
        ids = [state.state_id(row) for row in rows]
        self._reserve(state.id_count)
        known = self.known
        missed: dict[int, int] = {}  # state number -> its first row
        for row, number in zip(rows, ids, strict=True):
            if not known.item(number) and number not in missed:
                missed[number] = row
        if missed:
            computed = compute(list(missed.values()))
            values = self.values
            for number, figures in zip(missed, computed, strict=True):
                for column, figure in enumerate(figures):
                    values[number, column] = figure
                known[number] = True
        return ids

    def pairs(
        self,
        state: ClusterState,
        rows: list[int],
        compute: Callable[[list[int]], Figures],
    ) -> list[tuple[float, ...]]:
        """`numbers`, read back: each row's figures (`values[number]`) as Python floats, in
        order; the same rows computed. Kept as tuples too (`plain`, by state number: only the
        states this memo was asked for, so a lookup stays in a small table) instead of read
        through numpy from `known` and `values`, which span every state number."""
        numbers, plain = state._state_id, self.plain
        out: list[tuple[float, ...]] = []
        missed: dict[int, int] = {}  # state number -> its first row
        later: list[tuple[int, int]] = []  # (position in `out`, state number) of those
        for row in rows:
            number = numbers.item(row)
            if number < 0:
                number = state.state_id(row)
            figures = plain.get(number)
            if figures is None:
                if number < len(self.known) and self.known.item(number):  # the vector path's
                    figures = plain[number] = tuple(self.values[number].tolist())
                else:
                    figures = ()
                    later.append((len(out), number))
                    if number not in missed:
                        missed[number] = row
            out.append(figures)
        if missed:
            computed = compute(list(missed.values()))
            self._reserve(state.id_count)
            values, known = self.values, self.known
            for number, found in zip(missed, computed, strict=True):
                for column, figure in enumerate(found):
                    values[number, column] = figure
                known[number] = True
                plain[number] = tuple(values[number].tolist())
            for at, number in later:
                out[at] = plain[number]
        return out

    def _reserve(self, count: int) -> None:
        """Room for `count` state numbers."""
        size = len(self.known)
        if size < count:
            grow = max(count, 2 * size, 1024) - size
            self.values = np.concatenate([self.values, np.zeros((grow, self.values.shape[1]))])
            self.known = np.concatenate([self.known, np.zeros(grow, dtype=np.bool_)])

    def forget(self) -> None:
        self.known[:] = False
        self.plain.clear()


class ClusterState:
    """Free and total CPU, memory and devices per node, as arrays (N nodes, D device slots).

    Device slots beyond a node's device count exist in the arrays but are marked absent
    (`dev_exists` false, `dev_free` 0, `dev_model` -1), so every vector expression may ignore
    them. `dev_index` maps a slot to the `DeviceView.index` a `DevicePick` names.
    """

    def __init__(
        self,
        *,
        names: Sequence[str],
        cpu_free: IntArray,
        cpu_total: IntArray,
        mem_free: IntArray,
        mem_total: IntArray,
        dev_free: IntArray,
        dev_index: IntArray,
        dev_model: IntArray,
        dev_mem_free: IntArray,
        dev_mem_total: IntArray,
        models: Sequence[str],
        schedulable: BoolArray | None = None,
        classes: IntArray | None = None,
        shares: BoolArray | None = None,
    ) -> None:
        n = len(names)
        self.names = list(names)
        self.cpu_free = np.asarray(cpu_free, dtype=np.int64).copy()
        self.cpu_total = np.asarray(cpu_total, dtype=np.int64).copy()
        self.mem_free = np.asarray(mem_free, dtype=np.int64).copy()
        self.mem_total = np.asarray(mem_total, dtype=np.int64).copy()
        self.dev_free = np.asarray(dev_free, dtype=np.int64).reshape(n, -1).copy()
        self.dev_index = np.asarray(dev_index, dtype=np.int64).reshape(n, -1).copy()
        self.dev_model = np.asarray(dev_model, dtype=np.int64).reshape(n, -1).copy()
        self.dev_mem_free = np.asarray(dev_mem_free, dtype=np.int64).reshape(n, -1).copy()
        self.dev_mem_total = np.asarray(dev_mem_total, dtype=np.int64).reshape(n, -1).copy()
        self.dev_exists = self.dev_model >= 0
        self.dev_free[~self.dev_exists] = 0
        self.models = tuple(models)
        self.schedulable = (
            np.ones(n, dtype=np.bool_) if schedulable is None else np.asarray(schedulable).copy()
        )
        # False: the node's engine hands out whole devices only (`NodeView.shares`)
        self.shares = np.ones(n, dtype=np.bool_) if shares is None else np.asarray(shares).copy()
        self.dev_count = self.dev_exists.sum(axis=1).astype(np.int64)
        self.classes = (
            np.zeros(n, dtype=np.int64) if classes is None else np.asarray(classes).copy()
        )
        self.version = np.zeros(n, dtype=np.int64)
        self._state_id = np.full(n, -1, dtype=np.int64)  # `state_ids`; -1: not numbered yet
        self._ids: dict[tuple[object, ...], int] = {}
        # per node, a number for what `change` never alters (`state_id`); -1: not yet asked
        self._fixed: list[int] = [-1] * n
        self._fixed_ids: dict[tuple[bytes, bool, bool], int] = {}
        self._log: list[int] = []  # the nodes changed, in order (a `mark` is a length of it)
        self._columns: dict[int, dict[int, int]] = {}  # node -> device index -> slot (`change`)
        self._model_ids = {m.lower(): i for i, m in enumerate(self.models)}
        self._allowed: dict[tuple[str, ...], BoolArray] = {}
        self._model_nodes: dict[tuple[str, ...], BoolArray | bool | None] = {}
        self.caches: dict[Any, Any] = {}  # per-policy scoring caches, keyed by the policy
        self._picks: dict[tuple[int, int, int | None], DevicePick] = {}  # `_pick`
        self.tie_order = None  # ties at random (the property says more)

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_nodes(cls, nodes: Sequence[NodeView]) -> ClusterState:
        """The state of live nodes. Request classes (gpu-clustering) are inferred from device use:
        a partly used device means a share, a fully used one an unknown whole-device request."""
        n = len(nodes)
        d = max((len(node.devices) for node in nodes), default=0)
        models: dict[str, int] = {}
        # rows as lists, padded to `d` devices, made arrays once (cell writes cost more)
        free_rows, index_rows, model_rows, mem_free_rows, mem_total_rows = [], [], [], [], []
        classes = np.zeros(n, dtype=np.int64)
        for i, node in enumerate(nodes):
            pad = [0] * (d - len(node.devices))
            none = [-1] * len(pad)
            free_rows.append([device.free_milli for device in node.devices] + pad)
            index_rows.append([device.index for device in node.devices] + none)
            model_rows.append(
                [models.setdefault(device.model.lower(), len(models)) for device in node.devices]
                + none
            )
            mem_total_rows.append([device.memory_mib for device in node.devices] + pad)
            mem_free_rows.append(
                [
                    device.memory_mib if device.free_memory_mib is None else device.free_memory_mib
                    for device in node.devices
                ]
                + pad
            )
            used = 0
            for device in node.devices:
                if 0 < device.free_milli < MILLI:
                    used |= SHARE_CLASS
                elif device.free_milli <= 0:
                    used |= OTHER_CLASS
            classes[i] = used

        def grid(rows: list[list[int]]) -> IntArray:
            return np.array(rows, dtype=np.int64).reshape(n, d)

        dev_free, dev_index, dev_model = grid(free_rows), grid(index_rows), grid(model_rows)
        dev_mem_free, dev_mem_total = grid(mem_free_rows), grid(mem_total_rows)
        # Models keep the spelling of their first device, for display; matching ignores case.
        spelled: dict[str, str] = {}
        for view in nodes:
            for device in view.devices:
                spelled.setdefault(device.model.lower(), device.model)
        model_names = [spelled[key] for key in models]
        return cls(
            names=[node.name for node in nodes],
            cpu_free=np.array([node.free_cpu_milli for node in nodes], dtype=np.int64),
            cpu_total=np.array(
                [node.total_cpu_milli or node.free_cpu_milli for node in nodes], dtype=np.int64
            ),
            mem_free=np.array([node.free_memory_mib for node in nodes], dtype=np.int64),
            mem_total=np.array(
                [node.total_memory_mib or node.free_memory_mib for node in nodes], dtype=np.int64
            ),
            dev_free=dev_free,
            dev_index=dev_index,
            dev_model=dev_model,
            dev_mem_free=dev_mem_free,
            dev_mem_total=dev_mem_total,
            models=model_names,
            schedulable=np.array([node.schedulable for node in nodes], dtype=np.bool_),
            classes=classes,
            shares=np.array([node.shares for node in nodes], dtype=np.bool_),
        )

    @classmethod
    def from_arrays(
        cls,
        names: Sequence[str],
        cpu_milli: Sequence[int] | IntArray,
        memory_mib: Sequence[int] | IntArray,
        device_count: Sequence[int] | IntArray,
        model: Sequence[str],
    ) -> ClusterState:
        """Empty nodes, each with `device_count` whole devices of one model (a trace node list)."""
        count = np.asarray(device_count, dtype=np.int64)
        n = len(names)
        d = int(count.max()) if n else 0
        present = np.arange(d)[None, :] < count[:, None]
        model_names = sorted({m for m, c in zip(model, count, strict=True) if c > 0 and m})
        ids = {m: i for i, m in enumerate(model_names)}
        node_model = np.array([ids.get(m, -1) for m in model], dtype=np.int64)
        dev_model = np.where(present, node_model[:, None], -1)
        dev_model[node_model < 0] = -1
        cpu = np.asarray(cpu_milli, dtype=np.int64)
        mem = np.asarray(memory_mib, dtype=np.int64)
        return cls(
            names=names,
            cpu_free=cpu,
            cpu_total=cpu,
            mem_free=mem,
            mem_total=mem,
            dev_free=np.where(present, MILLI, 0),
            dev_index=np.where(present, np.arange(d)[None, :], -1),
            dev_model=dev_model,
            dev_mem_free=np.zeros((n, d), dtype=np.int64),
            dev_mem_total=np.zeros((n, d), dtype=np.int64),
            models=model_names,
        )

    def copy(self) -> ClusterState:
        """An independent copy (caches are not shared)."""
        other = ClusterState(
            names=self.names,
            cpu_free=self.cpu_free,
            cpu_total=self.cpu_total,
            mem_free=self.mem_free,
            mem_total=self.mem_total,
            dev_free=self.dev_free,
            dev_index=self.dev_index,
            dev_model=self.dev_model,
            dev_mem_free=self.dev_mem_free,
            dev_mem_total=self.dev_mem_total,
            models=self.models,
            schedulable=self.schedulable,
            classes=self.classes,
            shares=self.shares,
        )
        other.version = self.version.copy()
        other.tie_order = None if self.tie_order is None else self.tie_order.copy()
        return other

    @property
    def tie_order(self) -> IntArray | None:
        """How equal best scores are settled. None (the default): uniformly at random, as
        kube-scheduler does. A permutation of the nodes: the first tied node in that order, as
        the FGD authors' simulator does in effect (it names nodes with a seeded random prefix
        and its scheduler keeps the first of equal scores; their FirstFit plugin relies on it)."""
        return self._tie_order

    @tie_order.setter
    def tie_order(self, order: IntArray | None) -> None:
        self._tie_order = order
        # the live scheduler's order: the first node of a tie is the first in the arrays
        self.ties_in_node_order = order is not None and bool(
            (np.asarray(order) == np.arange(len(order))).all()
        )

    # --- queries --------------------------------------------------------------------------------

    @property
    def mark(self) -> int:
        """A point in the state's history of changes, for `changed_since`."""
        return len(self._log)

    def changed_since(self, mark: int) -> IntArray | None:
        """The nodes changed since `mark` (sorted), or None when that is not cheaper than
        comparing every node's `version` (more changes than one node in 256: the comparison
        costs about a nanosecond a node; or `mark` is -1: unknown)."""
        if mark < 0 or len(self._log) - mark > self.size // 256:
            return None
        result: IntArray = np.array(sorted(set(self._log[mark:])), dtype=np.int64)
        return result

    def stale(self, versions: IntArray, mark: int) -> IntArray:
        """The nodes whose entry in `versions` (a cache's record of the versions it saw, equal
        to the state's at `mark`) is no longer the state's version."""
        few = self.few_stale(versions, mark)
        if few is not None:
            return np.array(few, dtype=np.int64)
        rows = self.changed_since(mark)
        if rows is None:
            changed: IntArray = (versions != self.version).nonzero()[0]
            return changed
        result: IntArray = rows[versions[rows] != self.version[rows]]
        return result

    def few_stale(self, versions: IntArray, mark: int) -> list[int] | None:
        """`stale` as a sorted list, without vector work, when few nodes changed since `mark`
        (at most FEW_LOG changes, on at most FEW_ROWS nodes); else None. As `versions` are
        the state's at `mark` (`stale`'s contract) and every change bumps its node's version,
        these are exactly the nodes changed since `mark`: no version is read."""
        if mark < 0 or len(self._log) - mark > FEW_LOG:
            return None
        changed = set(self._log[mark:])
        if len(changed) > FEW_ROWS:
            return None
        return sorted(changed)

    def state_ids(self, rows: IntArray) -> IntArray:
        """Per row, a number equal for nodes in the same state: devices (models, free shares and
        memory), free CPU and memory, whether it is schedulable and shares devices. Nodes of one
        number score alike under any policy that reads only these. Numbered when first asked,
        once per change of a node; `id_count` numbers are in use."""
        ids = self._state_id[rows]
        for j in (ids < 0).nonzero()[0].tolist():
            ids[j] = self.state_id(int(rows[j]))
        return ids

    def state_id(self, row: int) -> int:
        """`state_ids` of one node, as a plain int."""
        number: int = self._state_id.item(row)
        if number < 0:
            fixed = self._fixed[row]
            if fixed < 0:  # what no change alters: device models, schedulable, sharing
                what = (
                    self.dev_model[row].tobytes(),
                    bool(self.schedulable.item(row)),
                    bool(self.shares.item(row)),
                )
                fixed = self._fixed[row] = self._fixed_ids.setdefault(what, len(self._fixed_ids))
            key = (
                fixed,
                self.dev_free[row].tobytes(),
                self.dev_mem_free[row].tobytes(),
                self.cpu_free.item(row),  # plain scalars: no numpy scalar on the way
                self.mem_free.item(row),
            )
            number = self._state_id[row] = self._ids.setdefault(key, len(self._ids))
        return number

    @property
    def id_count(self) -> int:
        return len(self._ids)

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def gpu_capacity_milli(self) -> int:
        return int(self.dev_count.sum()) * MILLI

    @property
    def gpu_free_milli(self) -> int:
        return int(self.dev_free.sum())

    def model_ids(self, models: tuple[str, ...]) -> list[int]:
        return [self._model_ids[m] for m in models if m in self._model_ids]

    def model_nodes(self, models: tuple[str, ...]) -> BoolArray | bool | None:
        """The nodes whose devices are of these models, where every node's devices are of one
        model: True when that is every node with devices, else a mask; None where some node
        mixes models. There a replica restricted to `models` fits and scores as one of any
        model (the same devices are allowed), and fits nowhere else."""
        found = self._model_nodes.get(models, False)
        if found is False:
            found = self._model_nodes[models] = self._models_of_nodes(models)
        return found

    def _models_of_nodes(self, models: tuple[str, ...]) -> BoolArray | bool | None:
        model = np.where(self.dev_exists, self.dev_model, -1)
        first = model.max(axis=1) if model.shape[1] else np.full(self.size, -1)
        if (self.dev_exists & (self.dev_model != first[:, None])).any():
            return None  # a node with devices of two models
        ids = self.model_ids(models)
        if set(ids) >= set(first[first >= 0].tolist()):
            return True
        mask: BoolArray = np.isin(first, ids) & (first >= 0)
        return mask

    def allowed(self, models: tuple[str, ...] | None) -> BoolArray:
        """Device slots of an acceptable model (all present devices when `models` is None)."""
        if models is None:
            return self.dev_exists
        mask = self._allowed.get(models)
        if mask is None:
            mask = np.isin(self.dev_model, self.model_ids(models)) & self.dev_exists
            self._allowed[models] = mask
        return mask

    def device_ok(self, demand: Demand, rows: IntArray | slice | int = slice(None)) -> BoolArray:
        """Per device slot (of the given rows, or of one node): could this device hold the
        replica's share?"""
        allowed = self.allowed(demand.models)[rows]
        free = self.dev_free[rows]
        if demand.shared:
            ok = allowed & (free >= demand.milli)
            if demand.dev_mem:
                ok &= self.dev_mem_free[rows] >= demand.dev_mem
            return ok
        return allowed & (free >= MILLI)

    def feasible(
        self, demand: Demand, rows: IntArray | slice = slice(None)
    ) -> tuple[BoolArray, BoolArray]:
        """(node mask, device mask) of the given rows: where the replica fits right now."""
        nodes = (
            self.schedulable[rows]
            & (self.cpu_free[rows] >= demand.cpu)
            & (self.mem_free[rows] >= demand.mem)
        )
        if demand.count == 0:
            return nodes, np.zeros(self.dev_free[rows].shape, dtype=np.bool_)
        if demand.shared:
            nodes &= self.shares[rows]
        ok = self.device_ok(demand, rows)
        return nodes & (np.add.reduce(ok, axis=1) >= demand.count), ok

    def picks(self, node: int, demand: Demand, column: int | None = None) -> tuple[DevicePick, ...]:
        """The devices a replica takes on `node`: the given slot for a share (else the fullest
        device that holds it), the lowest free slots for whole devices."""
        if demand.count == 0:
            return ()
        if demand.shared and column is not None:
            at = (node, column)
            mem = demand.dev_mem or None
            fits = self.allowed(demand.models).item(at) and self.dev_free.item(at) >= demand.milli
            if not fits or (mem and self.dev_mem_free.item(at) < mem):
                raise ValueError("the chosen device cannot hold this share")
            return (self._pick(self.dev_index.item(at), demand.milli, mem),)
        if not demand.shared:  # the lowest free slots, in plain Python
            allowed = self.allowed(demand.models)
            index: list[int] = self.dev_index[node].tolist()
            picks = []
            for c, free in enumerate(self.dev_free[node].tolist()):
                if free >= MILLI and allowed.item(node, c):
                    picks.append(self._pick(index[c], MILLI, None))
                    if len(picks) == demand.count:
                        return tuple(picks)
            raise ValueError("not enough free devices on the chosen node")
        ok = self.device_ok(demand, node)
        if column is None:
            free = np.where(ok, self.dev_free[node], MILLI + 1)
            column = int(np.argmin(free))
        if not ok[column]:
            raise ValueError("the chosen device cannot hold this share")
        mem = demand.dev_mem or None
        return (DevicePick(int(self.dev_index[node, column]), demand.milli, mem),)

    def _pick(self, index: int, milli: int, memory_mib: int | None) -> DevicePick:
        """`DevicePick(index, milli, memory_mib)`, one object per distinct value: picks are
        frozen and compared by value, and a cycle makes one per device it places on."""
        key = (index, milli, memory_mib)
        found = self._picks.get(key)
        if found is None:
            found = self._picks[key] = DevicePick(index, milli, memory_mib)
        return found

    def choice(self, node: int, demand: Demand, column: int | None = None) -> Choice:
        return Choice(node, self.names[node], self.picks(node, demand, column))

    # --- the one mutation -----------------------------------------------------------------------

    def apply(self, choice: Choice, request: ReplicaRequest | Demand) -> None:
        """Take the replica's resources on the chosen node and devices.

        Raises ValueError, changing nothing, if they are not free: the state never over-commits.
        """
        demand = request if isinstance(request, Demand) else demand_of(request)
        node = choice.node
        if not self.schedulable[node]:
            raise ValueError(f"node {self.names[node]} is not schedulable")
        if self.cpu_free[node] < demand.cpu or self.mem_free[node] < demand.mem:
            raise ValueError(f"not enough CPU or memory on {self.names[node]}")
        if len(choice.devices) != demand.count:
            raise ValueError(f"{demand.count} devices asked, {len(choice.devices)} picked")
        columns = []
        allowed = self.allowed(demand.models)[node]
        for pick in choice.devices:
            hits = np.flatnonzero(self.dev_index[node] == pick.index)
            if len(hits) != 1:
                raise ValueError(f"no device {pick.index} on {self.names[node]}")
            column = int(hits[0])
            need = demand.milli
            if pick.milli != need or not allowed[column] or self.dev_free[node, column] < need:
                raise ValueError(f"device {pick.index} on {self.names[node]} cannot take {need}m")
            if pick.memory_mib and self.dev_mem_free[node, column] < pick.memory_mib:
                raise ValueError(f"not enough device memory on device {pick.index}")
            columns.append(column)
        if len(set(columns)) != len(columns):
            raise ValueError("a device was picked twice")
        self.cpu_free[node] -= demand.cpu
        self.mem_free[node] -= demand.mem
        for pick, column in zip(choice.devices, columns, strict=True):
            self.dev_free[node, column] -= pick.milli
            if pick.memory_mib:
                self.dev_mem_free[node, column] -= pick.memory_mib
        self.classes[node] |= request_class(demand)
        self._changed(node)

    def _changed(self, node: int) -> None:
        self.version[node] += 1
        self._state_id[node] = -1
        self._log.append(node)

    def change(
        self, node: int, cpu_milli: int, memory_mib: int, picks: Sequence[DevicePick], sign: int
    ) -> None:
        """Take (`sign` -1) or give back (+1) capacity on one node, unchecked: for the state's
        owner, the scheduler's `Cluster`, which checks and changes its nodes alike.

        MIG slices (`mig_slice` set) and devices the node no longer has change only CPU and
        memory, as in the `Cluster`. Request classes gain the taken request's class; a give
        re-infers them from device use, as `from_nodes` does.
        """
        self.cpu_free[node] += sign * cpu_milli
        self.mem_free[node] += sign * memory_mib
        shared = False
        count = 0
        columns = self._columns.get(node)
        if columns is None:
            indices = self.dev_index[node].tolist()
            columns = self._columns[node] = {ix: c for c, ix in enumerate(indices) if ix >= 0}
        for pick in picks:
            column = columns.get(pick.index)
            if pick.mig_slice is not None or column is None:
                continue
            self.dev_free[node, column] += sign * pick.milli
            if pick.memory_mib is not None:
                self.dev_mem_free[node, column] += sign * pick.memory_mib
            shared |= pick.milli < MILLI
            count += 1
        if sign < 0 and count:
            self.classes[node] |= SHARE_CLASS if shared else whole_class(count)
        elif sign > 0 and count:
            row = self.dev_free[node][self.dev_exists[node]]
            inferred = (SHARE_CLASS if ((row > 0) & (row < MILLI)).any() else 0) | (
                OTHER_CLASS if (row <= 0).any() else 0
            )
            self.classes[node] = inferred
        self._changed(node)
