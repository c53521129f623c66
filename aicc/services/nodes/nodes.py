"""Nodes and devices: this machine at start, others from an operator's inventory, and what is
allocated on each (read from the replicas that hold resources)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core import accelerator_names, catalog
from aicc.core.tenancy import Principal
from aicc.core.topology import TOPOLOGY_KEYS, Device, MigInstance, Node, NodeState
from aicc.core.units import parse_memory_mib, to_stored_units
from aicc.executors.base import Capacity
from aicc.services import changes
from aicc.services.common import Forbidden, Invalid, NotFound, from_row, new_id, utcnow
from aicc.services.nodes import history, views
from aicc.services.tenancy import audit
from aicc.store.tables.nodes import BurnInRow, DeviceRow, NodeBmcRow, NodeRow

# What one node may declare: far above any machine, and within the database's 32-bit integers.
MAX_NODE_CPU_MILLI = 100_000_000  # 100,000 cores
MAX_NODE_MEMORY_MIB = 1 << 30  # 1 PiB
MAX_DEVICE_MEMORY_MIB = 1 << 24  # 16 TiB
MAX_LABELS = 64
Label = Annotated[str, Field(max_length=253)]


class InventoryDevices(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Annotated[str, Field(max_length=64)]
    count: Annotated[int, Field(ge=1, le=64)] = 1
    memory_mib: Annotated[int | None, Field(ge=1, le=MAX_DEVICE_MEMORY_MIB)] = None
    simulated: bool = False
    mig: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list,
        max_length=64,
        description="MIG slices of each device, by profile (simulated only)",
    )

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: Any) -> Any:
        return to_stored_units(data, {"memory": ("memory_mib", parse_memory_mib)})


class InventoryNode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    executor: Annotated[str, Field(max_length=32)] = "local"
    cpu_milli: Annotated[int, Field(ge=1, le=MAX_NODE_CPU_MILLI)]
    memory_mib: Annotated[int, Field(ge=1, le=MAX_NODE_MEMORY_MIB)]
    address: Annotated[str | None, Field(max_length=200)] = None
    labels: dict[Label, Label] = Field(default_factory=dict, max_length=MAX_LABELS)
    devices: list[InventoryDevices] = Field(default_factory=list, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: Any) -> Any:
        data = to_stored_units(data)
        if not isinstance(data, dict):
            return data
        labels = data.get("labels") or {}
        if isinstance(labels, dict):  # anything else is left for validation to refuse
            labels = dict(labels)
            for key in TOPOLOGY_KEYS:  # `pool: a` is shorthand for `labels: {pool: a}`
                if key in data:
                    labels[key] = str(data.pop(key))
            data["labels"] = labels
        return data


class Inventory(BaseModel):
    """The YAML an operator writes to add nodes (docs/config.md)."""

    model_config = ConfigDict(extra="forbid")
    nodes: list[InventoryNode] = Field(max_length=100_000)


@dataclass
class Allocation:
    """What the replicas bound to a node hold there now: read by jobs, which owns the replicas
    (`jobs/census.py`'s `allocations`), and passed to the node views."""

    cpu_milli: int = 0
    memory_mib: int = 0
    device_milli: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    device_memory_mib: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    mig_slices: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))  # taken


def executors(session: Session) -> set[str]:
    """The engines the center's nodes are on (`local`, `slurm`, ...)."""
    return set(session.scalars(select(NodeRow.executor).distinct()))


def names(session: Session) -> list[str]:
    """Every node's name, sorted: what a page of nodes is cut from."""
    return list(session.scalars(select(NodeRow.name).order_by(NodeRow.name)))


def infos(
    session: Session, names: Collection[str] | None = None, *, used: Mapping[str, Allocation]
) -> list[views.Node]:
    """The nodes named (every node when None), by name, with their devices and what `used`
    (node id -> allocation, jobs' `census.allocations`) says replicas hold there."""
    query = select(NodeRow).order_by(NodeRow.name)
    if names is not None:
        query = query.where(NodeRow.name.in_(names))
    return _infos(session, list(session.scalars(query)), used)


def get(session: Session, name: str, *, used: Mapping[str, Allocation]) -> views.Node:
    """One node with its devices, allocation and last burn-in; NotFound naming the list."""
    return _infos(session, [row_named(session, name)], used)[0]


