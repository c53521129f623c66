"""Whether one replica fits on one node, and on which devices: the filter every policy shares."""

from __future__ import annotations

import functools

from aicc.core.devenvs import meets
from aicc.scheduler.snapshot import DevicePick, DeviceView, NodeView, ReplicaRequest


def needs_met(node: NodeView, request: ReplicaRequest) -> bool:
    """Whether the node meets what the job's image needs (`ReplicaRequest.needs`, a driver at
    least as new as its CUDA or CANN). Asked only of replicas that use accelerators: a CUDA
    image on a CPU-only replica needs no driver. Callers test `request.needs` first, so a job
    without needs pays nothing."""
    if request.accel_count == 0 and request.mig_profile is None:
        return True
    return meets(request.needs, node.labels)


def window_allows(node: NodeView, request: ReplicaRequest) -> bool:
    """Whether the replica would end before the node's next maintenance window: its declared
    runtime fits in `open_for_s`; without one, only if the window is beyond `notice_s`."""
    ahead = node.open_for_s
    if ahead is None:
        return True
    if request.runtime_s is None:
        return ahead > node.notice_s
    return request.runtime_s <= ahead


def lease_allows(node: NodeView, request: ReplicaRequest) -> bool:
    """Whether a leased node takes the replica: the lessee's, or others' preemptible work where
    the lease lends its idle capacity (that work yields when the lessee's waits)."""
    holder = node.leased_to
    return holder is None or holder == request.org or (node.lends and request.preemptible)


def device_free_to(device: DeviceView, request: ReplicaRequest) -> bool:
    """`lease_allows` for one leased device."""
    holder = device.leased_to
    return holder is None or holder == request.org or (device.lends and request.preemptible)


def admits(node: NodeView, request: ReplicaRequest) -> bool:
    """The node's windows and leases let the replica on (devices aside: `pick_devices`)."""
    return window_allows(node, request) and lease_allows(node, request)


def model_ok(device: DeviceView, request: ReplicaRequest) -> bool:
    return request.models is None or device.model.lower() in _lowered(request.models)


@functools.lru_cache(maxsize=256)
def _lowered(models: tuple[str, ...]) -> frozenset[str]:
    """The models a request names, in lower case (asked per device of every node tried)."""
    return frozenset(m.lower() for m in models)


@functools.lru_cache(maxsize=1024)
def whole_pick(index: int) -> DevicePick:
    """`DevicePick(index, 1000)`, one object per index: picks are frozen values, and a gang's
    trial makes one per device of every replica it places."""
    return DevicePick(index, 1000)


def pick_devices(node: NodeView, request: ReplicaRequest) -> tuple[DevicePick, ...] | None:
    """The devices a replica would take on this node, or None when it does not fit.

    A share goes to the fullest device that still holds it (packing keeps whole devices free);
    whole devices go to the lowest free indices, which keeps them adjacent on typical topologies.
    """
    if not node.schedulable:
        return None
    if node.restricted and not admits(node, request):
        return None
    if request.cpu_milli > node.free_cpu_milli or request.memory_mib > node.free_memory_mib:
        return None
    if request.accel_count == 0:
        return ()
    if request.needs and not needs_met(node, request):
        return None
    if request.accel_milli is not None and request.accel_milli < 1000:
        need_mem = request.accel_memory_mib or 0
        candidates = [
            d
            for d in node.devices
            if model_ok(d, request)
            and (not node.device_leases or device_free_to(d, request))
            and d.free_milli >= request.accel_milli
            and (d.free_memory_mib or 0) >= need_mem
        ]
        if not candidates:
            return None
        best = min(candidates, key=lambda d: (d.free_milli, d.index))
        return (DevicePick(best.index, request.accel_milli, request.accel_memory_mib),)
    whole = [d for d in node.devices if d.free_milli == 1000 and model_ok(d, request)]
    if node.device_leases:
        whole = [d for d in whole if device_free_to(d, request)]
    if len(whole) < request.accel_count:
        return None
    return tuple(whole_pick(d.index) for d in whole[: request.accel_count])


def take(node: NodeView, request: ReplicaRequest, picks: tuple[DevicePick, ...]) -> None:
    """Subtract a placed replica from the node's free capacity (in the scheduler's own copy)."""
    node.free_cpu_milli -= request.cpu_milli
    node.free_memory_mib -= request.memory_mib
    by_index = {d.index: d for d in node.devices}
    for pick in picks:
        device = by_index[pick.index]
        device.free_milli -= pick.milli
        # Only a declared share of device memory is reserved, as the store counts allocations
        # (services.jobs.census.allocations); a whole pick already takes all of the device's milli.
        if device.free_memory_mib is not None and pick.memory_mib is not None:
            device.free_memory_mib -= pick.memory_mib


def fits_empty(node: NodeView, request: ReplicaRequest) -> bool:
    """Could the replica ever fit on this node, were it empty? (Rejecting unfittable specs.)"""
    empty = NodeView(
        name=node.name,
        free_cpu_milli=node.total_cpu_milli,
        free_memory_mib=node.total_memory_mib,
        devices=[DeviceView(d.index, d.model, d.memory_mib) for d in node.devices],
        labels=node.labels,
    )
    return pick_devices(empty, request) is not None
