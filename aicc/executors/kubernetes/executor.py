"""The Kubernetes executor: each job attempt is one Job (Indexed for a gang) in one namespace.

A handle is `k8s:<namespace>/<name>/<replica>` (naming.py), and every object's name follows from
(job, attempt), so launching again after a crash answers 409 and changes nothing; a restarted
server needs nothing but the handle. The reconciler launches a gang one replica at a time: the
executor collects them until all `WORLD_SIZE` are there and then creates the gang's Job and
Service at once, so the Indexed Job knows every node AICC chose.

Launch creates the Job suspended, then its parts (the attempt's NetworkPolicy, the `-env`
Secret, the `-workdir` ConfigMap, the headless Service) owned by it, then resumes it: no pod
starts without its parts, and deleting the Job (a cancel, its TTL) deletes them. Polling reads
every AICC Job and pod of the namespace at most once a second, so a pass over many replicas
costs two API calls. The translation to replica states is in status.py; this module only calls
the API (client.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aicc.core import catalog
from aicc.core.topology import Device, Node
from aicc.executors.base import (
    Capabilities,
    Executor,
    ReplicaLaunch,
    ReplicaState,
    Stream,
    Workdirs,
    discovered,
)
from aicc.executors.kubernetes import manifests, naming, resources, status
from aicc.executors.kubernetes.client import Api, KubernetesError
from aicc.executors.kubernetes.manifests import PodOptions
from aicc.executors.kubernetes.nodes import NodeOptions, inventory
from aicc.executors.kubernetes.resources import Accelerator, ManifestError

log = logging.getLogger(__name__)

MANAGED = f"{naming.LABEL_MANAGED}={naming.MANAGED_BY}"
CANCEL_MEMORY_S = 24 * 3600.0


@dataclass
class _Gang:
    """Replicas of one gang launched so far (the Job is made when all have come)."""

    size: int
    since: float
    replicas: dict[int, ReplicaLaunch] = field(default_factory=dict)


def launch_extras(replica: ReplicaLaunch) -> tuple[str | None, int | None, dict[int, Any]]:
    """(image, priority, {device index: {index, milli, memory_mib}}) of a replica."""
    shares: dict[int, Any] = {d["index"]: d for d in replica.devices if "index" in d}
    return replica.image or None, replica.priority, shares


def resource_from_env(env: Mapping[str, str]) -> str | None:
    """The device plugin resource of the vendor whose device variable the reconciler set."""
    for vendor in catalog.Vendor:
        if env.get(catalog.visible_devices_env(vendor)):
            model = next((m for m in catalog.CATALOG.values() if m.vendor is vendor), None)
            return resources.device_resource(model) if model else None
    return None


def accelerator_for(
    replica: ReplicaLaunch,
    *,
    devices: Mapping[int, Device],
    resource: str | None,
    name_devices: bool,
) -> Accelerator | None:
    """What the replica asks of the device plugin: its devices' resource (as discovered on its
    node, else from the vendor's device variable, else `nvidia.com/gpu`), their count, the share
    of each, and the UUIDs of the devices AICC bound when `name_devices` (a single pod placed by
    AICC: a gang's pods share one template and cannot each name theirs). A MIG slice asks for
    one `nvidia.com/mig-<profile>`."""
    if not replica.device_indices:
        return None
    _, _, shares = launch_extras(replica)
    first = devices.get(replica.device_indices[0])
    if replica.mig_profile is not None:  # the NVIDIA device plugin's "mixed" strategy picks it
        model = first.model if first else catalog.mig_models(replica.mig_profile)[0]
        return Accelerator(resource=resources.device_resource(model, replica.mig_profile), count=1)
    share = shares.get(replica.device_indices[0]) or {}
    uuids = tuple(
        d.uuid for i in replica.device_indices if (d := devices.get(i)) is not None and d.uuid
    )
    return Accelerator(
        resource=resource or resource_from_env(replica.env) or resources.NVIDIA,
        count=len(replica.device_indices),
        milli=int(share.get("milli") or 1000),
        memory_mib=share.get("memory_mib"),
        device_memory_mib=first.memory_mib if first and first.memory_mib else None,
        uuids=uuids if name_devices else (),
    )


class KubernetesExecutor(Executor):
    name = "kubernetes"
    title = "Kubernetes"
    unanswered = (KubernetesError,)

    def __init__(
        self,
        *,
        options: PodOptions,
        node_options: NodeOptions | None = None,
        blobs: Workdirs | None = None,
        image: str | None = None,
        kubeconfig: Path | None = None,
        context: str | None = None,
        label_selector: str = "",
        volume_path: Path | None = None,
        start_timeout_s: float = 600.0,
        request_timeout_s: float = 30.0,
        gang_timeout_s: float = 60.0,
        snapshot_max_age_s: float = 1.0,
    ) -> None:
        """Connects on first use, not here. `image`: for jobs that name none. `label_selector`:
        which nodes AICC may use. `volume_path`: where this server sees the volume claim's
        root, for `aicc job download`. A pod that cannot start (image pull errors, or
        unschedulable on the node AICC chose) for `start_timeout_s` is ended."""
        super().__init__()
        self.options = options
        self.node_options = node_options or NodeOptions(hami=options.hami)
        self.blobs = blobs
        self.image = image
        self.kubeconfig = kubeconfig
        self.context = context
        self.label_selector = label_selector
        self.volume_path = volume_path
        self.start_timeout_s = start_timeout_s
        self.request_timeout_s = request_timeout_s
        self.gang_timeout_s = gang_timeout_s
        self.snapshot_max_age_s = snapshot_max_age_s
        self.capabilities = Capabilities(
            multi_node=True,
            fractional=options.hami,
            node_pinning=options.pin_nodes,
            log_streaming=True,
            mig_slices=True,  # the NVIDIA device plugin's "mixed" strategy
        )
        self._api: Api | None = None
        self._hostnames: dict[str, str] = {}
        self._resources: dict[str, str] = {}
        self._devices: dict[str, dict[int, Device]] = {}
        self._gangs: dict[str, _Gang] = {}
        self._cancelled: dict[str, float] = {}  # object name -> when AICC deleted it
        self._snapshot: tuple[float, dict[str, Any], dict[str, list[Any]]] | None = None
        self._log_cache: dict[str, tuple[float, bytes]] = {}

    @property
    def mounts_data(self) -> bool:
        return self.options.data is not None

    @property
    def no_data_mounts(self) -> str:
        return (
            "the Kubernetes executor mounts data sets once kubernetes.api_url (the AICC API as "
            "pods reach it) and kubernetes.data_image (an image with AICC installed) are set: "
            "docs/kubernetes.md#data-sets"
        )

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(
                namespace=self.options.namespace,
                kubeconfig=self.kubeconfig,
                context=self.context,
                timeout_s=self.request_timeout_s,
            )
        return self._api

    # ------------------------------------------------------------------ discovery

    def discover(self) -> list[Node]:
        found = inventory(self.api.list_nodes(self.label_selector), self.node_options)
        self.node_reasons = found.reasons
        self._hostnames, self._resources = found.hostnames, found.resources
        self._devices = {n.name: {d.index: d for d in n.devices} for n in found.nodes}
        where = f"Kubernetes namespace {self.options.namespace}"
        simulated = self.node_options.simulated
        self.note = discovered(where, found.nodes, simulated=simulated, unit="device")
        return found.nodes

    # ------------------------------------------------------------------ launch

    def _launch(self, replica: ReplicaLaunch) -> str:
        """Create the attempt's objects, or find them made already. A gang's replicas are
        collected first; the Job is created when the last of them comes."""
        name = naming.object_name(replica.job_id, replica.attempt)
        handle = str(naming.Handle(self.options.namespace, name, replica.index))
        size = int(replica.env.get("WORLD_SIZE") or 1)
        if size <= 1:
            self._create([replica])
            return handle
        gang = self._gangs.setdefault(name, _Gang(size, time.monotonic()))
        gang.replicas[replica.index] = replica
        if len(gang.replicas) < size:
            if self.api.read_job(name) is not None:  # made before a restart
                self._gangs.pop(name, None)
            return handle
        try:
            self._create([gang.replicas[i] for i in sorted(gang.replicas)])
        finally:
            self._gangs.pop(name, None)
        return handle

    def _create(self, replicas: list[ReplicaLaunch]) -> None:
        first = replicas[0]
        image, priority, _ = launch_extras(first)
        image = image or self.image
        if not image:
            raise ManifestError(
                "the job names no image and kubernetes.image is not set: Kubernetes runs "
                "containers, so give the job an `image`"
            )
        built = manifests.build(
            replicas,
            options=self.options,
            image=image,
            accelerator=self._accelerator(first, gang=len(replicas) > 1),
            priority_class_name=resources.priority_class(priority, self.options.priority_classes),
            hostnames=[self._hostnames.get(r.node, r.node) for r in replicas],
            workdir=self._archive(first),
        )
        job = self.api.create(built.job) or self.api.read_job(built.job["metadata"]["name"])
        if job is None:
            raise KubernetesError(f"Job {built.job['metadata']['name']} vanished while created")
        owner = manifests.owner_reference(job)
        for part in built.parts:
            owned = {**part, "metadata": {**part["metadata"], "ownerReferences": [owner]}}
            self.api.create(owned)
        if (job.get("spec") or {}).get("suspend"):
            self.api.resume_job(job["metadata"]["name"])
        self._snapshot = None
        log.info(
            "job %s attempt %d: Kubernetes Job %s (%d replica(s))",
            first.job_id,
            first.attempt,
            job["metadata"]["name"],
            len(replicas),
        )

    def _accelerator(self, replica: ReplicaLaunch, *, gang: bool) -> Accelerator | None:
        return accelerator_for(
            replica,
            devices=self._devices.get(replica.node, {}),
            resource=self._resources.get(replica.node),
            name_devices=self.options.pin_nodes and not gang,
        )

    def _archive(self, replica: ReplicaLaunch) -> bytes | None:
        if not replica.workdir_sha256:
            return None
        if self.blobs is None:
            raise ManifestError("this Kubernetes executor has no blob store to read workdirs from")
        size = self.blobs.size(replica.workdir_sha256)
        if size > manifests.MAX_WORKDIR_BYTES:
            raise ManifestError(
                f"the workdir archive is {size} bytes; Kubernetes keeps at most "
                f"{manifests.MAX_WORKDIR_BYTES} in a ConfigMap: put the code in the job's image "
                "(and leave workdir out), or ignore large files in .aiccignore"
            )
        return self.blobs.read(replica.workdir_sha256)

    # ------------------------------------------------------------------ observe

    def _observe(
        self, max_age_s: float | None = None
    ) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """Every AICC Job (by name) and pod (by attempt name) in the namespace, cached briefly."""
        age = self.snapshot_max_age_s if max_age_s is None else max_age_s
        now = time.monotonic()
        if self._snapshot and now - self._snapshot[0] <= age:
            return self._snapshot[1], self._snapshot[2]
        jobs = {j["metadata"]["name"]: j for j in self.api.list_jobs(MANAGED)}
        pods: dict[str, list[Any]] = {}
        for pod in self.api.list_pods(MANAGED):
            owner = ((pod.get("metadata") or {}).get("labels") or {}).get(naming.LABEL_NAME)
            if owner:
                pods.setdefault(owner, []).append(pod)
        self._snapshot = (now, jobs, pods)
        return jobs, pods

    def _poll(self, handle: str) -> ReplicaState:
        """The replica's state as Kubernetes tells it (KubernetesError while the API does not
        answer)."""
        h = naming.Handle.parse(handle)
        gang = self._gangs.get(h.name)
        if gang is not None:
            waited = time.monotonic() - gang.since
            if waited < self.gang_timeout_s:
                return ReplicaState(
                    "starting",
                    message=f"{len(gang.replicas)} of {gang.size} replicas of the gang launched",
                )
            self._gangs.pop(h.name, None)
            return ReplicaState(
                "exited",
                reason="supervisor_error",
                message=f"only {len(gang.replicas)} of {gang.size} replicas of the gang came to "
                f"the Kubernetes executor in {waited:.0f} s",
            )
        jobs, pods = self._observe()
        return status.replica_state(
            jobs.get(h.name),
            pods.get(h.name, []),
            h.index,
            now=datetime.now(UTC),
            start_timeout_s=self.start_timeout_s,
            pinned=self.options.pin_nodes,
            cancel_requested=h.name in self._cancelled,
        )

    # ------------------------------------------------------------------ act

    def _cancel(self, handle: str) -> None:
        """Delete the attempt's Job, pods first: each gets SIGTERM and, after the pod's
        terminationGracePeriodSeconds (the server's grace period), SIGKILL. For a gang this
        stops every replica. Idempotent."""
        h = naming.Handle.parse(handle)
        self._gangs.pop(h.name, None)
        now = time.time()
        self._cancelled = {k: t for k, t in self._cancelled.items() if now - t < CANCEL_MEMORY_S}
        if h.name in self._cancelled:
            return
        self.api.delete_job(h.name, grace_s=max(0, math.ceil(self.options.grace_s)))
        self._cancelled[h.name] = now
        self._snapshot = None

    def purge(self, job_id: str, *, logs: bool) -> None:
        """The env Secrets and workdir ConfigMaps go when the job ends; with `logs`, the Jobs
        (their pods hold the logs). Outputs on the volume claim stay."""
        selector = f"{MANAGED},{naming.LABEL_JOB}={naming.label_value(job_id)}"
        try:
            for kind in ("Secret", "ConfigMap", *(("Job",) if logs else ())):
                self.api.delete_all(kind, selector)
        except KubernetesError as err:
            log.warning("job %s: could not delete its Kubernetes objects: %s", job_id, err)

    def outputs_dir(self, job_id: str, handle: str | None = None) -> Path | None:
        if self.volume_path is None or self.options.volume_claim is None:
            return None
        return self.volume_path / job_id / "outputs"

    # ------------------------------------------------------------------ logs

    def _log(self, handle: str) -> bytes:
        """The pod's log, read at most once a second per replica (following a log asks for its
        size, then for what is new)."""
        cached = self._log_cache.get(handle)
        now = time.monotonic()
        if cached and now - cached[0] <= self.snapshot_max_age_s:
            return cached[1]
        h = naming.Handle.parse(handle)
        data = b""
        try:
            jobs, pods = self._observe()
            gang = ((jobs.get(h.name) or {}).get("spec") or {}).get("completionMode") == "Indexed"
            pod = status.pod_of(pods.get(h.name, []), h.index, gang=gang)
            if pod is not None:
                data = self.api.pod_log(pod["metadata"]["name"], manifests.CONTAINER)
        except KubernetesError as err:
            if err.status not in (400, 404):  # 400: the container has not started yet
                log.warning("Kubernetes replica %s: no log: %s", handle, err)
        self._log_cache = {k: v for k, v in self._log_cache.items() if now - v[0] <= 60.0}
        self._log_cache[handle] = (now, data)
        return data

    def _logs(self, handle: str, stream: Stream, tail_bytes: int | None) -> str:
        """Kubernetes keeps one log per container, stdout and stderr together: it is shown as
        stdout, and stderr reads empty. Gone with the pod (the Job's TTL, or `purge`)."""
        if stream != "stdout":
            return ""
        data = self._log(handle)
        if tail_bytes is not None:
            data = data[-tail_bytes:]
        return data.decode("utf-8", errors="replace")

    def _log_size(self, handle: str, stream: Stream) -> int:
        return len(self._log(handle)) if stream == "stdout" else 0