def _infos(
    session: Session, rows: list[NodeRow], used: Mapping[str, Allocation]
) -> list[views.Node]:
    devices = _devices_of(session, [r.id for r in rows])
    burn_ins = last_burn_ins(session, [r.id for r in rows])
    bmcs = {
        b.node_id: bmc_status(b)
        for b in session.scalars(
            select(NodeBmcRow).where(NodeBmcRow.node_id.in_([r.id for r in rows]))
        )
    }
    out = []
    for row in rows:
        alloc = used.get(row.id, Allocation())
        devs = [_device(d, alloc) for d in devices.get(row.id, [])]
        allocated = views.Allocated(
            cpu_milli=alloc.cpu_milli,
            memory_mib=alloc.memory_mib,
            accelerator_milli=sum(alloc.device_milli.values()),
        )
        simulated = bool(devs) and all(d.simulated for d in devs)
        out.append(
            from_row(
                views.Node,
                row,
                allocated=allocated,
                devices=devs,
                simulated=simulated,
                burn_in=burn_ins.get(row.id),
                bmc=bmcs.get(row.id),
            )
        )
    return out


def bmc_status(row: NodeBmcRow) -> views.BmcStatus:
    """What a node's BMC last said, as every reader of nodes sees it (no address, user or
    password: services/nodes/bmc.py keeps those)."""
    said = row.reading or {}
    inventory = said.get("inventory") or {}
    return views.BmcStatus(
        health=said.get("health", ""),
        watts=said.get("watts"),
        read_at=row.read_at,
        temperatures=said.get("temperatures") or {},
        fans=said.get("fans") or {},
        manufacturer=inventory.get("manufacturer", ""),
        model=inventory.get("model", ""),
        serial_number=inventory.get("serial_number", ""),
        bios_version=inventory.get("bios_version", ""),
        limit_w=row.limit_w,
        limit_applied_w=row.limit_applied_w,
        limit_supported=bool(said.get("limit_path")),
        limit_error=row.limit_error,
        error=row.error,
        error_at=row.error_at,
        cordoned=row.cordoned,
    )


def last_burn_ins(session: Session, node_ids: list[str]) -> dict[str, views.BurnIn]:
    """node id -> its latest burn-in (issue 40), as `aicc node get` and the portal show it."""
    if not node_ids:
        return {}
    latest = (
        select(BurnInRow.node_id, func.max(BurnInRow.started_at).label("at"))
        .where(BurnInRow.node_id.in_(node_ids))
        .group_by(BurnInRow.node_id)
        .subquery()
    )
    query = select(BurnInRow).join(
        latest, (BurnInRow.node_id == latest.c.node_id) & (BurnInRow.started_at == latest.c.at)
    )
    return {row.node_id: burn_in_view(row) for row in session.scalars(query)}


def burn_in_view(row: BurnInRow) -> views.BurnIn:
    """A stored burn-in as its read model: its figures, what was skipped and the GPU check."""
    checks = row.checks or {}
    return from_row(
        views.BurnIn,
        row,
        figures={k: views.BurnInFigure(**v) for k, v in (row.figures or {}).items()},
        skipped=dict(checks.get("skipped") or {}),
        gpu=dict(checks.get("gpu") or {}),
    )


def _device(row: DeviceRow, alloc: Allocation) -> views.DeviceOut:
    """A device of a node with what of it (and of its MIG slices) replicas hold now."""
    slices = [
        views.MigSliceOut(
            index=s["index"],
            profile=s["profile"],
            uuid=s.get("uuid"),
            allocated=s["index"] in alloc.mig_slices[row.index],
        )
        for s in row.mig or ()
    ]
    return from_row(
        views.DeviceOut, row, allocated_milli=alloc.device_milli.get(row.index, 0), mig=slices
    )


ENGINE = "engine: "  # prefix of a state the engine reported, as opposed to an operator's


def mark_down(session: Session, row: NodeRow, why: str, *, at: datetime) -> None:
    """Take a node that is not down out of placement as down, as its engine (or a replica lost
    with it) says: one transition, recorded in the node's history, which `node_health` counts
    as one failure of the node."""
    before = row.state
    row.state, row.state_reason = NodeState.DOWN.value, ENGINE + why
    history.node(session, row, before, at=at)


