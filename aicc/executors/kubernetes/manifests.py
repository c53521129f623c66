"""The Kubernetes objects one job attempt runs as, built as plain dicts (pure: no client, no I/O).

One attempt of an AICC job becomes, all named `aicc-<job>-<attempt>` (naming.py):

- a `batch/v1` Job: a plain Job for one replica, an Indexed Job (`completions = parallelism =
  replicas`) for a gang. `restartPolicy: Never` and `backoffLimit: 0`, because AICC owns
  retries; `activeDeadlineSeconds` is the spec's `max_runtime`; `terminationGracePeriodSeconds`
  the server's grace period. It is created suspended and resumed once its parts exist, so no pod
  starts without its environment or workdir;
- a Secret `<name>-env` holding the replica environment (secrets among them), read with
  `envFrom`, so no value shows in the Job; per-pod values (RANK, MASTER_ADDR ...) are plain `env`;
- a ConfigMap `<name>-workdir` with the uploaded workdir archive, which an init container
  unpacks into `/aicc/work` (the main container's working directory);
- for a gang, a headless Service `<name>` that publishes not-ready addresses, so replica i
  answers at `<name>-i.<name>` as soon as its pod has an IP: `MASTER_ADDR` is `<name>-0.<name>`;
- for a job with `datasets`, a `data` init container (fetch.py, in the center's AICC image)
  that fetches them through the API with the attempt's data grant (kept in the `-env` Secret)
  into the pod's own volume, by way of the node's chunk cache (a hostPath the job's own
  container never mounts); the job's container sees them read-only at `/aicc/data`.

What the pod asks for (devices, HAMi shares, CPU, memory) and where it may run are in
resources.py.
"""

from __future__ import annotations

import base64
import math
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aicc.executors.base import ReplicaLaunch
from aicc.executors.kubernetes import naming
from aicc.executors.kubernetes.resources import (
    DEVICE_VARIABLES,
    HAMI_UUID,
    Accelerator,
    ManifestError,
    accelerator_resources,
    container_resources,
    node_affinity,
)

Manifest = dict[str, Any]

CONTAINER = "main"
WORK_DIR = "/aicc/work"  # the unpacked workdir: the main container's working directory
JOB_DIR = "/aicc/job"  # outputs/ and checkpoint/ (the claim's <job id>/... when one is set)
UPLOAD_DIR = "/aicc/upload"  # the ConfigMap with the archive
DATA_DIR = "/aicc/data"  # $AICC_DATA_DIR: the job's data sets, read-only
DATA_VOLUME = "/aicc/data-volume"  # the pod's data volume, as the init container fills it
DATA_CACHE = "/aicc/cache"  # the node's data cache, in the init container only
DATA_VIEW = "view"  # the directory of the volume the job sees
DATA_GRANT_KEY = "AICC_DATA_GRANT"
WORKDIR_KEY = "workdir.tar.gz"
# A ConfigMap holds at most 1 MiB; the archive shares it with its key.
MAX_WORKDIR_BYTES = 1024 * 1024 - 1024

# Per pod in a gang; everything else in the environment is the same for every replica.
PER_REPLICA = ("RANK", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "AICC_REPLICA")


@dataclass(frozen=True)
class PodOptions:
    """How this center wants its pods (from `KubernetesSettings`)."""

    namespace: str = "aicc"
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None
    pin_nodes: bool = True  # node affinity on the node(s) AICC chose
    priority_classes: Mapping[str, str] = field(default_factory=dict)  # low/normal/high -> class
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    hami: bool = False
    ttl_after_finished_s: int | None = 86400
    grace_s: float = 10.0
    volume_claim: str | None = None  # a ReadWriteMany claim for outputs and checkpoints
    init_image: str | None = None  # unpacks the workdir; default: the job's image
    data: DataPods | None = None  # how pods fetch data sets; None: they cannot


@dataclass(frozen=True)
class DataPods:
    """How pods fetch their jobs' data sets (`kubernetes.api_url`, `data_image`, ...)."""

    api_url: str  # the AICC API as pods reach it
    image: str  # an image with AICC installed
    cache_path: str | None = "/var/cache/aicc/data"  # each node's cache (hostPath)
    cache_gib: float = 100.0


