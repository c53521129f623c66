"""What a pod asks for and where it may run (pure): device plugin resources, HAMi shares,
CPU and memory, node affinity, PriorityClass.

Accelerators are the device plugin's extended resources (`device_resource`, per vendor, and per
chip where a plugin names families apart); a share of a device is HAMi's `nvidia.com/gpu: 1` with
`nvidia.com/gpumem` (MiB) and `nvidia.com/gpucores` (percent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from aicc.core import accelerator_names, catalog
from aicc.core.jobspec import PRIORITIES
from aicc.executors.base import ReplicaLaunch

Manifest = dict[str, Any]

NVIDIA = "nvidia.com/gpu"

# The extended resource each vendor's device plugin counts its devices in.
VENDOR_RESOURCES: Mapping[catalog.Vendor, str] = MappingProxyType(
    {
        catalog.Vendor.NVIDIA: NVIDIA,
        catalog.Vendor.HUAWEI: "huawei.com/Ascend910",
        catalog.Vendor.CAMBRICON: "cambricon.com/mlu",
        catalog.Vendor.HYGON: "hygon.com/dcu",
        catalog.Vendor.KUNLUNXIN: "kunlunxin.com/xpu",
        catalog.Vendor.AMD: "amd.com/gpu",
        catalog.Vendor.MOORE_THREADS: "mthreads.com/gpu",
    }
)
# Catalog models whose device plugin names them apart from their vendor's resource (by model
# name: Ascend's device plugin counts 310P and 310 cards apart from the 910s).
MODEL_RESOURCES: Mapping[str, str] = MappingProxyType(
    {
        "Ascend-310P": "huawei.com/Ascend310P",
        "Ascend-310": "huawei.com/Ascend310",
    }
)
# Resources other device plugins count a vendor's devices in (HAMi's, for the vendors it
# virtualises): read on a node's capacity, and asked for by the pods placed there, as the
# node's resource (`nodes.Inventory.resources`). This table, the two above and
# `resource_vendor` are the one place resource names live, both ways.
PLUGIN_RESOURCES: Mapping[str, catalog.Vendor] = MappingProxyType(
    {
        "hygon.com/dcunum": catalog.Vendor.HYGON,
        "cambricon.com/vmlu": catalog.Vendor.CAMBRICON,
        "mthreads.com/vgpu": catalog.Vendor.MOORE_THREADS,
    }
)
HAMI_MEMORY = "nvidia.com/gpumem"
HAMI_MEMORY_PERCENT = "nvidia.com/gpumem-percentage"
HAMI_CORES = "nvidia.com/gpucores"
HAMI_UUID = "nvidia.com/use-gpuuuid"  # HAMi: place the share on this device

# Which devices a container sees is the device plugin's business: the indices AICC bound on the
# host mean nothing inside a container, and a user's NVIDIA_VISIBLE_DEVICES=all would otherwise
# hand a pod every GPU of its node on runtimes that honour the variable.
DEVICE_VARIABLES = frozenset(
    {catalog.visible_devices_env(v) for v in catalog.Vendor}
    | {"NVIDIA_VISIBLE_DEVICES", "ASCEND_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL"}
    | {"ROCR_VISIBLE_DEVICES"}
)


def device_resource(
    model: catalog.AcceleratorModel | str,
    mig_profile: str | None = None,
    *,
    by_model: Mapping[str, str] = MODEL_RESOURCES,
) -> str:
    """The extended resource a pod requests for one device of `model` (or one MIG slice).

    Keyed by model before vendor because some device plugins name resources per chip family
    (`by_model`). MIG slices follow the NVIDIA device plugin's "mixed" strategy naming,
    `nvidia.com/mig-<profile>`. ValueError for a profile the model does not offer."""
    resolved = accelerator_names.lookup(model) if isinstance(model, str) else model
    if mig_profile is not None:
        catalog.check_mig_profile(resolved, mig_profile)
        return f"nvidia.com/mig-{mig_profile}"
    return by_model.get(resolved.name) or VENDOR_RESOURCES[resolved.vendor]


def resource_vendor(resource: str) -> catalog.Vendor | None:
    """The vendor whose devices `resource` counts (the other way from `device_resource`), or
    None for a resource no table names."""
    for vendor, name in VENDOR_RESOURCES.items():
        if name == resource:
            return vendor
    for model, name in MODEL_RESOURCES.items():
        if name == resource:
            return catalog.CATALOG[model].vendor
    return PLUGIN_RESOURCES.get(resource)


def counts(resource: str, model: catalog.AcceleratorModel) -> bool:
    """Whether devices of `model` are counted in `resource` on a node: its own resource, or one
    of the plugins' names for its vendor."""
    return device_resource(model) == resource or PLUGIN_RESOURCES.get(resource) is model.vendor


