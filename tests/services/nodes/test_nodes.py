"""The inventory an operator imports: MIG slices declared for simulated GPUs, checked against the
catalog so a wrong layout is refused with what to write instead."""

from __future__ import annotations

from typing import Any

import pytest

from aicc.core.topology import MigInstance
from aicc.services.common import Invalid
from aicc.services.nodes.nodes import Inventory, inventory_nodes


def node_with(**device: Any) -> Inventory:
    group = {"model": "A100-80GB", "simulated": True, **device}
    return Inventory.model_validate(
        {"nodes": [{"name": "mig-a", "cpu": 16, "memory": "64GiB", "devices": [group]}]}
    )


def test_each_device_of_a_group_gets_the_declared_slices() -> None:
    (node,) = inventory_nodes(node_with(count=2, mig=["3g.40gb", "2G.20GB", "1g.10gb"]))
    layout = (MigInstance(0, "3g.40gb"), MigInstance(1, "2g.20gb"), MigInstance(2, "1g.10gb"))
    assert [d.mig for d in node.devices] == [layout, layout]
    (plain,) = inventory_nodes(node_with())
    assert plain.devices[0].mig == ()


@pytest.mark.parametrize(
    ("device", "words"),
    [
        ({"mig": ["1g.5gb"]}, ["nodes.mig-a.devices.mig", "offers: 1g.10gb"]),
        ({"mig": ["1g.10gb"] * 8}, ["more than the 7 compute slices"]),
        ({"mig": ["7g.80gb"], "simulated": False}, ["only for simulated devices"]),
        ({"model": "L4", "mig": ["1g.10gb"]}, ["L4 has no MIG profile", "offers: none"]),
    ],
)
def test_a_wrong_layout_is_refused_with_what_to_change(
    device: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(Invalid) as info:
        inventory_nodes(node_with(**device))
    assert all(word in str(info.value) for word in words), info.value
