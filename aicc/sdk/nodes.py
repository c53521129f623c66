"""`client.nodes`: the machines, their inventory, cordon and drain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aicc.sdk.transport import Json, Resource, api_path


class Nodes(Resource):
    def list(self) -> Json:
        return self._t.pages(api_path("nodes"))

    def import_inventory(self, doc: Mapping[str, Any]) -> Json:
        """Send an inventory document (config.md), already read from YAML, as JSON."""
        return self._t.call("POST", api_path("nodes", "import"), json=dict(doc))

    def cordon(self, name: str) -> Json:
        return self._t.call("POST", api_path("nodes", name, "cordon"))

    def drain(self, name: str, *, evict: bool = False) -> Json:
        path = api_path("nodes", name, "drain")
        return self._t.call("POST", path, params={"evict": str(evict).lower()})

    def uncordon(self, name: str) -> Json:
        return self._t.call("POST", api_path("nodes", name, "uncordon"))
