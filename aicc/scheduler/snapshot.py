"""What the scheduler sees and what it answers: a snapshot in, decisions out.

The live server builds a snapshot from the store; the trace simulator builds one from a trace.
Both call the same `schedule()`, so what a benchmark measures is what users run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class DeviceView:
    index: int
    model: str
    memory_mib: int
    free_milli: int = 1000
    free_memory_mib: int | None = None  # None: the whole device memory is free

    def __post_init__(self) -> None:
        if self.free_memory_mib is None:
            self.free_memory_mib = self.memory_mib


@dataclass
class NodeView:
    name: str
    free_cpu_milli: int
    free_memory_mib: int
    devices: list[DeviceView] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    schedulable: bool = True
    total_cpu_milli: int = 0
    total_memory_mib: int = 0


@dataclass(frozen=True)
class ReplicaRequest:
    cpu_milli: int
    memory_mib: int
    accel_count: int = 0  # whole devices
    accel_milli: int | None = None  # a share of one device (then accel_count is 1)
    accel_memory_mib: int | None = None
    models: tuple[str, ...] | None = None  # acceptable models; None = any


@dataclass(frozen=True)
class JobView:
    id: str
    replicas: int
    request: ReplicaRequest
    priority: int
    submitted_at: datetime
    project_id: str = ""


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    nodes: list[NodeView]
    pending: list[JobView]  # jobs waiting to be placed
    running: list[JobView] = field(default_factory=list)


@dataclass(frozen=True)
class DevicePick:
    index: int
    milli: int  # 1000 for a whole device
    memory_mib: int | None = None


@dataclass(frozen=True)
class Placement:
    replica: int
    node: str
    devices: tuple[DevicePick, ...] = ()


@dataclass(frozen=True)
class WaitReason:
    code: str  # quota | budget | resources | gang | unschedulable | ...
    message: str


@dataclass(frozen=True)
class Bind:
    job_id: str
    placements: tuple[Placement, ...]


@dataclass(frozen=True)
class Wait:
    job_id: str
    reasons: tuple[WaitReason, ...]
    position: int


Decision = Bind | Wait
