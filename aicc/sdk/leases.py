"""`client.leases`: dedicated capacity of an organization (`services.leases.views.Lease`);
center admins make and end leases, the lessee's members read theirs."""

from __future__ import annotations

import builtins
from datetime import datetime

from aicc.sdk.maintenance import _iso
from aicc.sdk.transport import Resource, api_path
from aicc.services.leases.views import Lease, SlaReport


class Leases(Resource):
    def list(self) -> builtins.list[Lease]:
        return self._items(Lease, api_path("leases"))

    def get(self, lease_id: str) -> Lease:
        return self._one(Lease, "GET", api_path("leases", lease_id))

    def create(
        self,
        org: str,
        *,
        starts_at: datetime | str,
        ends_at: datetime | str,
        nodes: builtins.list[str] | None = None,
        pool: str | None = None,
        devices: int | None = None,
        tier: float = 99.9,
        plan: str | None = None,
        lend: bool = False,
    ) -> Lease:
        """Whole `nodes`, or `devices` whole devices of `pool`."""
        body = {
            "org": org,
            "nodes": nodes or [],
            "pool": pool,
            "devices": devices,
            "from": _iso(starts_at),
            "to": _iso(ends_at),
            "tier": tier,
            "plan": plan,
            "lend": lend,
        }
        return self._one(Lease, "POST", api_path("leases"), json=body)

    def end(self, lease_id: str) -> Lease:
        return self._one(Lease, "POST", api_path("leases", lease_id, "end"))

    def report(self, lease_id: str, month: str | None = None) -> SlaReport:
        """The lease's SLA report of `month` (YYYY-MM; this month when None)."""
        params = {"month": month} if month else None
        return self._one(SlaReport, "GET", api_path("leases", lease_id, "report"), params=params)
