"""The center's monthly report (`services.reports.monthly`'s read model, which is pydantic
already: its JSON is this)."""

from __future__ import annotations

from aicc.services.reports.monthly import (
    DeviceHours,
    Energy,
    EnergyDay,
    JobsOfKind,
    Money,
    MonthlyReport,
    OrgBill,
    Revenue,
    Share,
    TenantKind,
)

__all__ = [
    "DeviceHours",
    "Energy",
    "EnergyDay",
    "JobsOfKind",
    "Money",
    "MonthlyReport",
    "OrgBill",
    "Revenue",
    "Share",
    "TenantKind",
]