def lost(session: Session, node_id: str, why: str, *, at: datetime) -> None:
    """A replica was lost with the node: a ready one leaves placement at once (`mark_down`), so
    a requeued job does not land there again; its executor's next discovery brings it back
    when its engine sees it healthy."""
    row = session.get(NodeRow, node_id)
    if row is not None and row.state == NodeState.READY.value:
        mark_down(session, row, why, at=at)


@dataclass(frozen=True)
class Registered:
    """A node as a refresh left it: what the loop acts on (the ones now down)."""

    id: str
    name: str
    state: str


BURN_IN_REASON = "joined: burn-in before service"  # a new node's reason with burn-in on


def register(
    session: Session,
    node: Node,
    *,
    reason: str = "",
    held: Capacity | None = None,
    burn_in: bool = False,
    now: datetime | None = None,
) -> Registered:
    """Insert or refresh a node found by an executor. The engine's view of its health wins
    (down, drained, back); an operator's cordon survives every refresh. `held` is what the
    engine's jobs outside AICC hold there now. `burn_in` (`nodes.burn_in.enabled`): a node
    seen for the first time joins in `burn_in`, and serves once it passes (docs/burn-in.md)."""
    row = _register(session, node, reason=reason, held=held, burn_in=burn_in, now=now)
    return Registered(row.id, row.name, row.state)


def _register(
    session: Session,
    node: Node,
    *,
    reason: str = "",
    held: Capacity | None = None,
    burn_in: bool = False,
    now: datetime | None = None,
) -> NodeRow:
    row = session.scalar(select(NodeRow).where(NodeRow.name == node.name))
    now = now or utcnow()
    known = row is not None
    before = row.state if row is not None else None
    if row is None:
        joining = (NodeState.BURN_IN.value, BURN_IN_REASON) if burn_in else ("ready", "")
        row = NodeRow(
            id=new_id("node"),
            name=node.name,
            created_at=now,
            state=joining[0],
            state_reason=joining[1],
        )
        session.add(row)
    engine_set = row.state == NodeState.DOWN.value or row.state_reason.startswith(ENGINE)
    if node.state is not NodeState.READY:
        why = reason or node.state.value
        if row.state == NodeState.READY.value or engine_set:
            if known and node.state is NodeState.DOWN and row.state != NodeState.DOWN.value:
                mark_down(session, row, why, at=now)  # a transition: one failure of the node
                before = row.state  # recorded there
            else:
                row.state, row.state_reason = node.state.value, ENGINE + why
    elif engine_set:
        row.state, row.state_reason = NodeState.READY.value, ""
    row.executor = node.executor
    row.engine_held = held._asdict() if held is not None and any(held) else {}
    row.labels = dict(node.labels)
    row.cpu_milli, row.memory_mib = node.cpu_milli, node.memory_mib
    row.heartbeat_at = now
    session.flush()
    history.node(session, row, before, at=now)  # after the node's insert: its foreign key
    existing = {
        d.index: d for d in session.scalars(select(DeviceRow).where(DeviceRow.node_id == row.id))
    }
    for device in node.devices:
        drow = existing.pop(device.index, None)
        if drow is None:
            drow = DeviceRow(id=new_id("dev"), node_id=row.id, index=device.index)
            session.add(drow)
        drow.model, drow.memory_mib, drow.uuid = device.model, device.memory_mib, device.uuid
        if drow.healthy is not None and drow.healthy != device.healthy:
            history.device(session, row.id, device.index, device.healthy, "engine", at=now)
        drow.simulated, drow.healthy = device.simulated, device.healthy
        drow.mig = [asdict(s) for s in device.mig]
    for stale in existing.values():
        session.delete(stale)
    return row


def inventory_nodes(doc: Inventory) -> list[Node]:
    """Turn an inventory into domain nodes, checking every device model against the catalog."""
    nodes = []
    for spec in doc.nodes:
        devices: list[Device] = []
        for group in spec.devices:
            try:
                model = accelerator_names.lookup(group.model)
            except KeyError as err:
                raise Invalid(f"nodes.{spec.name}.devices.model: {err.args[0]}") from None
            memory = group.memory_mib or int(model.memory_gib * 1024)
            mig = _inventory_mig(f"nodes.{spec.name}.devices.mig", model, group)
            for _ in range(group.count):
                devices.append(
                    Device(len(devices), model.name, memory, simulated=group.simulated, mig=mig)
                )
        nodes.append(
            Node(
                spec.name,
                spec.cpu_milli,
                spec.memory_mib,
                tuple(devices),
                spec.labels,
                executor=spec.executor,
            )
        )
    return nodes


