"""`client.nodes`: the machines, their inventory, cordon and drain. Answers are the nodes
context's read model (`services/nodes/views.py`): `list` is a `list[Node]`."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from aicc.sdk.transport import Resource, api_path
from aicc.services.nodes.views import Node


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