@dataclass(frozen=True)
class Manifests:
    """Everything one attempt needs, in the order it is created."""

    job: Manifest
    secret: Manifest
    service: Manifest | None = None
    workdir: Manifest | None = None
    network: Manifest | None = None

    @property
    def parts(self) -> list[Manifest]:
        """What hangs off the Job (owned by it, deleted with it)."""
        parts = (self.network, self.secret, self.workdir, self.service)
        return [m for m in parts if m is not None]

    def all(self) -> list[Manifest]:
        return [self.job, *self.parts]


def _field_env(name: str, path: str) -> Manifest:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _value_env(name: str, value: str) -> Manifest:
    return {"name": name, "value": value}


def shared_environment(replica: ReplicaLaunch) -> dict[str, str]:
    """The variables every replica of the attempt shares (the `-env` Secret): the replica's
    environment less the per-pod and device variables."""
    return {
        k: v
        for k, v in sorted(replica.env.items())
        if k not in PER_REPLICA and k not in DEVICE_VARIABLES
    }


def pod_environment(
    replica: ReplicaLaunch, *, name: str, gang: bool, accelerator: Accelerator | None
) -> list[Manifest]:
    """The per-pod variables (they override the Secret's). In a gang each pod is one torchrun
    node of one process: RANK and NODE_RANK are its completion index, LOCAL_RANK 0, and the
    master is replica 0 through the headless Service. A single replica is its own master."""
    index_path = f"metadata.annotations['{naming.COMPLETION_INDEX}']"
    env: list[Manifest]
    if gang:
        env = [
            _field_env("RANK", index_path),
            _field_env("NODE_RANK", index_path),
            _field_env("AICC_REPLICA", index_path),
            _value_env("LOCAL_RANK", "0"),
            _value_env("MASTER_ADDR", f"{name}-0.{name}"),
        ]
    else:
        env = [
            _value_env("RANK", "0"),
            _value_env("NODE_RANK", "0"),
            _value_env("AICC_REPLICA", str(replica.index)),
            _value_env("LOCAL_RANK", "0"),
            _field_env("MASTER_ADDR", "status.podIP"),
        ]
    env += [
        _value_env("AICC_OUTPUT_DIR", f"{JOB_DIR}/outputs"),
        _value_env("AICC_CHECKPOINT_DIR", f"{JOB_DIR}/checkpoint"),
        _value_env("PYTHONUNBUFFERED", "1"),
    ]
    if accelerator is None or accelerator.count == 0:
        env.append(_value_env("CUDA_VISIBLE_DEVICES", ""))
    if accelerator is None or not accelerator.resource.startswith("nvidia.com/"):
        env.append(_value_env("NVIDIA_VISIBLE_DEVICES", "void"))  # no GPU through the runtime
    return env


def _checkpoint_mount(subdir: str | None, volume: str, sub_path: str) -> list[Manifest]:
    """The job's checkpoint directory also appears at `checkpoint_dir` inside the workdir, as
    the local executor's link does."""
    if not subdir:
        return []
    clean = posixpath.normpath(subdir)
    if clean.startswith(("/", "..")) or clean == ".":
        raise ManifestError(f"checkpoint_dir {subdir!r} must be a path inside the workdir")
    return [
        {
            "name": volume,
            "mountPath": posixpath.join(WORK_DIR, clean),
            "subPath": _join(sub_path, "checkpoint"),
        }
    ]


def _join(prefix: str, part: str) -> str:
    return posixpath.join(prefix, part) if prefix else part


def command(argv: Sequence[str]) -> list[str]:
    """argv as Kubernetes must be given it: the kubelet expands `$(VAR)` in a command and turns
    `$$` into `$`, so every `$` is doubled and the process gets argv exactly (`sh -c 'echo $$'`
    still prints the shell's pid)."""
    return [arg.replace("$", "$$") for arg in argv]


