"""What one cycle derives from a running job's placement, kept for the next cycle.

A cycle starts from a snapshot and derives, for every running job, what it holds against the
quotas (`quota.placed_demand`) and what it would give back node by node were it preempted. A
job that keeps running keeps its placement, so a caller that runs cycle after cycle (the trace
simulator; a server that keeps its job views between cycles) may hand `schedule()` a `Memo` to
skip that work. An entry is used only while the job's view is the very object it was derived
from (the memo holds it, so its id is never reused), and all entries go when a node changes
its name, order or device models, or the tenants change: decisions are the same with or
without a memo. Pure: plain objects, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aicc.scheduler.cluster import Amount
from aicc.scheduler.quota import Amounts, placed_demand
from aicc.scheduler.snapshot import JobView, NodeView, Snapshot


class Held:
    """One running job's share of the cycle: its demand, and (once preemption asks) what it
    gives back on each node (`amounts`, by node index) and the governed resources it holds."""

    __slots__ = ("amounts", "demand", "keys", "view")

    def __init__(self, view: JobView, demand: Amounts) -> None:
        self.view = view
        self.demand = demand
        self.amounts: tuple[tuple[int, Amount], ...] | None = None
        self.keys: frozenset[str] | None = None

    def parts(
        self, index: dict[str, int], governed: frozenset[str]
    ) -> tuple[tuple[tuple[int, Amount], ...], frozenset[str]]:
        if self.amounts is None or self.keys is None:
            r = self.view.request
            self.amounts = tuple(
                (index[p.node], Amount(r.cpu_milli, r.memory_mib, p.devices))
                for p in self.view.placements
                if p.node in index
            )
            self.keys = frozenset(k for k, v in self.demand.items() if v > 0 and k in governed)
        return self.amounts, self.keys


class Memo:
    """Entries by job id, for the jobs running in the last cycle (module docstring)."""

    def __init__(self) -> None:
        self.nodes: Sequence[NodeView] = ()
        self.tenants: object = None
        self._held: dict[str, Held] = {}

    def held(
        self, snapshot: Snapshot, model_of: Callable[[str, int], str | None]
    ) -> dict[str, Held]:
        """The snapshot's running jobs' entries, kept for the next cycle."""
        if snapshot.tenants is not self.tenants or not _same_layout(self.nodes, snapshot.nodes):
            self._held = {}
        self.nodes, self.tenants = snapshot.nodes, snapshot.tenants
        self._held = held_of(snapshot.running, self._held, model_of)
        return self._held


def held_of(
    running: Sequence[JobView],
    known: dict[str, Held],
    model_of: Callable[[str, int], str | None],
) -> dict[str, Held]:
    """Every running job's entry: from `known` when its view is unchanged, else derived."""
    out: dict[str, Held] = {}
    for job in running:
        entry = known.get(job.id)
        if entry is None or entry.view is not job:
            entry = Held(job, placed_demand(job.request, job.placements, model_of))
        out[job.id] = entry
    return out


def _same_layout(old: Sequence[NodeView], new: Sequence[NodeView]) -> bool:
    """Same node names in the same order, with devices of the same models at the same
    indexes (what placed demands and node indexes depend on)."""
    if len(old) != len(new):
        return False
    for a, b in zip(old, new, strict=True):
        if a is b:
            continue
        if a.name != b.name or len(a.devices) != len(b.devices):
            return False
        if any(
            x.index != y.index or x.model != y.model
            for x, y in zip(a.devices, b.devices, strict=True)
        ):
            return False
    return True
