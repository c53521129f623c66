"""Kubernetes nodes as AICC nodes (pure: the API's node dicts in, `Node`s out).

CPU and memory are the node's allocatable amounts. Devices are the extended resources the
catalog knows (`nvidia.com/gpu`, `huawei.com/Ascend910`, `cambricon.com/mlu` ...): the capacity
counts them, and those the device plugin withholds from allocatable (unhealthy) are marked so.
The model comes from, in order: the `aicc.io/accelerator` label an operator sets, the labels
device plugins publish (`nvidia.com/gpu.product` from GPU feature discovery, Ascend's
`accelerator-type`), the operator's default for the resource, else the resource's own name
(a model the catalog does not know, so no job asks for it by model). With HAMi, its
`hami.io/node-nvidia-register` annotation lists the physical GPUs (HAMi's `nvidia.com/gpu` count
is the number of shares).

`spec.unschedulable` (kubectl cordon) -> cordoned; the Ready condition not True -> down.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aicc.core import accelerator_names, catalog
from aicc.core.topology import WHOLE_DEVICES, Device, Node, NodeState
from aicc.executors.kubernetes import resources

Obj = Mapping[str, Any]

MODEL_LABEL = "aicc.io/accelerator"
NVIDIA_PRODUCT = "nvidia.com/gpu.product"
NVIDIA_MEMORY = "nvidia.com/gpu.memory"
MODEL_LABELS = (MODEL_LABEL, NVIDIA_PRODUCT, "accelerator-type", "node.kubernetes.io/npu.chip.name")
HAMI_REGISTER = "hami.io/node-nvidia-register"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"

_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    **{p: Decimal(10) ** (3 * (i + 1)) for i, p in enumerate("kMGTPE")},
    **{p + "i": Decimal(2) ** (10 * (i + 1)) for i, p in enumerate("KMGTPE")},
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


def quantity(text: Any) -> Decimal:
    """A Kubernetes quantity (`15500m`, `16`, `131749700Ki`, `128Gi`, `1e9`) as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""]
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from None


def cpu_milli(text: Any) -> int:
    return int(quantity(text) * 1000)


def memory_mib(text: Any) -> int:
    return int(quantity(text) / 2**20)


def known_resources() -> frozenset[str]:
    """The extended resources a node's devices may be counted in (resources.py's tables)."""
    return resources.known_resources()


@dataclass(frozen=True)
class HamiDevice:
    uuid: str
    memory_mib: int
    type: str
    healthy: bool = True


def hami_devices(annotation: str) -> list[HamiDevice]:
    """HAMi's register annotation: a JSON list (HAMi 2.5+) or `uuid,count,mem,cores,type,numa,
    health:` records (earlier releases)."""
    text = annotation.strip()
    if not text:
        return []
    if text.startswith("["):
        out = []
        for item in json.loads(text):
            out.append(
                HamiDevice(
                    str(item.get("id", "")),
                    int(item.get("devmem") or 0),
                    str(item.get("type", "")),
                    bool(item.get("health", True)),
                )
            )
        return out
    devices = []
    for record in text.split(":"):
        fields = record.split(",")
        if len(fields) < 5 or not fields[0]:
            continue
        healthy = fields[6].strip().lower() != "false" if len(fields) > 6 else True
        memory = int(fields[2]) if fields[2].strip().isdigit() else 0
        devices.append(HamiDevice(fields[0], memory, fields[4], healthy))
    return devices


def _loose_lookup(value: str) -> catalog.AcceleratorModel | None:
    """A catalog model named by a label value: the whole of it, or one of its words
    (`module-910b-8` -> 910B), or a word's head (`910B3` -> 910B)."""
    try:
        return accelerator_names.lookup(value)
    except KeyError:
        pass
    for word in re.split(r"[-_ ,]+", value):
        for end in range(len(word), 2, -1):
            try:
                return accelerator_names.lookup(word[:end])
            except KeyError:
                continue
    return None


def model_for(
    resource: str, labels: Mapping[str, str], default_models: Mapping[str, str]
) -> tuple[str, int]:
    """(model name, device memory MiB) for the devices counted in `resource` on a node."""
    found: catalog.AcceleratorModel | None = None
    if labels.get(MODEL_LABEL):
        found = _loose_lookup(labels[MODEL_LABEL])
    if found is None and resource.startswith("nvidia.com/") and labels.get(NVIDIA_PRODUCT):
        found = accelerator_names.from_nvml_name(labels[NVIDIA_PRODUCT].replace("-", " "))
    if found is None and not resource.startswith("nvidia.com/"):
        for key in MODEL_LABELS[2:]:
            if labels.get(key):
                found = _loose_lookup(labels[key])
                if found is not None:
                    break
    if found is None and default_models.get(resource):
        found = accelerator_names.lookup(default_models[resource])
    if found is not None and not resources.counts(resource, found):
        found = None  # a label about another kind of device on the same node
    labelled = labels.get(NVIDIA_MEMORY, "") if resource.startswith("nvidia.com/") else ""
    memory = int(labelled) if labelled.isdigit() else 0
    if found is None:
        return resource.rpartition("/")[2], memory
    return found.name, memory or int(found.memory_gib * 1024)


