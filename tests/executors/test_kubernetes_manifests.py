"""The Kubernetes objects AICC creates, checked against the official schemas.

No API server runs here: every manifest is validated with `kubernetes-validate` in strict mode
(unknown fields are errors) against Kubernetes 1.30 and the newest version it knows, and then
checked for what a cluster admin expects: requests, affinity, labels, the gang's rendezvous.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from aicc.executors.base import DataMount, ReplicaLaunch
from aicc.executors.kubernetes import manifests, naming, resources
from aicc.executors.kubernetes.manifests import DataPods, Manifests, PodOptions
from aicc.executors.kubernetes.resources import Accelerator, ManifestError, device_resource

kubernetes_validate = pytest.importorskip("kubernetes_validate")

VERSIONS = ("1.30", kubernetes_validate.latest_version())
JOB = "job_01JDQ4ZK3X9V7Y5W2T8R6P4N0M"
NAME = "aicc-job-01jdq4zk3x9v7y5w2t8r6p4n0m-0"
SECRET_VALUE = "hf_do-not-leak-1234"
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def replica(
    index: int = 0,
    *,
    replicas: int = 1,
    node: str = "gpu-01",
    devices: tuple[int, ...] = (),
    device_variable: str = "CUDA_VISIBLE_DEVICES",
    cpu_milli: int = 4000,
    memory_mib: int = 16384,
    max_runtime_s: int | None = 7200,
    workdir_sha256: str | None = None,
    checkpoint_subdir: str | None = None,
    attempt: int = 0,
) -> ReplicaLaunch:
    """A replica as the reconciler builds it (loops/reconcile.py: _launch)."""
    env = {
        "EPOCHS": "3",
        "HF_TOKEN": SECRET_VALUE,
        "NVIDIA_VISIBLE_DEVICES": "all",  # a user trying to reach every GPU of the node
        "WORLD_SIZE": str(replicas),
        "RANK": str(index),
        "LOCAL_RANK": "0",
        "NODE_RANK": str(index),
        "MASTER_ADDR": "10.0.0.11",
        "MASTER_PORT": "29517",
        "AICC_JOB_ID": JOB,
        "AICC_ATTEMPT": str(attempt),
        "AICC_REPLICA": str(index),
    }
    if devices:
        env[device_variable] = ",".join(map(str, devices))
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return ReplicaLaunch(
        job_id=JOB,
        attempt=attempt,
        index=index,
        argv=["python", "train.py", "--epochs", "3"],
        env=env,
        node=node,
        device_indices=devices,
        cpu_milli=cpu_milli,
        memory_mib=memory_mib,
        max_runtime_s=max_runtime_s,
        workdir_sha256=workdir_sha256,
        checkpoint_subdir=checkpoint_subdir,
        labels={"team": "vision", "aicc.io/job": "forged", "bad key!": "x", "cost-center": "A 12"},
    )


def validate(built: Manifests) -> None:
    """Every object, strict, against each version; and the names and labels Kubernetes checks
    beyond the schema (DNS-1123 names, label syntax)."""
    for manifest in built.all():
        for version in VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)
        meta = manifest["metadata"]
        assert naming.is_dns_label(meta["name"]), meta["name"]
        for key, value in meta.get("labels", {}).items():
            assert naming.is_label_key(key) and LABEL_VALUE.match(value), (key, value)
    for key, value in pod(built)["metadata"]["labels"].items():
        assert naming.is_label_key(key) and LABEL_VALUE.match(value), (key, value)


def pod(built: Manifests) -> dict[str, Any]:
    template: dict[str, Any] = built.job["spec"]["template"]
    return template


def main(built: Manifests) -> dict[str, Any]:
    container: dict[str, Any] = pod(built)["spec"]["containers"][0]
    return container


def env_of(built: Manifests) -> dict[str, Any]:
    """The main container's explicit env: name -> value, or the fieldRef path."""
    out: dict[str, Any] = {}
    for item in main(built)["env"]:
        ref = item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        out[item["name"]] = ref if ref else item["value"]
    return out


OPTIONS = PodOptions(
    namespace="aicc-jobs",
    priority_classes={"low": "aicc-low", "normal": "aicc-normal", "high": "aicc-high"},
    grace_s=30,
    ttl_after_finished_s=3600,
)


