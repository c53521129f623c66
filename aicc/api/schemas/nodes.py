"""Nodes with their devices and allocation (`services.nodes.NodeInfo`), and the accelerator
catalog."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from aicc.services.nodes.nodes import NodeInfo


class MigSliceOut(BaseModel):
    index: int
    profile: str
    uuid: str | None = None
    allocated: bool


class DeviceOut(BaseModel):
    index: int
    model: str
    memory_mib: int
    uuid: str | None
    simulated: bool
    healthy: bool
    allocated_milli: int
    mig: list[MigSliceOut] = Field(default_factory=list)  # empty unless the GPU is in MIG mode


class Allocated(BaseModel):
    cpu_milli: int
    memory_mib: int
    accelerator_milli: int


class Node(BaseModel):
    id: str
    name: str
    executor: str
    state: str
    state_reason: str
    labels: dict[str, str]
    cpu_milli: int
    memory_mib: int
    allocated: Allocated
    devices: list[DeviceOut]
    simulated: bool
    heartbeat_at: datetime | None


def node_out(nodes: list[NodeInfo]) -> list[Node]:
    """The answer for nodes the service read: a conversion, no queries."""
    return [Node.model_validate(n, from_attributes=True) for n in nodes]


class Accelerator(BaseModel):
    """A catalog model (core/catalog.py) and where its figures come from."""

    name: str
    vendor: str
    kind: str
    memory_gib: int | float
    memory_bandwidth_gbs: int | float
    fp16_tflops: int | float
    fp32_tflops: int | float
    pflops: int | float
    interconnect: str
    tdp_w: int | float
    mig_profiles: list[str]
    sources: list[str]
