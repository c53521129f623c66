"""Node scoring for placement: the `Scorer` protocol and the simple scorers.

A profile weights its scorers; the placement walks the node index in the profile's order
(fullest first for packing, emptiest first for spreading), takes the first `sample` nodes where
the replica fits, and keeps the one with the highest weighted score (the first found on a tie).
Other policies (the placement package's `fgd` and friends) plug in through the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aicc.scheduler.snapshot import DevicePick, NodeView, ReplicaRequest

MILLI = 1000


class Scorer(Protocol):
    """Scores one node for one replica: higher is better, ideally in [0, 1].

    `node` shows the node's free capacity *before* the replica; `picks` are the devices the
    replica would take there. Must be pure and must not change `node`.
    """

    @property
    def name(self) -> str: ...

    def score(
        self, node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]
    ) -> float: ...


def allocated_after(
    node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]
) -> float:
    """The share of the node in use once the replica is placed: of its devices when the replica
    takes devices, else of its CPU."""
    if picks and node.devices:
        free = sum(d.free_milli for d in node.devices) - sum(p.milli for p in picks)
        return 1.0 - free / (MILLI * len(node.devices))
    total = node.total_cpu_milli or node.free_cpu_milli or 1
    return 1.0 - (node.free_cpu_milli - request.cpu_milli) / total


@dataclass(frozen=True)
class Packing:
    """Most-allocated: fill busy nodes first, keeping whole nodes free for large jobs."""

    name: str = "packing"

    def score(
        self, node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]
    ) -> float:
        return allocated_after(node, request, picks)


@dataclass(frozen=True)
class Spread:
    """Least-allocated: spread load (and failure blast radius) over nodes."""

    name: str = "spread"

    def score(
        self, node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]
    ) -> float:
        return 1.0 - allocated_after(node, request, picks)


def packing(args: Mapping[str, Any]) -> Scorer:
    return Packing()


def spread(args: Mapping[str, Any]) -> Scorer:
    return Spread()
