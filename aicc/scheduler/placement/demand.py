"""What a replica asks of a node, in the form the vector code needs (`Demand`), its request
class, and where it goes (`Choice`). Pure: no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from aicc.scheduler.snapshot import DevicePick, ReplicaRequest

MILLI = 1000  # one whole device, in milli-devices


@dataclass(frozen=True)
class Demand:
    """A replica request in the form the vector code needs.

    `milli` is the share asked of each device: 1000 for whole devices, less for a fractional
    share (then `count` is 1), 0 for a replica that asks for no device.
    """

    cpu: int
    mem: int
    count: int
    milli: int
    dev_mem: int
    models: tuple[str, ...] | None
    # a share of one device (`count` 1, less than a whole one): set once, read at every step
    shared: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shared", self.count == 1 and 0 < self.milli < MILLI)

    @property
    def gpu_milli(self) -> int:
        """The device capacity this replica takes, in milli-devices."""
        return self.count * self.milli

    def __hash__(self) -> int:
        """The fields' hash, computed once: a demand (one per distinct request, `demand_of`)
        keys a policy's tables at every choice, and a frozen dataclass's own hash builds and
        hashes the tuple of its fields each time. Equal demands hash alike."""
        try:
            found: int = self.__dict__["_hash"]
        except KeyError:
            found = hash((self.cpu, self.mem, self.count, self.milli, self.dev_mem, self.models))
            object.__setattr__(self, "_hash", found)
        return found

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the remembered hash (another process hashes strings differently)."""
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}


@functools.lru_cache(maxsize=4096)
def demand_of(request: ReplicaRequest) -> Demand:
    """Normalize a request: a share of 1000 or more is a whole device; no count, no device."""
    count = request.accel_count
    if count <= 0:
        return Demand(request.cpu_milli, request.memory_mib, 0, 0, 0, None)
    share = request.accel_milli
    if share is not None and share < MILLI:
        count, milli = 1, max(int(share), 1)
    else:
        milli = MILLI
    models = None if not request.models else tuple(m.lower() for m in request.models)
    return Demand(
        request.cpu_milli, request.memory_mib, count, milli, request.accel_memory_mib or 0, models
    )


# gpu-clustering's request classes ("affinity" in the FGD simulator): bit 0 is a fractional share,
# bit k (1..15) is k whole devices, bit 16 any larger or unknown whole-device request.
SHARE_CLASS = 1
OTHER_CLASS = 1 << 16


def request_class(demand: Demand) -> int:
    """The class bit of a request; 0 for a replica without devices."""
    if demand.count == 0:
        return 0
    if demand.shared:
        return SHARE_CLASS
    return whole_class(demand.count)


def whole_class(count: int) -> int:
    """The class bit of `count` (at least 1) whole devices."""
    return 1 << count if count < 16 else OTHER_CLASS


@dataclass(frozen=True)
class Choice:
    """Where one replica goes: a node (its index in the state) and the devices it takes there."""

    node: int
    node_name: str
    devices: tuple[DevicePick, ...] = ()