def test_one_whole_gpu() -> None:
    built = manifests.build(
        [replica(devices=(0,))],
        options=OPTIONS,
        image="pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        accelerator=Accelerator("nvidia.com/gpu", 1),
        priority_class_name=resources.priority_class(None, OPTIONS.priority_classes),
        hostnames=["gpu-01"],
    )
    validate(built)
    job, spec = built.job, built.job["spec"]
    assert job["metadata"]["name"] == NAME and job["metadata"]["namespace"] == "aicc-jobs"
    assert spec["backoffLimit"] == 0 and spec["completions"] == spec["parallelism"] == 1
    assert "completionMode" not in spec and built.service is None
    assert spec["activeDeadlineSeconds"] == 7200 and spec["ttlSecondsAfterFinished"] == 3600
    assert spec["suspend"] is True  # resumed by the executor once its parts exist
    pod_spec = pod(built)["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["terminationGracePeriodSeconds"] == 30
    assert pod_spec["priorityClassName"] == "aicc-normal"
    assert pod_spec["automountServiceAccountToken"] is False
    asked = main(built)["resources"]
    assert asked["limits"] == {"cpu": "4000m", "memory": "16384Mi", "nvidia.com/gpu": "1"}
    assert asked["requests"] == asked["limits"]  # Guaranteed QoS
    assert main(built)["command"] == ["python", "train.py", "--epochs", "3"]
    labels = job["metadata"]["labels"]
    assert labels["aicc.io/job"] == JOB and labels["aicc.io/attempt"] == "0"
    assert labels["aicc.io/replica"] == "0" and labels["app.kubernetes.io/managed-by"] == "aicc"
    assert labels["team"] == "vision" and labels["cost-center"] == "A-12"
    assert "bad key!" not in labels
    env = env_of(built)
    assert env["RANK"] == "0" and env["MASTER_ADDR"] == "status.podIP"
    assert env["AICC_OUTPUT_DIR"] == "/aicc/job/outputs"
    assert "NVIDIA_VISIBLE_DEVICES" not in env and "CUDA_VISIBLE_DEVICES" not in env


def test_secrets_live_in_the_secret_not_in_the_job() -> None:
    built = manifests.build(
        [replica(devices=(0,))],
        options=OPTIONS,
        image="busybox:1.36",
        accelerator=Accelerator("nvidia.com/gpu", 1),
    )
    validate(built)
    assert SECRET_VALUE not in json.dumps(built.job)
    data = built.secret["stringData"]
    assert data["HF_TOKEN"] == SECRET_VALUE and data["AICC_JOB_ID"] == JOB
    assert built.secret["metadata"]["name"] == f"{NAME}-env"
    assert main(built)["envFrom"] == [{"secretRef": {"name": f"{NAME}-env"}}]
    # Device and per-pod variables are not the Secret's: the device plugin picks devices.
    for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "RANK", "MASTER_ADDR"):
        assert name not in data


def test_eight_gpus_pinned_to_a_node() -> None:
    devices = tuple(range(8))
    built = manifests.build(
        [replica(node="dgx-07", devices=devices, cpu_milli=96000, memory_mib=1_000_000)],
        options=OPTIONS,
        image="nvcr.io/nvidia/pytorch:24.10-py3",
        accelerator=Accelerator("nvidia.com/gpu", 8),
        priority_class_name=resources.priority_class(1000, OPTIONS.priority_classes),
        hostnames=["dgx-07.cluster.internal"],
    )
    validate(built)
    pod_spec = pod(built)["spec"]
    assert pod_spec["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/hostname",
                                "operator": "In",
                                "values": ["dgx-07.cluster.internal"],
                            }
                        ]
                    }
                ]
            }
        }
    }
    assert pod_spec["priorityClassName"] == "aicc-high"
    limits = main(built)["resources"]["limits"]
    assert limits == {"cpu": "96000m", "memory": "1000000Mi", "nvidia.com/gpu": "8"}
    assert pod(built)["metadata"]["annotations"]["aicc.io/nodes"] == "dgx-07"


