"""The center's monthly report (`services.reports.monthly`'s read model, which is pydantic
already: its JSON is this)."""

from __future__ import annotations

from aicc.services.reports.monthly import (
    Energy,
    EnergyDay,
    JobKind,
    Money,
    MonthlyReport,
    OrgBill,
    Revenue,
    Share,
    TenantKind,
    Utilization,
)

__all__ = [
    "Energy",
    "EnergyDay",
    "JobKind",
    "Money",
    "MonthlyReport",
    "OrgBill",
    "Revenue",
    "Share",
    "TenantKind",
    "Utilization",
]
