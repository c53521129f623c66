"""Ray's nodes as AICC nodes (pure: the State API's node records in, data out).

CPUs, memory and GPUs come from each node's total logical resources (`CPU`, `memory` in bytes,
`GPU`), which is what Ray schedules against, so a replica AICC places always fits in Ray too. A
GPU's model is the catalog's entry for Ray's `accelerator_type:X` resource when it knows X, else
the operator's default model, else `gpu`. GPUs declared with `ray start --num-gpus` on a machine
without them are fixtures: the operator marks them simulated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aicc.core import accelerator_names
from aicc.core.topology import WHOLE_DEVICES, Device, Node, NodeState

ACCELERATOR_TYPE = "accelerator_type:"
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Inventory:
    nodes: list[Node] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)  # AICC node name -> Ray node IP
    reasons: dict[str, str] = field(default_factory=dict)  # node -> why Ray says it is down


def node_name(record: dict[str, Any]) -> str:
    """Ray's node name (its IP unless `ray start --node-name` said otherwise), made a valid AICC
    node name."""
    raw = str(record.get("node_name") or record.get("node_ip") or record.get("node_id") or "")
    return _NAME_OK.sub("-", raw)[:128]


def inventory(
    records: list[dict[str, Any]],
    *,
    cluster: str,
    pool: str = "default",
    simulated: bool = False,
    default_model: str | None = None,
    executor: str = "ray",
) -> Inventory:
    """One AICC node per Ray node name. Ray keeps dead nodes in its list, and a node that
    restarts comes back under a new id with the same name: the alive record wins."""
    best: dict[str, dict[str, Any]] = {}
    for record in records:
        name = node_name(record)
        if not name:
            continue
        alive = str(record.get("state", "")).upper() == "ALIVE"
        if name not in best or (alive and str(best[name].get("state")).upper() != "ALIVE"):
            best[name] = record
    found = Inventory()
    for name, record in sorted(best.items()):
        resources: dict[str, float] = dict(record.get("resources_total") or {})
        model, memory = _model(resources, default_model)
        devices = tuple(
            Device(i, model, memory, simulated=simulated)
            for i in range(int(resources.get("GPU", 0)))
        )
        state = NodeState.READY
        if str(record.get("state", "")).upper() != "ALIVE":
            state = NodeState.DOWN
            found.reasons[name] = f"Ray: {record.get('state') or 'unknown'}" + (
                f" ({record['state_message']})" if record.get("state_message") else ""
            )
        ip = str(record.get("node_ip") or "")
        labels = {"cluster": cluster, "pool": pool, WHOLE_DEVICES: "true"}  # no shares on Ray yet
        if ip:
            labels["address"] = ip
            found.addresses[name] = ip
        if record.get("node_id"):
            labels["ray_node_id"] = str(record["node_id"])
        found.nodes.append(
            Node(
                name=name,
                cpu_milli=int(resources.get("CPU", 0) * 1000),
                memory_mib=int(resources.get("memory", 0) // (1024 * 1024)),
                devices=devices,
                labels=labels,
                state=state,
                executor=executor,
            )
        )
    return found


def _model(resources: dict[str, float], default_model: str | None) -> tuple[str, int]:
    """(model name, memory MiB) of a node's GPUs: Ray's accelerator type, else the default."""
    types = sorted(k[len(ACCELERATOR_TYPE) :] for k in resources if k.startswith(ACCELERATOR_TYPE))
    for wanted in [*types, default_model]:
        if not wanted:
            continue
        try:
            entry = accelerator_names.lookup(wanted)
        except KeyError:
            continue
        return entry.name, int(entry.memory_gib * 1024)
    return (types[0] if types else "gpu"), 0
