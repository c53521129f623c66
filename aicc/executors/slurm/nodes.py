"""Slurm's nodes as AICC nodes, and what jobs outside AICC hold on them (pure: text in, data out).

GPUs come from each node's gres (`gpu:N`, `gpu:TYPE:N`): a TYPE the catalog knows becomes that
model, anything else keeps Slurm's name (`gpu` when untyped, unless the operator names a default
model). Fake gres devices are marked simulated when the operator says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from aicc.core import accelerator_names
from aicc.core.topology import WHOLE_DEVICES, Device, Node, NodeState
from aicc.executors.base import Capacity
from aicc.executors.slurm import parse

AICC_JOB_PREFIX = "aicc-"
_DOWN = {"DOWN", "NOT_RESPONDING", "UNKNOWN", "FUTURE", "POWERED_DOWN", "POWER_DOWN"}
_CORDONED = {"DRAIN", "DRAINED", "DRAINING", "FAIL", "MAINT", "REBOOT_REQUESTED"}
# Job states in which a job holds its allocation.
HOLDING = frozenset({"RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "STOPPED", "SIGNALING"})


def node_state(text: str) -> NodeState:
    """`IDLE`, `MIXED+DRAIN`, `DOWN+NOT_RESPONDING`, `IDLE*` ... -> AICC's node state."""
    words = set(re.split(r"[+]", text.upper().replace("*", "+NOT_RESPONDING")))
    if words & _DOWN:
        return NodeState.DOWN
    if words & _CORDONED:
        return NodeState.CORDONED
    return NodeState.READY


@dataclass
class Inventory:
    nodes: list[Node] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # node -> Slurm's reason, if not ready
    gres_types: dict[tuple[str, int], str | None] = field(default_factory=dict)  # (node, index)


def inventory(
    scontrol_nodes: str,
    *,
    cluster: str,
    simulated: bool = False,
    default_model: str | None = None,
    executor: str = "slurm",
) -> Inventory:
    """Nodes from `scontrol -o show node`: CPUs, memory, GPUs, state, first partition as pool."""
    found = Inventory()
    for rec in parse.records(scontrol_nodes):
        name = rec.get("NodeName", "")
        if not name:
            continue
        devices: list[Device] = []
        for group in parse.node_gpus(rec.get("Gres", "")):
            model, memory = _model(group.type, default_model)
            for _ in range(group.count):
                found.gres_types[(name, len(devices))] = group.type
                devices.append(Device(len(devices), model, memory, simulated=simulated))
        state = node_state(rec.get("State", ""))
        if state is not NodeState.READY:
            found.reasons[name] = rec.get("Reason") or rec.get("State", "")
        partitions = [p for p in rec.get("Partitions", "").split(",") if p]
        labels = {
            "cluster": cluster,
            "pool": partitions[0] if partitions else "default",
            WHOLE_DEVICES: "true",  # GRES gives whole GPUs
        }
        if rec.get("NodeAddr"):
            labels["address"] = rec["NodeAddr"]
        cpus = rec.get("CPUEfctv") or rec.get("CPUTot") or "0"
        found.nodes.append(
            Node(
                name=name,
                cpu_milli=int(cpus) * 1000,
                memory_mib=int(rec.get("RealMemory") or 0),
                devices=tuple(devices),
                labels=labels,
                state=state,
                executor=executor,
            )
        )
    return found


def _model(gres_type: str | None, default_model: str | None) -> tuple[str, int]:
    """(model name, memory MiB) for a gres type: the catalog's when it knows it."""
    wanted = gres_type or default_model
    if wanted:
        try:
            entry = accelerator_names.lookup(wanted)
            return entry.name, int(entry.memory_gib * 1024)
        except KeyError:
            pass
    return gres_type or "gpu", 0


def used_capacity(scontrol_jobs: str, runs: Path) -> dict[str, Capacity]:
    """Per node, what jobs other than this AICC's hold, from `scontrol -o -d show job`. Its own
    are named `aicc-*` and write their logs under `runs`, its run directories: the name alone
    would hide the jobs of a second AICC server on the same cluster, and both would book the
    same devices."""
    used: dict[str, Capacity] = {}
    for line in scontrol_jobs.splitlines():
        rec = parse.record(line)
        if not rec or _own(rec, runs):
            continue
        if parse.job_state(rec.get("JobState")) not in HOLDING:
            continue
        for share in parse.job_nodes(line):
            had = used.get(share.node, Capacity(0, 0, 0))
            used[share.node] = Capacity(
                had.cpu_milli + share.cpus * 1000,
                had.memory_mib + share.memory_mib,
                had.gpus + len(share.gpus),
            )
    return used


def _own(rec: dict[str, str], runs: Path) -> bool:
    if not rec.get("JobName", "").startswith(AICC_JOB_PREFIX):
        return False
    out = Path(rec.get("StdOut") or "/")
    return any(out.is_relative_to(root) for root in {runs.absolute(), runs.resolve()})