def _workdir_parts(name: str, image: str, options: PodOptions) -> tuple[Manifest, list[Manifest]]:
    """The init container that unpacks the uploaded workdir, and the volumes it needs."""
    init = {
        "name": "workdir",
        "image": options.init_image or image,
        "command": ["tar", "-xzf", f"{UPLOAD_DIR}/{WORKDIR_KEY}", "-C", WORK_DIR],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "volumeMounts": [
            {"name": "upload", "mountPath": UPLOAD_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
        ],
    }
    volumes = [
        {"name": "work", "emptyDir": {}},
        {"name": "upload", "configMap": {"name": f"{name}-workdir"}},
    ]
    return init, volumes


def _data_parts(first: ReplicaLaunch, data: DataPods) -> tuple[Manifest, list[Manifest]]:
    """The init container that fetches the job's data sets into the pod's `data` volume, and
    the volumes it needs. The volume is capped at the data's size (plus room for the fetch's
    own bookkeeping), so a job's data cannot fill the node's disk."""
    secret = f"{naming.object_name(first.job_id, first.attempt)}-env"
    grant = {"secretKeyRef": {"name": secret, "key": DATA_GRANT_KEY}}
    env = [
        _value_env("AICC_API_URL", data.api_url),
        _value_env("AICC_JOB_ID", first.job_id),
        {"name": DATA_GRANT_KEY, "valueFrom": grant},
        _value_env("AICC_DATA_VOLUME", DATA_VOLUME),
        _value_env("AICC_DATA_CACHE", DATA_CACHE if data.cache_path else ""),
        _value_env("AICC_DATA_CACHE_GIB", f"{data.cache_gib:g}"),
    ]
    mounts: list[Manifest] = [{"name": "data", "mountPath": DATA_VOLUME}]
    size = sum(m.bytes for m in first.datasets)
    volumes: list[Manifest] = [
        {"name": "data", "emptyDir": {"sizeLimit": str(size + (size >> 4) + 64 * 2**20)}}
    ]
    if data.cache_path:
        mounts.append({"name": "data-cache", "mountPath": DATA_CACHE})
        volumes.append(
            {
                "name": "data-cache",
                "hostPath": {"path": data.cache_path, "type": "DirectoryOrCreate"},
            }
        )
    init = {
        "name": "data",
        "image": data.image,
        "command": ["python", "-m", "aicc.executors.kubernetes.fetch"],
        "env": env,
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",  # the reason it failed, for AICC
        "volumeMounts": mounts,
    }
    return init, volumes


def pod_spec(
    replicas: Sequence[ReplicaLaunch],
    *,
    name: str,
    options: PodOptions,
    image: str,
    accelerator: Accelerator | None,
    priority_class_name: str | None,
    hostnames: Sequence[str],
    workdir: bool,
) -> Manifest:
    first = replicas[0]
    gang = len(replicas) > 1
    claim = options.volume_claim
    job_sub_path = first.job_id if claim else ""
    # Mounted by sub-path: the kubelet makes directories that are missing, and a pod sees only
    # its own job's part of a shared claim.
    mounts: list[Manifest] = [
        {"name": "job", "mountPath": f"{JOB_DIR}/{part}", "subPath": _join(job_sub_path, part)}
        for part in ("outputs", "checkpoint")
    ]
    volumes: list[Manifest] = [
        {"name": "job", "persistentVolumeClaim": {"claimName": claim}}
        if claim
        else {"name": "job", "emptyDir": {}}
    ]
    container: Manifest = {
        "name": CONTAINER,
        "image": image,
        "command": command(first.argv),
    }
    pod: Manifest = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": max(0, math.ceil(options.grace_s)),
    }
    if priority_class_name:
        pod["priorityClassName"] = priority_class_name
    if gang:
        pod["subdomain"] = name
    if options.pin_nodes and hostnames:
        pod["affinity"] = node_affinity(hostnames)
    if options.node_selector:
        pod["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        pod["tolerations"] = [dict(t) for t in options.tolerations]
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    pod["automountServiceAccountToken"] = False  # a job has no business with the API
    pod["enableServiceLinks"] = False  # nor with every Service's address in its environment
    if options.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in options.image_pull_secrets]
    if workdir:
        init, more = _workdir_parts(name, image, options)
        pod["initContainers"] = [init]
        volumes += more
        container["workingDir"] = WORK_DIR
        mounts.append({"name": "work", "mountPath": WORK_DIR})
        mounts += _checkpoint_mount(first.checkpoint_subdir, "job", job_sub_path)
    if first.datasets:
        if options.data is None:
            raise ManifestError("this Kubernetes executor is not set up to mount data sets")
        init, more = _data_parts(first, options.data)
        pod["initContainers"] = [*pod.get("initContainers", []), init]
        volumes += more
        mounts.append(
            {"name": "data", "mountPath": DATA_DIR, "subPath": DATA_VIEW, "readOnly": True}
        )
    container["envFrom"] = [{"secretRef": {"name": f"{name}-env"}}]
    container["env"] = pod_environment(first, name=name, gang=gang, accelerator=accelerator)
    if first.datasets:
        container["env"].append(_value_env("AICC_DATA_DIR", DATA_DIR))
    container["resources"] = container_resources(
        first, accelerator_resources(accelerator, hami=options.hami)
    )
    container["volumeMounts"] = mounts
    pod["containers"] = [container]
    pod["volumes"] = volumes
    return pod