def _inventory_mig(
    where: str, model: catalog.AcceleratorModel, group: InventoryDevices
) -> tuple[MigInstance, ...]:
    """The declared slices of a simulated GPU. Real GPUs' slices come from the driver (NVML),
    which knows their UUIDs: a declared layout could not tell a replica which slice it got."""
    if not group.mig:
        return ()
    if not group.simulated:
        raise Invalid(
            f"{where}: MIG slices of real devices are read from the driver; declare them only "
            "for simulated devices"
        )
    profiles = [p.strip().lower() for p in group.mig]
    for profile in profiles:
        try:
            catalog.check_mig_profile(model, profile)
        except ValueError as err:
            raise Invalid(f"{where}: {err}") from None
    if sum(int(p.partition("g.")[0]) for p in profiles) > 7:
        raise Invalid(f"{where}: {' + '.join(profiles)} is more than the 7 compute slices of a GPU")
    return tuple(MigInstance(i, p) for i, p in enumerate(profiles))


def import_inventory(
    session: Session, who: Principal, doc: Inventory, *, used: Mapping[str, Allocation]
) -> list[views.Node]:
    if not who.is_admin:
        raise Forbidden("only center admins import nodes")
    rows = [_register(session, node) for node in inventory_nodes(doc)]
    audit.record(session, who, "node.import", "node", ",".join(r.name for r in rows))
    session.flush()
    changes.changed(session)  # new nodes to place waiting jobs on
    return _infos(session, rows, used)


def _devices_of(session: Session, node_ids: list[str]) -> dict[str, list[DeviceRow]]:
    out: dict[str, list[DeviceRow]] = defaultdict(list)
    query = select(DeviceRow).where(DeviceRow.node_id.in_(node_ids)).order_by(DeviceRow.index)
    for device in session.scalars(query):
        out[device.node_id].append(device)
    return out


def installed_models(session: Session) -> Counter[str]:
    """Accelerator models in this center, with the most devices any one node has of each (what
    the submit wizard offers)."""
    widest: Counter[str] = Counter()
    for devices in _devices_of(session, list(session.scalars(select(NodeRow.id)))).values():
        for model, count in Counter(d.model for d in devices).items():
            widest[model] = max(widest[model], count)
    return widest


def row_named(session: Session, name: str) -> NodeRow:
    """The node called `name`, for this context's modules (bmc.py); NotFound saying where the
    names are."""
    row = session.scalar(select(NodeRow).where(NodeRow.name == name))
    if row is None:
        raise NotFound("node {name!r} not found; `aicc node list` shows the nodes", name=name)
    return row


def set_state(
    session: Session,
    who: Principal,
    name: str,
    state: NodeState,
    reason: str = "",
    *,
    used: Mapping[str, Allocation],
    now: datetime | None = None,
) -> views.Node:
    """Cordon or uncordon by an operator (a down node comes back only when its executor sees it);
    the node as `infos` shows it."""
    return _infos(session, [_set_state(session, who, name, state, reason, now=now)], used)[0]


def _set_state(
    session: Session,
    who: Principal,
    name: str,
    state: NodeState,
    reason: str = "",
    *,
    now: datetime | None = None,
) -> NodeRow:
    if not who.is_admin:
        raise Forbidden("only center admins cordon nodes")
    row = row_named(session, name)
    if row.state == NodeState.DOWN.value and state is NodeState.READY:
        raise Invalid(
            "node {name} is down; it returns when its executor reports it again", name=name
        )
    before = row.state
    row.state, row.state_reason = state.value, reason
    history.node(session, row, before, at=now or utcnow())
    audit.record(session, who, f"node.{state.value}", "node", row.id, detail={"reason": reason})
    changes.changed(session)  # the scheduler places by it (and evicted jobs are requeued)
    return row
