"""Kubernetes nodes as AICC nodes: pure functions on `GET /api/v1/nodes` items (trimmed to the
fields that matter; labels as GPU feature discovery and Ascend's and HAMi's plugins set them)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from aicc.core.topology import WHOLE_DEVICES, NodeState
from aicc.executors.kubernetes import nodes
from aicc.executors.kubernetes.nodes import NodeOptions


def node(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    capacity: dict[str, str] | None = None,
    allocatable: dict[str, str] | None = None,
    ready: str = "True",
    unschedulable: bool = False,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    base = {"cpu": "192", "memory": "2113214588Ki", "pods": "110", "ephemeral-storage": "1.8Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
            | (labels or {}),
            "annotations": annotations or {},
        },
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "capacity": base | (capacity or {}),
            "allocatable": base
            | {"cpu": "191500m", "memory": "2103728252Ki"}
            | (allocatable or {}),
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                },
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                    "message": "kubelet is posting ready status"
                    if ready == "True"
                    else "Kubelet stopped posting node status.",
                },
            ],
            "addresses": [
                {"type": "InternalIP", "address": "10.8.0.17"},
                {"type": "Hostname", "address": name},
            ],
        },
    }


H100 = node(
    "dgx-07",
    labels={
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        "nvidia.com/gpu.memory": "81559",
        "nvidia.com/gpu.count": "8",
        "topology.kubernetes.io/zone": "hall-b",
        "topology.kubernetes.io/rack": "r12",
        "aicc.io/pool": "h100",
    },
    capacity={"nvidia.com/gpu": "8"},
    allocatable={"nvidia.com/gpu": "7"},  # the plugin withholds an unhealthy GPU
)
ATLAS = node(
    "atlas-01",
    labels={"accelerator": "huawei-Ascend910", "accelerator-type": "module-910b-8"},
    capacity={"huawei.com/Ascend910": "8"},
    allocatable={"huawei.com/Ascend910": "8"},
)
MLU = node("mlu-03", capacity={"cambricon.com/mlu": "4"}, allocatable={"cambricon.com/mlu": "4"})


def test_quantities() -> None:
    assert nodes.cpu_milli("191500m") == 191500 and nodes.cpu_milli("16") == 16000
    assert nodes.cpu_milli("0.5") == 500
    assert nodes.memory_mib("2113214588Ki") == 2113214588 // 1024
    assert nodes.memory_mib("128Gi") == 131072 and nodes.memory_mib("1e9") == 953
    assert nodes.quantity("1.8Ti") == Decimal("1.8") * 2**40
    with pytest.raises(ValueError):
        nodes.quantity("lots")


def test_gpu_node_from_feature_discovery_labels() -> None:
    found = nodes.inventory([H100], NodeOptions())
    (n,) = found.nodes
    assert n.name == "dgx-07" and n.executor == "kubernetes" and n.state is NodeState.READY
    assert n.cpu_milli == 191500 and n.memory_mib == 2103728252 // 1024
    assert [d.model for d in n.devices] == ["H100-SXM"] * 8
    assert {d.memory_mib for d in n.devices} == {81559}
    assert [d.healthy for d in n.devices] == [True] * 7 + [False]
    assert n.labels == {
        WHOLE_DEVICES: "true",  # without HAMi, pods get whole devices only
        "cluster": "kubernetes",
        "pool": "h100",
        "rack": "r12",
        "zone": "hall-b",
        "address": "10.8.0.17",
    }
    assert found.resources == {"dgx-07": "nvidia.com/gpu"}
    assert found.hostnames == {"dgx-07": "dgx-07"}


def test_ascend_node() -> None:
    (n,) = nodes.inventory([ATLAS], NodeOptions()).nodes
    assert [d.model for d in n.devices] == ["Ascend-910B"] * 8
    assert n.devices[0].memory_mib == 64 * 1024


def test_ascend_310p_node_is_counted_in_its_own_resource() -> None:
    """Ascend's device plugin counts 310P cards as `huawei.com/Ascend310P`; its chip name label
    (`310P3`, as npu-smi prints it) names the model."""
    duo = node(
        "atlas-300i",
        labels={"node.kubernetes.io/npu.chip.name": "310P3"},
        capacity={"huawei.com/Ascend310P": "4"},
        allocatable={"huawei.com/Ascend310P": "3"},
    )
    found = nodes.inventory([duo], NodeOptions())
    (n,) = found.nodes
    assert [d.model for d in n.devices] == ["Ascend-310P"] * 4
    assert [d.healthy for d in n.devices] == [True, True, True, False]
    assert found.resources == {"atlas-300i": "huawei.com/Ascend310P"}


def test_a_hami_dcu_node_is_read_in_hamis_resource() -> None:
    dcu = node(
        "dcu-1",
        labels={"aicc.io/accelerator": "Z100"},
        capacity={"hygon.com/dcunum": "8"},
        allocatable={"hygon.com/dcunum": "8"},
    )
    found = nodes.inventory([dcu], NodeOptions())
    assert [d.model for d in found.nodes[0].devices] == ["DCU-Z100"] * 8
    assert found.resources == {"dcu-1": "hygon.com/dcunum"}  # what its pods then ask for


def test_cambricon_node_takes_the_configured_model() -> None:
    (unknown,) = nodes.inventory([MLU], NodeOptions()).nodes
    assert {d.model for d in unknown.devices} == {"mlu"}  # no job asks for it by model
    options = NodeOptions(default_models={"cambricon.com/mlu": "MLU370-X8"}, simulated=True)
    (n,) = nodes.inventory([MLU], options).nodes
    assert {d.model for d in n.devices} == {"MLU370-X8"} and n.simulated


def test_operator_label_names_the_model() -> None:
    labelled = node(
        "l40s-1",
        labels={"aicc.io/accelerator": "L40S", "nvidia.com/gpu.product": "NVIDIA-L40S"},
        capacity={"nvidia.com/gpu": "4"},
        allocatable={"nvidia.com/gpu": "4"},
    )
    (n,) = nodes.inventory([labelled], NodeOptions()).nodes
    assert {d.model for d in n.devices} == {"L40S"}


def test_cordoned_and_not_ready() -> None:
    found = nodes.inventory(
        [node("a", unschedulable=True), node("b", ready="Unknown"), node("c")], NodeOptions()
    )
    states = {n.name: n.state for n in found.nodes}
    assert states == {"a": NodeState.CORDONED, "b": NodeState.DOWN, "c": NodeState.READY}
    assert "cordoned" in found.reasons["a"]
    assert "stopped posting" in found.reasons["b"] and "c" not in found.reasons
    assert found.nodes[2].devices == ()


HAMI_JSON = json.dumps(
    [
        {
            "id": "GPU-6f3d0b8e-1c2a",
            "index": 0,
            "count": 10,
            "devmem": 81559,
            "devcore": 100,
            "type": "NVIDIA-NVIDIA H100 80GB HBM3",
            "numa": 0,
            "mode": "hami-core",
            "health": True,
        },
        {
            "id": "GPU-9a0b7c6d-2e3f",
            "index": 1,
            "count": 10,
            "devmem": 81559,
            "devcore": 100,
            "type": "NVIDIA-NVIDIA H100 80GB HBM3",
            "numa": 1,
            "mode": "hami-core",
            "health": False,
        },
    ]
)
HAMI_OLD = (
    "GPU-6f3d0b8e-1c2a,10,81559,100,NVIDIA-NVIDIA H100 80GB HBM3,0,true:"
    "GPU-9a0b7c6d-2e3f,10,81559,100,NVIDIA-NVIDIA H100 80GB HBM3,1,false:"
)


@pytest.mark.parametrize("annotation", [HAMI_JSON, HAMI_OLD])
def test_hami_node_lists_physical_gpus(annotation: str) -> None:
    shared = node(
        "gpu-02",
        capacity={"nvidia.com/gpu": "20"},  # HAMi counts shares, 10 per GPU
        allocatable={"nvidia.com/gpu": "20"},
        annotations={"hami.io/node-nvidia-register": annotation},
    )
    (n,) = nodes.inventory([shared], NodeOptions(hami=True)).nodes
    assert WHOLE_DEVICES not in n.labels  # HAMi shares devices
    assert [(d.model, d.memory_mib, d.uuid, d.healthy) for d in n.devices] == [
        ("H100-SXM", 81559, "GPU-6f3d0b8e-1c2a", True),
        ("H100-SXM", 81559, "GPU-9a0b7c6d-2e3f", False),
    ]
    (plain,) = nodes.inventory([shared], NodeOptions(hami=False)).nodes
    assert len(plain.devices) == 20  # without hami the count is taken as it is
