"""`client.maintenance`: maintenance windows of nodes (`services.nodes.views.MaintenanceWindow`);
center admins announce and cancel them, everyone lists them."""

from __future__ import annotations

import builtins
from datetime import datetime

from aicc.sdk.transport import Resource, api_path
from aicc.services.nodes.views import MaintenanceWindow


class Maintenance(Resource):
    def list(self, past: bool = False) -> builtins.list[MaintenanceWindow]:
        """Windows to come and going on; `past` adds ended and cancelled ones."""
        params = {"past": "true"} if past else None
        return self._items(MaintenanceWindow, api_path("maintenance"), params)

    def get(self, window_id: str) -> MaintenanceWindow:
        return self._one(MaintenanceWindow, "GET", api_path("maintenance", window_id))

    def create(
        self,
        *,
        starts_at: datetime | str,
        ends_at: datetime | str,
        reason: str,
        nodes: builtins.list[str] | None = None,
        rack: str | None = None,
        pool: str | None = None,
    ) -> MaintenanceWindow:
        """Exactly one of `nodes`, `rack`, `pool`; times as datetimes or ISO 8601 text."""
        body = {
            "nodes": nodes or [],
            "rack": rack,
            "pool": pool,
            "from": _iso(starts_at),
            "to": _iso(ends_at),
            "reason": reason,
        }
        return self._one(MaintenanceWindow, "POST", api_path("maintenance"), json=body)

    def cancel(self, window_id: str) -> MaintenanceWindow:
        path = api_path("maintenance", window_id, "cancel")
        return self._one(MaintenanceWindow, "POST", path)


def _iso(at: datetime | str) -> str:
    return at.isoformat() if isinstance(at, datetime) else at