def test_placement_by_kubernetes_has_no_affinity() -> None:
    options = PodOptions(namespace="aicc", pin_nodes=False, node_selector={"pool": "a100"})
    built = manifests.build(
        [replica(devices=(0,))],
        options=options,
        image="busybox:1.36",
        accelerator=Accelerator("nvidia.com/gpu", 1),
        hostnames=["gpu-01"],
    )
    validate(built)
    assert "affinity" not in pod(built)["spec"]
    assert pod(built)["spec"]["nodeSelector"] == {"pool": "a100"}
    assert "priorityClassName" not in pod(built)["spec"]  # no classes configured


def test_ascend_910b_job() -> None:
    built = manifests.build(
        [
            replica(
                node="atlas-01",
                devices=tuple(range(8)),
                device_variable="ASCEND_RT_VISIBLE_DEVICES",
            )
        ],
        options=OPTIONS,
        image="ascendhub.huawei.com/public-ascendhub/mindspore-modelzoo:24.0.RC1",
        accelerator=Accelerator("huawei.com/Ascend910", 8),
        hostnames=["atlas-01"],
    )
    validate(built)
    limits = main(built)["resources"]["limits"]
    assert limits["huawei.com/Ascend910"] == "8" and "nvidia.com/gpu" not in limits
    env = env_of(built)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "void"  # no NVIDIA GPU through the runtime
    assert "ASCEND_RT_VISIBLE_DEVICES" not in built.secret["stringData"]


def test_cambricon_job() -> None:
    built = manifests.build(
        [replica(node="mlu-03", devices=(0, 1, 2, 3), device_variable="MLU_VISIBLE_DEVICES")],
        options=OPTIONS,
        image="cambricon/pytorch:v1.17.0-torch2.1",
        accelerator=Accelerator("cambricon.com/mlu", 4),
        hostnames=["mlu-03"],
    )
    validate(built)
    assert main(built)["resources"]["requests"]["cambricon.com/mlu"] == "4"
    assert "MLU_VISIBLE_DEVICES" not in built.secret["stringData"]


