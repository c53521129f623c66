"""The nodes context's read models: a node with its devices and what is allocated on it, and a
catalog accelerator. The services return them, the API answers them as JSON, the portal shows
them and the SDK parses them (`client.nodes.list()` holds `Node`s).

Pydantic, the standard library and `services.common` (the base `View`) only, so the SDK imports them
cheaply. Fields in the order of the REST answers; the classes keep the names (`DeviceOut`,
`MigSliceOut`) and the docstrings of the API's schemas before them, so the OpenAPI document stays as
it was.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aicc.core.catalog import AcceleratorModel
from aicc.services.common import View


class MigSliceOut(View):
    # a MIG slice of a device, and whether a replica holds it now

    index: int
    profile: str
    uuid: str | None = None
    allocated: bool


class DeviceOut(View):
    # a device of a node as operators see it: its model and what of it is allocated now

    index: int
    model: str
    memory_mib: int
    uuid: str | None
    simulated: bool
    healthy: bool
    allocated_milli: int
    mig: list[MigSliceOut] = Field(default_factory=list)  # empty unless the GPU is in MIG mode


class Allocated(View):
    cpu_milli: int
    memory_mib: int
    accelerator_milli: int


class BurnInFigure(View):
    # one figure of a burn-in: what the node measured, the least it had to reach, and whether
    # it did (None: nothing to compare it with yet, so it passes and becomes a reference)

    value: float
    unit: str
    reference: float | None = None
    passed: bool | None = None


class BurnIn(View):
    # a node's burn-in (docs/burn-in.md): running, or its verdict with the figures shown

    id: str
    state: str  # running | passed | failed
    kind: str  # the node kind its figures are compared within
    job_id: str | None
    started_at: datetime
    ended_at: datetime | None
    figures: dict[str, BurnInFigure] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)  # check -> why it was not measured
    gpu: dict[str, str] = Field(default_factory=dict)  # state (passed/failed/skipped), detail
    reason: str = ""


class BmcStatus(View):
    # what a node's BMC last said (Redfish): health, power, sensors and inventory, and the
    # power limit asked for and in force. Every reader of nodes sees it; never where the BMC
    # answers nor who signs in (`Bmc`, center admins only), never its password (nobody).

    health: str  # OK | Warning | Critical | "" (not read yet, or the BMC gives none)
    watts: float | None  # the node's draw at `read_at`
    read_at: datetime | None
    temperatures: dict[str, float] = Field(default_factory=dict)  # sensor -> °C
    fans: dict[str, float] = Field(default_factory=dict)  # fan -> RPM
    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""
    bios_version: str = ""
    limit_w: float | None = None  # the power limit an operator asked for
    limit_applied_w: float | None = None  # the limit last written to the BMC
    limit_supported: bool = False  # the BMC offers a PowerControl to limit
    limit_error: str = ""
    error: str = ""  # why the last reading failed ("" when it did not)
    error_at: datetime | None = None
    cordoned: bool = False  # its Critical health cordoned the node


class Bmc(View):
    # a node's BMC as center admins see it: where it answers, who signs in (no password), how
    # often it is sampled, and what it last said

    node: str
    address: str
    username: str
    verify_tls: bool
    interval_s: float
    status: BmcStatus


class Node(View):
    # a node with its devices and what the replicas bound there hold: the node list's read model

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
    burn_in: BurnIn | None = None  # its last burn-in, where it had one
    bmc: BmcStatus | None = None  # what its BMC last said, where it has one


class Accelerator(View):
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

    @classmethod
    def of(cls, model: AcceleratorModel) -> Accelerator:
        """The catalog's entry as the API answers it: its figures as they are, names as text."""
        figures = {name: getattr(model, name) for name in cls.model_fields}
        return cls(
            **figures
            | {"vendor": str(model.vendor), "kind": str(model.kind)}
            | {"mig_profiles": list(model.mig_profiles)}
            | {"sources": [source.reference for source in model.sources]}
        )


class MaintenanceWindow(View):
    """A maintenance window as every tenant sees it: which nodes (and the rack or pool it was
    asked for), when, why, and where it stands (scheduled | active | ended | cancelled)."""

    id: str
    scope: str  # nodes | rack | pool
    target: str  # the rack's or pool's name; "" when nodes were named
    nodes: list[str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    state: str
    created_at: datetime