def job(
    replicas: Sequence[ReplicaLaunch],
    pod: Manifest,
    *,
    options: PodOptions,
    accelerator: Accelerator | None = None,
) -> Manifest:
    """The Job of one attempt, running `pod` (its `pod_spec`): `replicas` are all of its
    replicas (one, or the whole gang)."""
    first = replicas[0]
    gang = len(replicas) > 1
    name = naming.object_name(first.job_id, first.attempt)
    labels = naming.job_labels(first.job_id, first.attempt)
    if not gang:
        labels[naming.LABEL_REPLICA] = str(first.index)
    labels.update(naming.tenant_labels(first.labels))  # they cannot name AICC's own keys
    annotations = {"aicc.io/nodes": ",".join(sorted({r.node for r in replicas}))}
    if accelerator and accelerator.fractional and accelerator.uuids:
        annotations[HAMI_UUID] = ",".join(accelerator.uuids)
    spec: Manifest = {
        "suspend": True,  # resumed by the executor once its Secret and ConfigMap exist
        "backoffLimit": 0,  # AICC retries (max_retries), on a node it chooses again
    }
    if gang:
        spec["completionMode"] = "Indexed"
    spec["completions"] = spec["parallelism"] = len(replicas)
    if first.max_runtime_s:
        spec["activeDeadlineSeconds"] = first.max_runtime_s
    if options.ttl_after_finished_s is not None:
        spec["ttlSecondsAfterFinished"] = options.ttl_after_finished_s
    spec["template"] = {
        "metadata": {"labels": {**labels, naming.LABEL_NAME: name}, "annotations": annotations},
        "spec": pod,
    }
    head = _head(
        "Job",
        first,
        namespace=options.namespace,
        labels=labels,
        annotations={"aicc.io/replicas": str(len(replicas))},
    )
    return {**head, "spec": spec}


# The API group and version of each kind of object an attempt is made of.
_API_VERSIONS = {
    "Job": "batch/v1",
    "Service": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Secret": "v1",
    "ConfigMap": "v1",
}