def known_resources() -> frozenset[str]:
    """Every resource a node's devices may be counted in: each catalog model's, the plugins'."""
    own = {device_resource(model) for model in catalog.CATALOG.values()}
    return frozenset(own | set(PLUGIN_RESOURCES))


class ManifestError(ValueError):
    """The replica cannot be expressed as Kubernetes objects; the message says what to change."""


@dataclass(frozen=True)
class Accelerator:
    """What each replica asks of the device plugin."""

    resource: str  # nvidia.com/gpu, huawei.com/Ascend910, cambricon.com/mlu ...
    count: int  # devices (1 for a share)
    milli: int = 1000  # share of each device; below 1000 needs HAMi
    memory_mib: int | None = None  # device memory asked for a share
    device_memory_mib: int | None = None  # the whole device's memory, to size a share
    uuids: tuple[str, ...] = ()  # the devices AICC bound, when known (HAMi pins shares to them)

    @property
    def fractional(self) -> bool:
        return self.milli < 1000


def priority_class(priority: int | None, classes: Mapping[str, str]) -> str | None:
    """The PriorityClass for an AICC priority: `high` from 1000, `normal` from 100, else `low`
    (jobspec.PRIORITIES); None when the center maps no class for that level."""
    if priority is None:
        level = "normal"
    elif priority >= PRIORITIES["high"]:
        level = "high"
    elif priority >= PRIORITIES["normal"]:
        level = "normal"
    else:
        level = "low"
    return classes.get(level)


def accelerator_resources(accelerator: Accelerator | None, *, hami: bool) -> dict[str, str]:
    """Extended resources for a container's requests and limits (Kubernetes wants them equal).

    A share becomes HAMi's `nvidia.com/gpu: 1` plus `gpumem` in MiB (the share's own memory, or
    that fraction of the device) and `gpucores` in percent; both are rounded down, so shares AICC
    packed onto one device (333 + 333 + 334 milli) also fit in HAMi's own count. Whole devices on
    a HAMi cluster ask for all of their memory and cores, so HAMi puts no share beside them."""
    if accelerator is None or accelerator.count <= 0:
        return {}
    if not accelerator.fractional:
        out = {accelerator.resource: str(accelerator.count)}
        if hami and accelerator.resource == NVIDIA:
            out[HAMI_MEMORY_PERCENT] = "100"
            out[HAMI_CORES] = "100"
        return out
    if not hami or accelerator.resource != NVIDIA:
        raise ManifestError(
            f"a share of a device ({accelerator.milli} milli of {accelerator.resource}) needs "
            "HAMi on NVIDIA GPUs: set kubernetes.hami once HAMi is installed, or ask for whole "
            "devices"
        )
    out = {NVIDIA: "1", HAMI_CORES: str(max(1, accelerator.milli // 10))}
    if accelerator.memory_mib:
        out[HAMI_MEMORY] = str(accelerator.memory_mib)
    elif accelerator.device_memory_mib:
        out[HAMI_MEMORY] = str(max(1, accelerator.device_memory_mib * accelerator.milli // 1000))
    else:
        out[HAMI_MEMORY_PERCENT] = str(max(1, accelerator.milli // 10))
    return out


def container_resources(replica: ReplicaLaunch, extended: Mapping[str, str]) -> Manifest:
    """Requests equal to limits (the Guaranteed QoS class, which the CPU and topology managers
    need to give a pod whole cores and NUMA-local devices)."""
    amounts = {"cpu": f"{replica.cpu_milli}m", **dict(extended)}
    if replica.memory_mib > 0:
        amounts["memory"] = f"{replica.memory_mib}Mi"
    return {"requests": dict(amounts), "limits": dict(amounts)}


def node_affinity(hostnames: Sequence[str]) -> Manifest:
    """Required affinity on the nodes' `kubernetes.io/hostname` labels."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/hostname",
                                "operator": "In",
                                "values": sorted(set(hostnames)),
                            }
                        ]
                    }
                ]
            }
        }
    }