@dataclass(frozen=True)
class NodeOptions:
    cluster: str = "kubernetes"
    pool_label: str = "aicc.io/pool"
    rack_label: str | None = "topology.kubernetes.io/rack"
    default_models: Mapping[str, str] = field(default_factory=dict)
    simulated: bool = False
    hami: bool = False
    executor: str = "kubernetes"


@dataclass
class Inventory:
    nodes: list[Node] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # node -> why it is not ready
    hostnames: dict[str, str] = field(default_factory=dict)  # node -> kubernetes.io/hostname
    resources: dict[str, str] = field(default_factory=dict)  # node -> its devices' resource


def node_state(node: Obj) -> tuple[NodeState, str]:
    ready = next(
        (
            c
            for c in (node.get("status") or {}).get("conditions") or []
            if isinstance(c, Mapping) and c.get("type") == "Ready"
        ),
        None,
    )
    if ready is None or ready.get("status") != "True":
        why = (ready or {}).get("message") or (ready or {}).get("reason") or "not Ready"
        return NodeState.DOWN, f"Kubernetes: {why}"
    if (node.get("spec") or {}).get("unschedulable"):
        return NodeState.CORDONED, "Kubernetes: cordoned (spec.unschedulable)"
    return NodeState.READY, ""


def _devices(node: Obj, options: NodeOptions) -> tuple[str | None, list[Device]]:
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}
    capacity, allocatable = status.get("capacity") or {}, status.get("allocatable") or {}
    register = (meta.get("annotations") or {}).get(HAMI_REGISTER)
    if options.hami and register:
        devices = []
        for i, dev in enumerate(hami_devices(register)):
            model = accelerator_names.from_nvml_name(
                re.sub(r"^NVIDIA-", "", dev.type).replace("-", " ")
            )
            if model is None:
                name, memory = model_for("nvidia.com/gpu", labels, options.default_models)
            else:
                name, memory = model.name, int(model.memory_gib * 1024)
            devices.append(
                Device(
                    i,
                    name,
                    dev.memory_mib or memory,
                    uuid=dev.uuid or None,
                    simulated=options.simulated,
                    healthy=dev.healthy,
                )
            )
        return "nvidia.com/gpu", devices
    for resource in sorted(known_resources()):
        total = int(quantity(capacity.get(resource) or allocatable.get(resource) or 0))
        if total <= 0:
            continue
        usable = int(quantity(allocatable.get(resource, total)))
        name, memory = model_for(resource, labels, options.default_models)
        return resource, [
            Device(i, name, memory, simulated=options.simulated, healthy=i < usable)
            for i in range(total)
        ]
    return None, []


def inventory(items: Sequence[Obj], options: NodeOptions) -> Inventory:
    """Nodes from `GET /api/v1/nodes` items."""
    found = Inventory()
    for item in items:
        meta, status = item.get("metadata") or {}, item.get("status") or {}
        name = meta.get("name")
        if not name:
            continue
        labels = meta.get("labels") or {}
        allocatable = status.get("allocatable") or {}
        resource, devices = _devices(item, options)
        state, reason = node_state(item)
        if reason:
            found.reasons[name] = reason
        found.hostnames[name] = labels.get(HOSTNAME) or name
        if resource:
            found.resources[name] = resource
        node_labels = {
            "cluster": options.cluster,
            "pool": labels.get(options.pool_label) or "default",
        }
        if not options.hami:  # only HAMi gives pods shares of a device
            node_labels[WHOLE_DEVICES] = "true"
        if options.rack_label and labels.get(options.rack_label):
            node_labels["rack"] = labels[options.rack_label]
        if labels.get(ZONE):
            node_labels["zone"] = labels[ZONE]
        addresses = {
            a.get("type"): a.get("address")
            for a in status.get("addresses") or []
            if isinstance(a, Mapping)
        }
        if addresses.get("InternalIP"):
            node_labels["address"] = addresses["InternalIP"]
        found.nodes.append(
            Node(
                name=name,
                cpu_milli=cpu_milli(allocatable.get("cpu", 0)),
                memory_mib=memory_mib(allocatable.get("memory", 0)),
                devices=tuple(devices),
                labels=node_labels,
                state=state,
                executor=options.executor,
            )
        )
    return found
