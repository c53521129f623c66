"""What the contexts above nodes ask of the nodes and their devices, read through nodes (which
alone reads its tables): the nodes as they stand, their devices, their names and ids. Each
answer is a frozen read model, read in the caller's session with one query (the snapshot and
the meter read every node on every pass: never a query per node); one function per question,
whoever asks it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from aicc.core.topology import Device, MigInstance, NodeState
from aicc.store.tables.base import table
from aicc.store.tables.nodes import DeviceRow, NodeRow

_NODES = table(NodeRow)
_DEVICES = table(DeviceRow)


@dataclass(frozen=True)
class NodeFacts:
    """A node as stored: its engine, labels, size, state and what jobs outside AICC hold."""

    id: str
    name: str
    executor: str
    labels: Mapping[str, Any]
    cpu_milli: int
    memory_mib: int
    state: str
    state_reason: str
    address: str | None
    engine_held: Mapping[str, Any]  # cpu_milli, memory_mib, gpus, as the engine last said


@dataclass(frozen=True)
class DeviceFacts:
    """A device as stored, with its node's id and name."""

    node_id: str
    node: str
    index: int
    model: str
    memory_mib: int
    uuid: str | None
    simulated: bool
    healthy: bool
    mig: tuple[Mapping[str, Any], ...]  # {"index", "profile", "uuid"} of each MIG slice

    def device(self) -> Device:
        """The device as the domain sees it (executors and a launch's environment read this)."""
        mig = tuple(MigInstance(s["index"], s["profile"], s.get("uuid")) for s in self.mig)
        return Device(
            self.index, self.model, self.memory_mib, self.uuid, self.simulated, self.healthy, mig
        )


def listed(
    session: Session,
    *,
    names: Collection[str] | None = None,
    ids: Collection[str] | None = None,
    up: bool = False,
) -> list[NodeFacts]:
    """The nodes named, or of these ids (every node when neither is given), by name; `up`
    leaves out the nodes that are down."""
    query = select(
        _NODES.c.id,
        _NODES.c.name,
        _NODES.c.executor,
        _NODES.c.labels,
        _NODES.c.cpu_milli,
        _NODES.c.memory_mib,
        _NODES.c.state,
        _NODES.c.state_reason,
        _NODES.c.address,
        _NODES.c.engine_held,
    ).order_by(_NODES.c.name)
    if names is not None:
        query = query.where(_NODES.c.name.in_(list(names)))
    if ids is not None:
        query = query.where(_NODES.c.id.in_(list(ids)))
    if up:
        query = query.where(_NODES.c.state != NodeState.DOWN.value)
    return [
        NodeFacts(
            id=id_,
            name=name,
            executor=executor,
            labels=labels or {},
            cpu_milli=cpu_milli,
            memory_mib=memory_mib,
            state=state,
            state_reason=state_reason,
            address=address,
            engine_held=engine_held or {},
        )
        for (
            id_,
            name,
            executor,
            labels,
            cpu_milli,
            memory_mib,
            state,
            state_reason,
            address,
            engine_held,
        ) in session.execute(query)
    ]


def named(session: Session, name: str) -> NodeFacts | None:
    """The node called `name`, or None."""
    found = listed(session, names=[name])
    return found[0] if found else None


def devices(
    session: Session,
    *,
    names: Collection[str] | None = None,
    node_ids: Collection[str] | None = None,
    indices: Collection[int] | None = None,
    healthy: bool | None = None,
) -> list[DeviceFacts]:
    """The devices of the nodes named, or of these node ids (every node's when neither is
    given), of these indices when given, healthy or not when asked; by node name, then index."""
    query = (
        select(
            _DEVICES.c.node_id,
            _NODES.c.name,
            _DEVICES.c.index,
            _DEVICES.c.model,
            _DEVICES.c.memory_mib,
            _DEVICES.c.uuid,
            _DEVICES.c.simulated,
            _DEVICES.c.healthy,
            _DEVICES.c.mig,
        )
        .join(_NODES, _NODES.c.id == _DEVICES.c.node_id)
        .order_by(_NODES.c.name, _DEVICES.c.index)
    )
    if names is not None:
        query = query.where(_NODES.c.name.in_(list(names)))
    if node_ids is not None:
        query = query.where(_DEVICES.c.node_id.in_(list(node_ids)))
    if indices is not None:
        query = query.where(_DEVICES.c.index.in_(list(indices)))
    if healthy is not None:
        query = query.where(_DEVICES.c.healthy.is_(healthy))
    return [
        DeviceFacts(
            node_id=node_id,
            node=node,
            index=index,
            model=model,
            memory_mib=memory_mib,
            uuid=uuid,
            simulated=bool(simulated),
            healthy=bool(healthy_),
            mig=tuple(mig or ()),
        )
        for node_id, node, index, model, memory_mib, uuid, simulated, healthy_, mig in (
            session.execute(query)
        )
    ]


def models(session: Session, names: Collection[str] | None = None) -> dict[tuple[str, int], str]:
    """(node name, device index) -> the device's model, of the nodes named (every node's when
    None): what a replica's placement is priced and counted by, read on every pass."""
    query = select(_NODES.c.name, _DEVICES.c.index, _DEVICES.c.model).join(
        _NODES, _NODES.c.id == _DEVICES.c.node_id
    )
    if names is not None:
        query = query.where(_NODES.c.name.in_(list(names)))
    return {(name, index): model for name, index, model in session.execute(query)}


def names_by_id(session: Session, ids: Collection[str] | None = None) -> dict[str, str]:
    """node id -> name, of these ids (every node when None)."""
    query = select(_NODES.c.id, _NODES.c.name)
    if ids is not None:
        query = query.where(_NODES.c.id.in_(list(ids)))
    return {id_: name for id_, name in session.execute(query)}


def ids_by_name(session: Session, names: Collection[str] | None = None) -> dict[str, str]:
    """node name -> id, of these names (every node when None)."""
    query = select(_NODES.c.name, _NODES.c.id)
    if names is not None:
        query = query.where(_NODES.c.name.in_(list(names)))
    return {name: id_ for name, id_ in session.execute(query)}


def ids_named(names: Collection[str]) -> Select[tuple[str]]:
    """The ids of the nodes named, as a select to use inside the caller's own query (one
    query, where the caller filters its rows by node)."""
    return select(_NODES.c.id).where(_NODES.c.name.in_(list(names)))


def names() -> Select[tuple[str, str]]:
    """Every node's (id, name), as a select the caller joins in its own query (one query, where
    the caller keys its rows by node id and answers by node name)."""
    return select(_NODES.c.id, _NODES.c.name)


def ids_on(executors: Collection[str] | None = None) -> Select[tuple[str]]:
    """The ids of the nodes of these executors (of every node when None), as a select to use
    inside the caller's own query."""
    query = select(_NODES.c.id)
    if executors is not None:
        query = query.where(_NODES.c.executor.in_(list(executors)))
    return query


def by_state(session: Session) -> dict[str, int]:
    """state -> how many nodes are in it (states with none absent)."""
    query = select(_NODES.c.state, func.count()).group_by(_NODES.c.state)
    return {state: int(n) for state, n in session.execute(query)}
