"""The Ray executor: each replica is one Ray job, submitted through the Jobs API and pinned to
the node AICC chose.

A handle is `ray:<submission id>:<run dir>`. The submission id is `aicc-JOB-ATTEMPT-INDEX`, so a
launch cut short (between Ray accepting the job and AICC recording the handle) finds the job
Ray already has instead of submitting twice. The run directory (rundir.py) must be on a file
system every Ray node mounts at the same path, as for Slurm: it holds the replica's
working copy (`work/`, unpacked from the blob store, with the checkpoint link), the entry script
and its 0600 environment file, the logs the script writes (`stdout.log`, `stderr.log`) and what
the script records when it starts (the GPUs Ray gave it, the start time), plus this executor's
markers (a cancel request, a runtime limit reached). A restarted server rebuilds all from the
handle.

Why the job runs in the run directory rather than in a `runtime_env` `working_dir`: Ray zips a
working_dir, following links, and unpacks it into a per-node cache shared by every job with the
same content, so the checkpoint link would become a copy whose writes are lost, and two jobs
from one workdir would share one current directory. The environment (secrets included) is in
the 0600 file rather than in `runtime_env.env_vars`, which Ray shows to anyone who can reach its
dashboard.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from aicc.core.topology import Node
from aicc.executors import cancel
from aicc.executors.base import (
    Capabilities,
    ReplicaLaunch,
    ReplicaState,
    Workdirs,
    discovered,
)
from aicc.executors.container import Container
from aicc.executors.datacache import DataCache
from aicc.executors.environment import write_private
from aicc.executors.ray import entry, nodes, states
from aicc.executors.ray.client import RayError, RayJobs, RayUnavailable
from aicc.executors.rundir import Run, RunDirExecutor
from aicc.executors.sandbox import Sandbox
from aicc.executors.siteenv import SiteEnvironment

log = logging.getLogger(__name__)

PREFIX = "aicc-"
SUBMITTED_FILE = "submitted"
REQUEST_FILE = "request.json"
LIMITS_FILE = "limits.json"
RUNTIME_FILE = "runtime_exceeded"
PIN_AMOUNT = 0.001  # of the node's `node:<ip>` resource (1.0): pins without limiting


class RayExecutor(RunDirExecutor):
    name = "ray"
    title = "Ray"
    # Each replica is its own Ray job; a gang's members are not started together by Ray, and
    # the share of a device is not in ReplicaLaunch, so neither is claimed. Ray hands out whole
    # GPUs and picks which (the entry script records them).
    capabilities = Capabilities(
        multi_node=False,
        fractional=False,
        node_pinning=True,
        log_streaming=True,
        picks_devices=True,
    )
    unanswered = (RayUnavailable,)

    def __init__(
        self,
        *,
        address: str,
        base_dir: Path,
        blobs: Workdirs | None = None,
        cluster: str = "ray",
        pool: str = "default",
        simulated: bool = False,
        default_model: str | None = None,
        grace_s: float = 10.0,
        timeout_s: float = 30.0,
        sandbox: Sandbox | None = None,
        data: DataCache | None = None,
        container: Callable[[], Container | None] | None = None,
        environments: Mapping[str, SiteEnvironment] | None = None,
    ) -> None:
        """`address`: the dashboard (`http://HOST:8265`). `base_dir`: where run directories go,
        seen by every Ray node at the same path. `simulated`: the GPUs Ray declares are fixtures.
        `grace_s`: between SIGTERM and SIGKILL when a replica is stopped (Ray's stop wait).
        `sandbox`: what confines replicas on the Ray nodes (laid out like this machine)."""
        super().__init__(
            base_dir=base_dir,
            blobs=blobs,
            sandbox=sandbox,
            data=data,
            container=container,
            environments=environments,
        )
        self.jobs = RayJobs(address, timeout_s=timeout_s)
        self.cluster = cluster
        self.pool = pool
        self.simulated = simulated
        self.default_model = default_model
        self.grace_s = grace_s
        self._addresses: dict[str, str] = {}  # AICC node name -> Ray node IP

    # ------------------------------------------------------------------ discovery

    def discover(self) -> list[Node]:
        """Ray's nodes as they are now: CPUs, memory and GPUs from their logical resources;
        a node Ray reports dead is DOWN."""
        found = nodes.inventory(
            self.jobs.nodes(),
            cluster=self.cluster,
            pool=self.pool,
            simulated=self.simulated,
            default_model=self.default_model,
            executor=self.name,
        )
        self._addresses, self.node_reasons = found.addresses, found.reasons
        where = f"Ray cluster at {self.jobs.address}"
        self.note = discovered(where, found.nodes, simulated=self.simulated)
        return found.nodes

    # ------------------------------------------------------------------ handles and files

    @staticmethod
    def submission_id(job_id: str, attempt: int, index: int) -> str:
        return f"{PREFIX}{job_id}-{attempt}-{index}"

    @staticmethod
    def parse_handle(handle: str) -> tuple[str, Path]:
        """`ray:<submission id>:<run dir>` -> (submission id, run dir); ValueError otherwise."""
        kind, _, rest = handle.partition(":")
        submission, _, path = rest.partition(":")
        run_dir = Path(path)
        parts = run_dir.parts
        if (
            kind != "ray"
            or not submission.startswith(PREFIX)
            or not run_dir.is_absolute()
            or ".." in parts
            or len(parts) < 4
            or submission != RayExecutor.submission_id(parts[-3], _int(parts[-2]), _int(parts[-1]))
        ):
            raise ValueError(f"handle {handle!r} is not a Ray replica handle")
        return submission, run_dir

    def run_dir_of(self, handle: str) -> Path:
        return self.parse_handle(handle)[1]

    def purge(self, job_id: str, *, logs: bool) -> None:
        """As for every run directory, and with `logs` Ray's records of the job's replicas."""
        answering = logs
        for attempt in sorted(self.job_dir(job_id).glob("[0-9]*")):
            for replica in attempt.glob("[0-9]*"):
                if answering and attempt.name.isdigit() and replica.name.isdigit():
                    submission = self.submission_id(job_id, int(attempt.name), int(replica.name))
                    answering = self.jobs.delete(submission)  # stop asking a Ray that is away
        super().purge(job_id, logs=logs)

    # ------------------------------------------------------------------ launch

    def _launched(self, replica: ReplicaLaunch, run_dir: Path) -> str | None:
        """A request written before the server stopped: send it again (Ray answers for a job it
        has under that submission id)."""
        if not (run_dir / REQUEST_FILE).exists():
            return None
        self._send(run_dir, replica.node)
        return self._handle(replica, run_dir)

    def _start(self, replica: ReplicaLaunch, run: Run) -> str:
        """Everything the job needs, in its run directory, the request last (its presence means
        the rest is there); then submit it. A Ray that does not answer does not fail the
        launch: `poll` submits the request once Ray answers."""
        run.write_env()
        script = entry.write_script(
            run.dir, replica.argv, run.title, run.sandbox, pull=run.pull, remove=run.remove
        )
        limits = json.dumps({"max_runtime_s": replica.max_runtime_s})
        write_private(run.dir / LIMITS_FILE, limits, 0o600)  # new files, never through a link
        submission = self.submission_id(replica.job_id, replica.attempt, replica.index)
        request = self._request(replica, submission, script)
        write_private(run.dir / REQUEST_FILE, json.dumps(request), 0o600)
        self._send(run.dir, replica.node)
        return self._handle(replica, run.dir)

    def _handle(self, replica: ReplicaLaunch, run_dir: Path) -> str:
        return f"ray:{self.submission_id(replica.job_id, replica.attempt, replica.index)}:{run_dir}"

    def _send(self, run_dir: Path, node: str) -> None:
        """Submit unless Ray has it already; a Ray that does not answer is asked again by poll."""
        if (run_dir / SUBMITTED_FILE).exists():
            return
        try:
            self._submit(run_dir, node)
        except RayUnavailable as err:
            self.outage.failed(f"submitting the replica in {run_dir}", err)

    def _submit(self, run_dir: Path, node: str = "") -> None:
        """Send the recorded request to Ray, pinned to its node's address as Ray knows it now (a
        job already there under its id counts as sent), then record that it was sent."""
        request = json.loads(entry.read_record(run_dir / REQUEST_FILE))
        resources = request.setdefault("entrypoint_resources", {})
        if not any(name.startswith("node:") for name in resources):  # else pinned by an older AICC
            resources[f"node:{self._address(request['metadata']['aicc_node'])}"] = PIN_AMOUNT
        created = self.jobs.submit(**request)
        (run_dir / SUBMITTED_FILE).touch()
        log.info(
            "replica %s %s as a Ray job%s",
            request["submission_id"],
            "submitted" if created else "was already submitted",
            f" on {node}" if node else "",
        )

    def _request(self, replica: ReplicaLaunch, submission: str, script: Path) -> dict[str, object]:
        """The Jobs API request: resources for the entrypoint, and AICC's node, which `_submit`
        pins it to (the node's address is looked up then: a server that started while Ray was
        away knows none yet, and must not fail the launch for it)."""
        request: dict[str, object] = {
            "entrypoint": entry.entrypoint(script),
            "submission_id": submission,
            "entrypoint_num_cpus": replica.cpu_milli / 1000,
            "entrypoint_resources": {},
            "metadata": {
                "aicc_job_id": replica.job_id,
                "aicc_attempt": str(replica.attempt),
                "aicc_replica": str(replica.index),
                "aicc_node": replica.node,
            },
            # Read by Ray's job supervisor: SIGTERM, then SIGKILL this much later.
            "runtime_env": {"env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": f"{self.grace_s:g}"}},
        }
        if replica.device_indices:
            request["entrypoint_num_gpus"] = len(replica.device_indices)
        if replica.memory_mib > 0:
            request["entrypoint_memory"] = replica.memory_mib * 1024 * 1024
        return request

    def _address(self, node: str) -> str:
        """The Ray IP of an AICC node, from the last discovery (refreshed once if unknown:
        RayUnavailable when Ray does not answer)."""
        if node not in self._addresses:
            self.discover()
        if node not in self._addresses:
            raise RayError(f"node {node} is not in the Ray cluster at {self.jobs.address}")
        return self._addresses[node]

    # ------------------------------------------------------------------ observe

    def _poll(self, handle: str) -> ReplicaState:
        """`_engine_poll`, with a failed pull of the replica's image told as such."""
        return self.image_outcome(self.parse_handle(handle)[1], self._engine_poll(handle))

    def _engine_poll(self, handle: str) -> ReplicaState:
        """The replica's state as Ray tells it (RayUnavailable while the dashboard does not
        answer)."""
        submission, run_dir = self.parse_handle(handle)
        cancel_requested = cancel.requested(run_dir) is not None
        if not (run_dir / SUBMITTED_FILE).exists():
            if cancel_requested:
                return ReplicaState(
                    "exited", reason="cancelled", message="cancelled before Ray had it"
                )
            self._submit(run_dir)  # Ray did not answer at launch
        record = self.jobs.info(submission)
        if record is None:
            return ReplicaState(
                "lost",
                reason="node_lost",
                message=f"Ray has no record of job {submission} (was its head node restarted?)",
            )
        started = entry.read_started(run_dir)
        started_at = _epoch(started.get("started_at")) if started else None
        devices = entry.visible_indices(started.get("visible", "")) if started else None
        runtime_exceeded = (run_dir / RUNTIME_FILE).exists()
        if record.status == "RUNNING" and started_at is not None and not runtime_exceeded:
            limit = _read_limits(run_dir).get("max_runtime_s")
            if limit and (datetime.now(UTC) - started_at).total_seconds() >= limit:
                write_private(run_dir / RUNTIME_FILE, f"{time.time()}\n", 0o600)
                runtime_exceeded = True
        if runtime_exceeded and not states.is_terminal(record.status):
            self.jobs.stop(submission)  # again each poll until Ray has stopped it
        return states.replica_state(
            record.status,
            exit_code=states.exit_code(record.driver_exit_code, record.message),
            error_type=record.error_type,
            message=record.message,
            started_at=started_at,
            ended_at=states.from_ms(record.end_time_ms)
            if states.is_terminal(record.status)
            else None,
            cancel_requested=cancel_requested,
            runtime_exceeded=runtime_exceeded,
            device_indices=devices,
        )

    def device_indices(self, handle: str) -> list[int] | None:
        """The GPU indices Ray gave the replica (its `CUDA_VISIBLE_DEVICES`, as the entry
        script recorded it); None until the script has started, or for a CPU replica."""
        started = entry.read_started(self.parse_handle(handle)[1])
        found = entry.visible_indices(started.get("visible", "")) if started else None
        return list(found) if found is not None else None

    # ------------------------------------------------------------------ act

    def _cancel(self, handle: str) -> None:
        """Ask Ray to stop the job: SIGTERM, SIGKILL after `grace_s`. Idempotent; quiet about a
        job that has ended, and about a Ray that does not answer (the reconciler asks again
        on its next pass; the replica keeps its last state meanwhile)."""
        submission, run_dir = self.parse_handle(handle)
        cancel.mark(run_dir)
        if not (run_dir / SUBMITTED_FILE).exists():
            return  # never reached Ray; poll reports it cancelled and will not submit it
        try:
            self.jobs.stop(submission)
        except RayUnavailable as err:
            self.outage.failed(f"stopping Ray job {submission}", err)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


def _epoch(text: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(text or ""), UTC)
    except ValueError:
        return None


def _read_limits(run_dir: Path) -> dict[str, int | None]:
    try:
        data = json.loads(entry.read_record(run_dir / LIMITS_FILE))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
