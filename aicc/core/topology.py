"""Nodes, their devices and where they sit (site / cluster / pool / rack / node).

A device is real (found by NVML or an engine) or `simulated` (a fixture, docs/contracts.md §8);
simulated devices schedule like real ones but never count as a center's real capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

TOPOLOGY_KEYS = ("site", "cluster", "pool", "rack")
# A node label its executor sets when its engine hands out whole devices only (Slurm GRES, Ray,
# Kubernetes without HAMi): the scheduler then places no device share or MIG slice there.
WHOLE_DEVICES = "aicc.io/whole-devices"


class NodeState(StrEnum):
    READY = "ready"
    CORDONED = "cordoned"  # no new placements; running work continues
    DRAINING = "draining"  # cordoned, and waiting for running work to end
    DOWN = "down"  # lost: its engine or heartbeat says it is gone
    MAINTENANCE = "maintenance"  # inside a maintenance window: drained, nothing placed
    BURN_IN = "burn_in"  # joining or back from maintenance: runs its burn-in before service
    QUARANTINED = "quarantined"  # failed its burn-in: nothing placed until an operator acts

    @property
    def schedulable(self) -> bool:
        return self is NodeState.READY


@dataclass(frozen=True)
class MigInstance:
    """One MIG slice of a partitioned NVIDIA GPU: `index` is its position on the GPU (NVML's MIG
    device index), `profile` a catalog profile (`1g.10gb`), `uuid` what NVML reports for it
    (`MIG-...`, which `CUDA_VISIBLE_DEVICES` takes); None for a simulated slice."""

    index: int
    profile: str
    uuid: str | None = None


@dataclass(frozen=True)
class Device:
    index: int
    model: str
    memory_mib: int
    uuid: str | None = None
    simulated: bool = False
    healthy: bool = True
    # Non-empty: the GPU is in MIG mode and is handed out slice by slice, never whole.
    mig: tuple[MigInstance, ...] = ()

    def mig_instance(self, index: int | None) -> MigInstance | None:
        return next((s for s in self.mig if s.index == index), None)


@dataclass(frozen=True)
class DeviceReading:
    """One measurement of a real device, matched to its registered device by `uuid`."""

    uuid: str
    utilization: float  # 0..1 of the last sample period the GPU was busy
    memory_used_mib: int | None


@dataclass(frozen=True)
class Node:
    name: str
    cpu_milli: int
    memory_mib: int
    devices: tuple[Device, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    state: NodeState = NodeState.READY
    executor: str = "local"

    @property
    def pool(self) -> str:
        return self.labels.get("pool", "default")

    @property
    def simulated(self) -> bool:
        return bool(self.devices) and all(d.simulated for d in self.devices)
