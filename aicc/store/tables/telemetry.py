"""The tables of `services/telemetry`: device and node samples. Only that context names them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base

NODE_INDEX = -1  # the `index` of a sample of the node as a whole (its power), not of a device


class DeviceSampleRow(Base):
    """A measured utilization of one real device (NVML), for busy rates and idle flags."""

    __tablename__ = "device_samples"
    __table_args__ = (Index("ix_device_samples_device_at", "node_id", "index", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(40))
    index: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    utilization: Mapped[float]  # 0..1 of the sample period the device was busy
    memory_used_mib: Mapped[int | None] = mapped_column(Integer)
    # A node's own power (W), on its row of index NODE (-1): read by its BMC or RAPL (`source`)
    power_w: Mapped[float | None] = mapped_column(default=None)
    source: Mapped[str | None] = mapped_column(String(16), default=None)  # nvml | bmc | rapl
    # the power limit in force as the BMC said with that sample (None: none, or not a BMC's)
    limit_w: Mapped[float | None] = mapped_column(default=None)
