"""Data locality: prefer the nodes whose data cache already holds a job's data sets, and whose
image storage its image, so the job starts without fetching them and leaves the network to
others.

The snapshot carries, per waiting job, the share of the bytes it needs that each node holds
(`ReplicaRequest.data`, from what the server recorded as it filled the nodes' caches and
launched images there). A job without data sets or image, or whose bytes no node holds yet,
scores 0 everywhere: its placement is what
it was without this plugin. Pure. Registered as the scorer `data_locality`; the `indexed`
walk (indexed.py) samples the nodes that hold a job's data first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aicc.scheduler.plugins.score import Scorer
from aicc.scheduler.snapshot import DevicePick, NodeView, ReplicaRequest


@dataclass(frozen=True)
class DataLocality:
    """The share of the job's data sets (bytes) that the node's cache holds, 0 to 1."""

    name: str = "data_locality"

    def score(
        self, node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]
    ) -> float:
        return next((share for name, share in request.data if name == node.name), 0.0)


def data_locality(args: Mapping[str, Any]) -> Scorer:
    return DataLocality()