def _head(
    kind: str,
    first: ReplicaLaunch,
    *,
    namespace: str,
    suffix: str = "",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """`apiVersion`, `kind` and `metadata` of an object of one attempt, of `kind`: named after
    the attempt (and `suffix`), in `namespace`, with its labels unless `labels` are given."""
    metadata: Manifest = {
        "name": naming.object_name(first.job_id, first.attempt) + suffix,
        "namespace": namespace,
        "labels": dict(
            labels if labels is not None else naming.job_labels(first.job_id, first.attempt)
        ),
    }
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": _API_VERSIONS[kind], "kind": kind, "metadata": metadata}


def headless_service(first: ReplicaLaunch, *, namespace: str, replicas: int) -> Manifest:
    """The gang's rendezvous names: `<name>-<index>.<name>` for each pod, ready or not."""
    name = naming.object_name(first.job_id, first.attempt)
    port = int(first.env.get("MASTER_PORT") or 29500)
    head = _head(
        "Service", first, namespace=namespace, annotations={"aicc.io/replicas": str(replicas)}
    )
    return {
        **head,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {naming.LABEL_NAME: name},
            "ports": [{"name": "rendezvous", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


# What egress `internet` does not reach: private, shared, link-local and loopback ranges (as a
# job's own namespace on the other executors, executors/netns.py).
PRIVATE_CIDRS = (
    "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16",
)  # fmt: skip


def network_policy(first: ReplicaLaunch, *, options: PodOptions) -> Manifest:
    """The attempt's own network, Kubernetes' way (issue 35; enforced where the cluster's
    network plugin enforces NetworkPolicy): its pods take connections from each other alone
    (a gang's rendezvous), and reach each other, the cluster's DNS, the AICC API's port where
    pods fetch data sets (`kubernetes.api_url`), and, with egress `internet`, public addresses."""
    name = naming.object_name(first.job_id, first.attempt)
    own = [{"podSelector": {"matchLabels": {naming.LABEL_NAME: name}}}]
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    egress: list[Manifest] = [{"to": own}, {"to": [{"namespaceSelector": {}}], "ports": dns}]
    if options.data is not None:
        api = urlsplit(options.data.api_url)
        port = api.port or (443 if api.scheme == "https" else 80)
        egress.append({"ports": [{"protocol": "TCP", "port": port}]})
    if first.egress == "internet":
        public = {"cidr": "0.0.0.0/0", "except": list(PRIVATE_CIDRS)}
        egress.append({"to": [{"ipBlock": public}]})
    return {
        **_head("NetworkPolicy", first, namespace=options.namespace),
        "spec": {
            "podSelector": {"matchLabels": {naming.LABEL_NAME: name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": own}],
            "egress": egress,
        },
    }


def env_secret(first: ReplicaLaunch, *, namespace: str) -> Manifest:
    return {
        **_head("Secret", first, namespace=namespace, suffix="-env"),
        "type": "Opaque",
        "stringData": {
            **shared_environment(first),
            **({DATA_GRANT_KEY: first.data_grant} if first.data_grant else {}),
        },
    }


def workdir_config_map(first: ReplicaLaunch, archive: bytes, *, namespace: str) -> Manifest:
    """The uploaded workdir, for the init container to unpack. Larger than a ConfigMap holds:
    ManifestError (build the code into the image instead)."""
    if len(archive) > MAX_WORKDIR_BYTES:
        raise ManifestError(
            f"the workdir archive is {len(archive)} bytes; Kubernetes keeps at most "
            f"{MAX_WORKDIR_BYTES} in a ConfigMap: put the code in the job's image (and leave "
            "workdir out), or ignore large files in .aiccignore"
        )
    head = _head(
        "ConfigMap",
        first,
        namespace=namespace,
        suffix="-workdir",
        annotations={"aicc.io/workdir-sha256": first.workdir_sha256 or ""},
    )
    return {
        **head,
        "binaryData": {WORKDIR_KEY: base64.b64encode(archive).decode("ascii")},
    }


def build(
    replicas: Sequence[ReplicaLaunch],
    *,
    options: PodOptions,
    image: str,
    accelerator: Accelerator | None = None,
    priority_class_name: str | None = None,
    hostnames: Sequence[str] = (),
    workdir: bytes | None = None,
) -> Manifests:
    """Every object of one attempt. `replicas`: one replica, or every replica of a gang (any
    order); they must belong to the same job and attempt. `hostnames` are the
    `kubernetes.io/hostname` labels of the nodes AICC chose."""
    if not replicas:
        raise ManifestError("an attempt needs at least one replica")
    ordered = sorted(replicas, key=lambda r: r.index)
    first = ordered[0]
    if {(r.job_id, r.attempt) for r in ordered} != {(first.job_id, first.attempt)}:
        raise ManifestError("replicas of different jobs or attempts cannot share a Job")
    if [r.index for r in ordered] != list(range(len(ordered))):
        raise ManifestError(f"a gang needs replicas 0..{len(ordered) - 1}, one each")
    gang = len(ordered) > 1
    pod = pod_spec(
        ordered,
        name=naming.object_name(first.job_id, first.attempt),
        options=options,
        image=image,
        accelerator=accelerator,
        priority_class_name=priority_class_name,
        hostnames=hostnames,
        workdir=workdir is not None,
    )
    return Manifests(
        job=job(ordered, pod, options=options, accelerator=accelerator),
        secret=env_secret(first, namespace=options.namespace),
        network=network_policy(first, options=options),
        service=headless_service(first, namespace=options.namespace, replicas=len(ordered))
        if gang
        else None,
        workdir=workdir_config_map(first, workdir, namespace=options.namespace)
        if workdir is not None
        else None,
    )


def owner_reference(job_manifest: Mapping[str, Any]) -> Manifest:
    """Parts point at their Job (read back from the server, with its uid), so deleting the Job
    (a cancel, its TTL) deletes them too."""
    meta = job_manifest["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "uid": meta["uid"],
        "blockOwnerDeletion": True,
    }