def test_cpu_only_job_sees_no_gpu() -> None:
    built = manifests.build([replica()], options=OPTIONS, image="python:3.12-slim")
    validate(built)
    assert main(built)["resources"]["limits"] == {"cpu": "4000m", "memory": "16384Mi"}
    env = env_of(built)
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_hami_fractional_share() -> None:
    options = PodOptions(namespace="aicc", hami=True)
    share = Accelerator(
        "nvidia.com/gpu", 1, milli=500, memory_mib=20480, uuids=("GPU-6f3d0b8e-1c2a",)
    )
    built = manifests.build(
        [replica(devices=(3,))],
        options=options,
        image="busybox:1.36",
        accelerator=share,
        hostnames=["gpu-01"],
    )
    validate(built)
    limits = main(built)["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert limits["nvidia.com/gpumem"] == "20480" and limits["nvidia.com/gpucores"] == "50"
    annotations = pod(built)["metadata"]["annotations"]
    assert annotations["nvidia.com/use-gpuuuid"] == "GPU-6f3d0b8e-1c2a"


def test_hami_share_sizes() -> None:
    # Device memory unknown to the spec: that fraction of the device, rounded down.
    third = Accelerator("nvidia.com/gpu", 1, milli=333, device_memory_mib=81559)
    assert resources.accelerator_resources(third, hami=True) == {
        "nvidia.com/gpu": "1",
        "nvidia.com/gpucores": "33",
        "nvidia.com/gpumem": str(81559 * 333 // 1000),
    }
    # Three shares AICC packed onto one device fit in HAMi's count too.
    assert 3 * 33 <= 100
    unknown = Accelerator("nvidia.com/gpu", 1, milli=250)
    assert (
        resources.accelerator_resources(unknown, hami=True)["nvidia.com/gpumem-percentage"] == "25"
    )
    # Whole devices on a HAMi cluster take the whole device.
    whole = resources.accelerator_resources(Accelerator("nvidia.com/gpu", 2), hami=True)
    assert whole == {
        "nvidia.com/gpu": "2",
        "nvidia.com/gpumem-percentage": "100",
        "nvidia.com/gpucores": "100",
    }


@pytest.mark.parametrize("hami", [False, True])
def test_one_mig_slice(hami: bool) -> None:
    built = manifests.build(
        [replica(devices=(0,))],
        options=PodOptions(namespace="aicc", hami=hami),
        image="busybox:1.36",
        accelerator=Accelerator(device_resource("A100-80GB", "1g.10gb"), 1),
        hostnames=["gpu-01"],
    )
    validate(built)
    limits = main(built)["resources"]["limits"]
    assert limits == {"cpu": "4000m", "memory": "16384Mi", "nvidia.com/mig-1g.10gb": "1"}
    assert "CUDA_VISIBLE_DEVICES" not in env_of(built)  # the device plugin sets it


def test_share_without_hami_is_refused() -> None:
    with pytest.raises(ManifestError, match="HAMi"):
        resources.accelerator_resources(Accelerator("nvidia.com/gpu", 1, milli=500), hami=False)
    with pytest.raises(ManifestError, match="HAMi"):
        resources.accelerator_resources(
            Accelerator("huawei.com/Ascend910", 1, milli=500), hami=True
        )


def test_four_replica_gang() -> None:
    gang = [replica(i, replicas=4, node=f"gpu-0{i // 2 + 1}", devices=(0, 1)) for i in (2, 0, 3, 1)]
    built = manifests.build(
        gang,
        options=OPTIONS,
        image="pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        accelerator=Accelerator("nvidia.com/gpu", 2),
        hostnames=["gpu-01", "gpu-01", "gpu-02", "gpu-02"],
    )
    validate(built)
    spec = built.job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4 and spec["backoffLimit"] == 0
    pod_spec = pod(built)["spec"]
    assert pod_spec["subdomain"] == NAME
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["gpu-01", "gpu-02"]
    index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    env = env_of(built)
    assert env["RANK"] == env["NODE_RANK"] == env["AICC_REPLICA"] == index
    assert env["LOCAL_RANK"] == "0" and env["MASTER_ADDR"] == f"{NAME}-0.{NAME}"
    assert built.secret["stringData"]["WORLD_SIZE"] == "4"
    assert built.secret["stringData"]["MASTER_PORT"] == "29517"
    service = built.service
    assert service is not None
    assert service["metadata"]["name"] == NAME  # = the pods' subdomain
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    selector = service["spec"]["selector"]
    assert selector.items() <= pod(built)["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["port"] == 29517
    assert "aicc.io/replica" not in pod(built)["metadata"]["labels"]  # one template for all


def test_gang_must_be_whole_and_of_one_attempt() -> None:
    with pytest.raises(ManifestError, match=r"0\.\.1"):
        manifests.build(
            [replica(0, replicas=3), replica(2, replicas=3)], options=OPTIONS, image="x"
        )
    with pytest.raises(ManifestError, match="attempts"):
        manifests.build(
            [replica(0, replicas=2), replica(1, replicas=2, attempt=1)], options=OPTIONS, image="x"
        )


def test_workdir_checkpoints_and_volume_claim() -> None:
    options = PodOptions(namespace="aicc", volume_claim="aicc-shared", init_image="busybox:1.36")
    archive = b"\x1f\x8b" + b"tar.gz bytes" * 100
    built = manifests.build(
        [replica(workdir_sha256="ab" * 32, checkpoint_subdir="ckpt/")],
        options=options,
        image="python:3.12-slim",
        workdir=archive,
    )
    validate(built)
    config_map = built.workdir
    assert config_map is not None and config_map["metadata"]["name"] == f"{NAME}-workdir"
    assert base64.b64decode(config_map["binaryData"]["workdir.tar.gz"]) == archive
    pod_spec = pod(built)["spec"]
    init = pod_spec["initContainers"][0]
    assert init["image"] == "busybox:1.36" and init["command"][0] == "tar"
    assert main(built)["workingDir"] == "/aicc/work"
    mounts = {m["mountPath"]: m for m in main(built)["volumeMounts"]}
    assert mounts["/aicc/job/outputs"]["subPath"] == f"{JOB}/outputs"
    assert mounts["/aicc/work/ckpt"]["subPath"] == f"{JOB}/checkpoint"
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["job"]["persistentVolumeClaim"] == {"claimName": "aicc-shared"}
    assert volumes["upload"]["configMap"]["name"] == f"{NAME}-workdir"


DATA = DataPods(api_url="http://aicc.aicc-system.svc:8000", image="registry.local/aicc:1")
MOUNTS = (
    DataMount("corpus", "dsv_01", "corpus@3", 5 * 2**30),
    DataMount("labels", "dsv_02", "vision/shared/labels@1", 2**20),
)


def with_data(launch: ReplicaLaunch) -> ReplicaLaunch:
    return replace(launch, datasets=MOUNTS, data_grant="aiccdata_sealed-grant")


def test_data_sets_come_through_an_init_container_and_the_node_cache() -> None:
    options = replace(OPTIONS, data=DATA)
    built = manifests.build(
        [with_data(replica(workdir_sha256="ab" * 32))], options=options, image="x", workdir=b"x"
    )
    validate(built)
    spec = pod(built)["spec"]
    workdir, data = spec["initContainers"]
    assert workdir["name"] == "workdir" and data["name"] == "data"
    assert data["image"] == "registry.local/aicc:1"
    assert data["command"] == ["python", "-m", "aicc.executors.kubernetes.fetch"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in data["env"]}
    assert env["AICC_API_URL"] == DATA.api_url and env["AICC_JOB_ID"] == JOB
    assert env["AICC_DATA_GRANT"] == {
        "secretKeyRef": {"name": f"{NAME}-env", "key": "AICC_DATA_GRANT"}
    }
    assert env["AICC_DATA_CACHE"] == "/aicc/cache"
    # The grant is in the Secret, never in the Job.
    assert built.secret["stringData"]["AICC_DATA_GRANT"] == "aiccdata_sealed-grant"
    assert "sealed-grant" not in json.dumps(built.job)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data-cache"]["hostPath"] == {
        "path": "/var/cache/aicc/data",
        "type": "DirectoryOrCreate",
    }
    # The pod's volume holds the data and no more than a little besides.
    limit = int(volumes["data"]["emptyDir"]["sizeLimit"])
    assert 5 * 2**30 + 2**20 < limit < 1.1 * (5 * 2**30 + 2**20) + 2**27
    # The job sees the view read-only at $AICC_DATA_DIR, and not the node's cache.
    mounts = {m["name"]: m for m in main(built)["volumeMounts"]}
    assert mounts["data"] == {
        "name": "data",
        "mountPath": "/aicc/data",
        "subPath": "view",
        "readOnly": True,
    }
    assert "data-cache" not in mounts
    assert env_of(built)["AICC_DATA_DIR"] == "/aicc/data"


def test_data_sets_without_a_node_cache() -> None:
    options = replace(OPTIONS, data=replace(DATA, cache_path=None))
    built = manifests.build([with_data(replica())], options=options, image="x")
    validate(built)
    spec = pod(built)["spec"]
    (data,) = spec["initContainers"]
    env = {e["name"]: e.get("value") for e in data["env"]}
    assert env["AICC_DATA_CACHE"] == ""
    assert {v["name"] for v in spec["volumes"]} == {"job", "data"}


def test_data_sets_need_the_executor_set_up_for_them() -> None:
    with pytest.raises(ManifestError, match="not set up to mount data sets"):
        manifests.build([with_data(replica())], options=OPTIONS, image="x")


def test_workdir_too_large_for_a_config_map() -> None:
    with pytest.raises(ManifestError, match="image"):
        manifests.build(
            [replica(workdir_sha256="ab" * 32)],
            options=OPTIONS,
            image="x",
            workdir=b"0" * (manifests.MAX_WORKDIR_BYTES + 1),
        )


def test_checkpoint_dir_must_stay_in_the_workdir() -> None:
    with pytest.raises(ManifestError, match="checkpoint_dir"):
        manifests.build(
            [replica(workdir_sha256="ab" * 32, checkpoint_subdir="../elsewhere")],
            options=OPTIONS,
            image="x",
            workdir=b"x",
        )


def test_an_attempt_has_a_network_of_its_own() -> None:
    """Issue 35, Kubernetes' way: the attempt's pods take connections from each other alone
    and reach each other and DNS; with data sets the API's port; with egress `internet`
    public addresses only."""
    gang = [replica(0, replicas=2), replica(1, replicas=2)]
    built = manifests.build(gang, options=OPTIONS, image="x")
    validate(built)
    policy = built.network
    assert policy is not None and policy in built.parts
    own = [{"podSelector": {"matchLabels": {naming.LABEL_NAME: NAME}}}]
    assert policy["spec"]["podSelector"] == own[0]["podSelector"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == [{"from": own}]
    egress = policy["spec"]["egress"]
    assert egress[0] == {"to": own}
    assert [p["port"] for p in egress[1]["ports"]] == [53, 53] and len(egress) == 2
    assert not any("ipBlock" in str(rule) for rule in egress)  # egress none: no way out

    opened = [replace(r, egress="internet") for r in gang]
    with_data = replace(OPTIONS, data=DATA)
    wide = manifests.build(opened, options=with_data, image="x").network
    assert wide is not None
    rules = wide["spec"]["egress"]
    assert {"ports": [{"protocol": "TCP", "port": 8000}]} in rules  # the API, for data sets
    (block,) = [r["to"][0]["ipBlock"] for r in rules if "ipBlock" in str(r)]
    assert block["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in block["except"]
    for version in VERSIONS:
        kubernetes_validate.validate(wide, version, strict=True)


def test_parts_are_owned_by_the_job() -> None:
    owner = manifests.owner_reference({"metadata": {"name": NAME, "uid": "2c9e-77"}})
    assert owner == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": NAME,
        "uid": "2c9e-77",
        "blockOwnerDeletion": True,
    }
    built = manifests.build(
        [replica(0, replicas=2), replica(1, replicas=2)], options=OPTIONS, image="x"
    )
    for part in built.parts:
        owned = {**part, "metadata": {**part["metadata"], "ownerReferences": [owner]}}
        kubernetes_validate.validate(owned, "1.30", strict=True)


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (None, "aicc-normal"),
        (0, "aicc-low"),
        (99, "aicc-low"),
        (100, "aicc-normal"),
        (5000, "aicc-high"),
    ],
)
def test_priority_classes(priority: int | None, expected: str) -> None:
    assert resources.priority_class(priority, OPTIONS.priority_classes) == expected
    assert resources.priority_class(priority, {}) is None


def test_names_are_deterministic_dns_labels() -> None:
    assert naming.object_name(JOB, 0) == NAME == naming.object_name(JOB, 0)
    assert naming.object_name(JOB, 1) != NAME
    long = naming.object_name("job_" + "X" * 80, 12)
    assert naming.is_dns_label(long) and len(long) <= naming.MAX_NAME
    assert naming.object_name("job_" + "X" * 80, 12) != naming.object_name("job_" + "X" * 81, 12)
    handle = naming.Handle("aicc", NAME, 3)
    assert naming.Handle.parse(str(handle)) == handle
    for bad in ("slurm:1:/x", "k8s:aicc/NAME/0", "k8s:aicc/x/y", "k8s:aicc/x"):
        with pytest.raises(ValueError):
            naming.Handle.parse(bad)


def test_tenant_labels_cannot_claim_reserved_keys() -> None:
    labels = naming.tenant_labels(
        {"team": "vision", "aicc.io/job": "x", "node.kubernetes.io/x": "y", "a/b": "ok"}
    )
    assert labels == {"a/b": "ok", "team": "vision"}


def test_the_official_client_keeps_every_field() -> None:
    """What the executor sends goes through the client's models: nothing may be dropped."""
    client = pytest.importorskip("kubernetes.client")
    if not hasattr(client.V1Job, "from_dict"):
        pytest.skip("this client version has no from_dict")
    built = manifests.build(
        [replica(i, replicas=2, devices=(0,)) for i in (0, 1)],
        options=PodOptions(namespace="aicc", volume_claim="c", hami=True),
        image="x",
        accelerator=Accelerator("nvidia.com/gpu", 1, milli=500, memory_mib=1024),
        hostnames=["a", "b"],
        workdir=b"x",
    )
    with_sets = manifests.build(
        [with_data(replica())], options=replace(OPTIONS, data=DATA), image="x"
    )
    api = client.ApiClient()
    models = {"Job": client.V1Job, "Service": client.V1Service, "Secret": client.V1Secret}
    models["ConfigMap"] = client.V1ConfigMap
    models["NetworkPolicy"] = client.V1NetworkPolicy
    for manifest in [*built.all(), *with_sets.all()]:
        model = models[manifest["kind"]].from_dict(manifest)
        assert api.sanitize_for_serialization(model) == manifest


def test_importing_the_executor_does_not_import_the_client() -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "import tempfile\n"
        "from aicc.config import KubernetesSettings\n"
        "from aicc.executors.kubernetes import build\n"
        "from aicc.store.blobs import BlobStore\n"
        "executor = build(KubernetesSettings(), blobs=BlobStore(Path(tempfile.mkdtemp())),"
        " grace_s=10)\n"
        "assert executor.capabilities.multi_node\n"
        "assert 'kubernetes' not in sys.modules, 'imported at import time'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_command_survives_the_kubelets_expansion() -> None:
    argv = ["/bin/sh", "-c", "echo $$ $(date) $(HOME) ${RANK} $$(x)"]
    assert manifests.command(argv) == [
        "/bin/sh",
        "-c",
        "echo $$$$ $$(date) $$(HOME) $${RANK} $$$$(x)",
    ]
    built = manifests.build([replica()], options=OPTIONS, image="x")
    assert main(built)["command"] == ["python", "train.py", "--epochs", "3"]


def doc_example() -> Manifests:
    """The example in docs/kubernetes.md: a gang of two 8-GPU replicas with a workdir."""
    job = "job_01JDQ4ZK3X9V7Y5W2T8R6P4N0M"
    gang = []
    for i in range(2):
        env = {
            "EPOCHS": "3",
            "HF_TOKEN": "hf_xxxxxxxx",
            "WORLD_SIZE": "2",
            "RANK": str(i),
            "LOCAL_RANK": "0",
            "NODE_RANK": str(i),
            "MASTER_ADDR": "10.8.0.17",
            "MASTER_PORT": "29517",
            "AICC_JOB_ID": job,
            "AICC_ATTEMPT": "0",
            "AICC_REPLICA": str(i),
            "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7",
        }
        gang.append(
            ReplicaLaunch(
                job_id=job,
                attempt=0,
                index=i,
                argv=["torchrun", "--nproc-per-node=8", "train.py"],
                env=env,
                node=f"dgx-0{i + 7}",
                device_indices=tuple(range(8)),
                cpu_milli=96000,
                memory_mib=983040,
                max_runtime_s=86400,
                workdir_sha256="9f" * 32,
                labels={"team": "vision"},
            )
        )
    options = PodOptions(
        namespace="aicc-jobs",
        priority_classes={"high": "aicc-high"},
        grace_s=30,
        volume_claim="aicc-shared",
    )
    return manifests.build(
        gang,
        options=options,
        image="nvcr.io/nvidia/pytorch:24.10-py3",
        accelerator=Accelerator("nvidia.com/gpu", 8),
        priority_class_name="aicc-high",
        hostnames=["dgx-07", "dgx-08"],
        workdir=b"...",
    )


def doc_blocks(marker: str) -> list[Any]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "kubernetes.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [
        list(yaml.safe_load_all(b))
        for b in blocks
        if b.split("\n", 1)[0].strip() == f"# example: {marker}"
    ]


def test_the_documented_example_is_what_the_code_builds() -> None:
    (shown,) = doc_blocks("manifests")
    built = doc_example()
    assert shown == [built.job, built.service, built.secret], (
        "docs/kubernetes.md: the example is stale; print it with "
        "yaml.safe_dump_all([b.job, b.service, b.secret], sort_keys=False, width=100) "
        "for b = doc_example() in this file"
    )
    validate(built)


def test_the_documented_rbac_rules_validate() -> None:
    (rules,) = doc_blocks("rbac")
    assert [r["kind"] for r in rules] == ["ClusterRole", "Role"]
    for rule in rules:
        for version in VERSIONS:
            kubernetes_validate.validate(rule, version, strict=True)
