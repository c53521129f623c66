"""The tables of `services/leases`: capacity leases. Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base


class CapacityLeaseRow(Base):
    """Dedicated capacity of an organization from `starts_at` to `ends_at`: whole nodes, or
    devices picked when it was made (`devices`: [{"node", "index"}]). What a later SLA report
    and the books need is kept: the tier, the price plan's name, when it really ended.
    `state`: scheduled | active | ended. (Not `leases`: that table is the loops' election.)"""

    __tablename__ = "capacity_leases"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    nodes: Mapped[list[Any]]  # names of whole nodes leased
    devices: Mapped[list[Any]]  # [{"node": name, "index": i}] of a device lease
    pool: Mapped[str | None] = mapped_column(String(128))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    tier: Mapped[float]
    plan: Mapped[str | None] = mapped_column(String(64))
    lends: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), index=True)
    ended_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
