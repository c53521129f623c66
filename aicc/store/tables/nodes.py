"""The tables of `services/nodes`: nodes, their devices, BMCs, maintenance windows and burn-ins.
Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base


class NodeRow(Base):
    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    executor: Mapped[str] = mapped_column(String(32), default="local")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cpu_milli: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="ready")
    state_reason: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # what jobs outside AICC hold here, as the engine last said: cpu_milli, memory_mib, devices
    engine_held: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")


class NodeBmcRow(Base):
    """A node's BMC (Redfish): where it answers and who signs in (the password sealed, as
    project secrets are), the power limit an operator asked for, and what it last said. Only
    center admins see the address and user name; nobody gets the password back."""

    __tablename__ = "node_bmcs"
    node_id: Mapped[str] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(64), default="")
    password: Mapped[str] = mapped_column(Text, default="")  # sealed (store/sealing.py)
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_s: Mapped[float] = mapped_column(default=60.0)  # how often its power is sampled
    limit_w: Mapped[float | None] = mapped_column(default=None)  # asked for; None: no limit
    limit_applied_w: Mapped[float | None] = mapped_column(default=None)  # as last written
    limit_error: Mapped[str] = mapped_column(String(200), default="")
    # what it last said (core/redfish.py Reading, as JSON), when, and its last error
    reading: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(String(200), default="")
    error_at: Mapped[datetime | None] = mapped_column(default=None)
    # this BMC's Critical health cordoned the node: only then is it uncordoned when healthy
    cordoned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("node_id", "index"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    memory_mib: Mapped[int] = mapped_column(Integer)
    uuid: Mapped[str | None] = mapped_column(String(100))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    mig: Mapped[list[Any]] = mapped_column(default=list)  # [{"index", "profile", "uuid"}]


class MaintenanceWindowRow(Base):
    """A maintenance window of some nodes (named, or a rack's or a pool's, resolved when it is
    made): the scheduler starts nothing there that would run into it, the loop drains them at
    `starts_at` and gives them back at `ends_at`.
    `state`: scheduled | active | ended | cancelled."""

    __tablename__ = "maintenance_windows"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # nodes | rack | pool
    target: Mapped[str] = mapped_column(String(200))  # the rack's or pool's name; "" for nodes
    nodes: Mapped[list[Any]]  # node names
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BurnInRow(Base):
    """One burn-in of one node (services/center/burn_in.py): its job, then its verdict and the
    figures it was judged by (each `{value, unit, reference, passed}`), and why it failed."""

    __tablename__ = "burn_ins"
    __table_args__ = (Index("ix_burn_ins_node_started", "node_id", "started_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(128))  # the node kind its figures are compared in
    state: Mapped[str] = mapped_column(String(16), index=True)  # running | passed | failed
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checks: Mapped[dict[str, Any]] = mapped_column(default=dict)  # skipped ones, the GPU's
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str | None] = mapped_column(String(40))  # an operator; None: AICC
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class NodeChangeRow(Base):
    """Append-only: a node's new state (`index` None) or a device's health (`state` healthy or
    unhealthy), `at` the time it changed, written with the change (services/nodes/history.py);
    the leases' SLA reports read availability from it."""

    __tablename__ = "node_changes"
    __table_args__ = (Index("ix_node_changes_node_at", "node_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    index: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]
