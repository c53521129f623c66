"""The Kubernetes executor's decisions that need no cluster: what a replica asks of the device
plugin, and how the settings become an executor. (Its API calls have not run against a cluster:
docs/kubernetes.md.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aicc.config import ConfigError, KubernetesSettings
from aicc.core.topology import Device
from aicc.executors.base import DataMount, ReplicaLaunch
from aicc.executors.kubernetes import build
from aicc.executors.kubernetes.executor import accelerator_for, launch_extras, resource_from_env
from aicc.executors.kubernetes.manifests import DataPods
from aicc.executors.kubernetes.resources import Accelerator
from aicc.store.blobs import BlobStore


def replica(devices: tuple[int, ...], env: dict[str, str] | None = None) -> ReplicaLaunch:
    return ReplicaLaunch(
        job_id="job_01JDQ4ZK3X9V7Y5W2T8R6P4N0M",
        attempt=0,
        index=0,
        argv=["python", "train.py"],
        env=env or {},
        node="gpu-01",
        device_indices=devices,
        cpu_milli=1000,
        memory_mib=1024,
        max_runtime_s=None,
    )


H100 = {i: Device(i, "H100-SXM", 81559, uuid=f"GPU-{i:04d}") for i in range(8)}


def test_whole_devices() -> None:
    got = accelerator_for(
        replica((2, 3)), devices=H100, resource="nvidia.com/gpu", name_devices=False
    )
    assert got == Accelerator("nvidia.com/gpu", 2, device_memory_mib=81559)
    assert accelerator_for(replica(()), devices=H100, resource=None, name_devices=True) is None


def test_resource_from_the_device_variable_when_the_node_is_unknown() -> None:
    ascend = replica((0,), {"ASCEND_RT_VISIBLE_DEVICES": "0"})
    got = accelerator_for(ascend, devices={}, resource=None, name_devices=False)
    assert got is not None and got.resource == "huawei.com/Ascend910"
    assert resource_from_env({"MLU_VISIBLE_DEVICES": "0,1"}) == "cambricon.com/mlu"
    assert resource_from_env({"CUDA_VISIBLE_DEVICES": ""}) is None


def test_a_share_as_the_reconciler_will_pass_it() -> None:
    base = replica((3,))
    richer = replace(
        base,
        image="pytorch/pytorch:2.5.1",
        priority=1000,
        devices=({"index": 3, "milli": 500, "memory_mib": 20480},),
    )
    assert launch_extras(richer)[:2] == ("pytorch/pytorch:2.5.1", 1000)
    got = accelerator_for(richer, devices=H100, resource="nvidia.com/gpu", name_devices=True)
    assert got == Accelerator(
        "nvidia.com/gpu",
        1,
        milli=500,
        memory_mib=20480,
        device_memory_mib=81559,
        uuids=("GPU-0003",),
    )
    assert launch_extras(base) == (None, 100, {})


def test_a_mig_slice_asks_for_one_mig_resource_of_its_profile() -> None:
    slice_ = replace(
        replica((0,), {"CUDA_VISIBLE_DEVICES": "0", "AICC_MIG_PROFILE": "1g.10gb"}),
        devices=({"index": 0, "milli": 142, "memory_mib": 10240, "mig_slice": 3},),
        mig_profile="1g.10gb",
    )
    a100 = {0: Device(0, "A100-80GB", 81920, uuid="GPU-0000")}
    got = accelerator_for(slice_, devices=a100, resource="nvidia.com/gpu", name_devices=True)
    assert got == Accelerator("nvidia.com/mig-1g.10gb", 1)  # not pinned: the plugin picks it
    unknown_node = accelerator_for(slice_, devices={}, resource=None, name_devices=False)
    assert unknown_node == Accelerator("nvidia.com/mig-1g.10gb", 1)


def test_build_from_settings(tmp_path: Path) -> None:
    settings = KubernetesSettings(
        namespace="aicc-jobs",
        placement="kubernetes",
        hami=True,
        node_selector={"aicc.io/pool": "a100", "gpu": "true"},
        priority_classes={"high": "aicc-high"},
    )
    executor = build(settings, blobs=BlobStore(tmp_path), grace_s=12.5)
    assert executor.name == "kubernetes"
    caps = executor.capabilities
    assert caps.multi_node and caps.fractional and caps.log_streaming and not caps.node_pinning
    assert executor.options.grace_s == 12.5 and executor.options.namespace == "aicc-jobs"
    assert executor.label_selector == "aicc.io/pool=a100,gpu=true"
    assert executor.outputs_dir("job_x") is None  # no volume claim


def test_build_refuses_an_unknown_default_model(tmp_path: Path) -> None:
    settings = KubernetesSettings(default_models={"cambricon.com/mlu": "MLU999"})
    with pytest.raises(ConfigError, match="default_models"):
        build(settings, blobs=BlobStore(tmp_path), grace_s=10)


def test_data_sets_once_the_api_and_the_image_are_set(tmp_path: Path) -> None:
    with_data = replace(replica(()), datasets=(DataMount("corpus", "dsv_1", "corpus@1", 10),))
    plain = build(KubernetesSettings(), blobs=BlobStore(tmp_path), grace_s=10)
    assert not plain.mounts_data
    with pytest.raises(ValueError, match=r"kubernetes.api_url .* kubernetes.data_image"):
        plain.launch(with_data)  # refused before any call to the cluster
    settings = KubernetesSettings(
        api_url="http://aicc.aicc-system.svc:8000",
        data_image="registry.local/aicc:1",
        data_cache_path=None,
        data_cache_gib=20,
    )
    ready = build(settings, blobs=BlobStore(tmp_path), grace_s=10)
    assert ready.mounts_data
    assert ready.options.data == DataPods(
        "http://aicc.aicc-system.svc:8000", "registry.local/aicc:1", None, 20
    )
    with pytest.raises(ConfigError, match="go together"):
        build(KubernetesSettings(api_url="http://x"), blobs=BlobStore(tmp_path), grace_s=10)
