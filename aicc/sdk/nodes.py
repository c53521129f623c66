"""`client.nodes`: the machines, their inventory, cordon and drain. Answers are the nodes
context's read model (`services/nodes/views.py`): `list` is a `list[Node]`."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from aicc.sdk.transport import Resource, api_path
from aicc.services.nodes.views import Bmc, Node
from aicc.services.telemetry.views import PowerCurve


class Nodes(Resource):
    def list(self) -> list[Node]:
        return self._items(Node, api_path("nodes"))

    def import_inventory(self, doc: Mapping[str, Any]) -> builtins.list[Node]:
        """Send an inventory document (config.md), already read from YAML, as JSON; the nodes
        it added or changed."""
        return self._each(Node, "POST", api_path("nodes", "import"), json=dict(doc))

    def get(self, name: str) -> Node:
        """One node, with its last burn-in (`burn_in`: figures, verdict, reason)."""
        return self._one(Node, "GET", api_path("nodes", name))

    def burn_in(self, name: str) -> Node:
        """Run the node's burn-in now (center admins): it leaves service until it passes."""
        return self._one(Node, "POST", api_path("nodes", name, "burn-in"))

    def cordon(self, name: str) -> Node:
        return self._one(Node, "POST", api_path("nodes", name, "cordon"))

    def drain(self, name: str, *, evict: bool = False) -> Node:
        path = api_path("nodes", name, "drain")
        return self._one(Node, "POST", path, params={"evict": str(evict).lower()})

    def uncordon(self, name: str) -> Node:
        return self._one(Node, "POST", api_path("nodes", name, "uncordon"))

    def bmc(self, name: str) -> Bmc:
        """The node's BMC (center admins): address, user and status; never its password."""
        return self._one(Bmc, "GET", api_path("nodes", name, "bmc"))

    def set_bmc(
        self,
        name: str,
        *,
        address: str,
        username: str = "",
        password: str | None = None,
        verify_tls: bool = True,
        interval_s: float = 60.0,
    ) -> Bmc:
        body = {
            "address": address,
            "username": username,
            "password": password,
            "verify_tls": verify_tls,
            "interval_s": interval_s,
        }
        return self._one(Bmc, "PUT", api_path("nodes", name, "bmc"), json=body)

    def remove_bmc(self, name: str) -> None:
        self._t.call("DELETE", api_path("nodes", name, "bmc"))

    def power_limit(self, name: str, watts: float | str | None) -> Bmc:
        """Ask for a power limit (`500W`, or watts); None lifts it."""
        path = api_path("nodes", name, "power-limit")
        return self._one(Bmc, "PUT", path, json={"watts": watts})

    def power(self, name: str, *, hours: float = 24) -> PowerCurve:
        """The node's measured power over the last `hours`: buckets, oldest first, and summary."""
        path = api_path("nodes", name, "power")
        return self._one(PowerCurve, "GET", path, params={"hours": hours})
