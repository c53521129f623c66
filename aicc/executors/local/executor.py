"""The local executor: replicas as processes on this machine, each under a detached supervisor.

A handle is the replica's absolute run directory (`.../runs/JOB/ATTEMPT/INDEX`); the supervisor
records the replica's fate there, so a restarted server reads what happened while it was away
(see `runtime.py`). What run directories share with Slurm and Ray is in `rundir.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from aicc.core.topology import Device, Node
from aicc.executors import environment
from aicc.executors.base import Capabilities, ReplicaLaunch, ReplicaState, Stream, Workdirs
from aicc.executors.container import Container
from aicc.executors.datacache import DataCache
from aicc.executors.execs import ExecProcess, ExecRequest
from aicc.executors.local import exec as entering
from aicc.executors.local import mps, runtime
from aicc.executors.local.node import SimulatedDevices, local_node
from aicc.executors.rundir import Run, RunDirExecutor
from aicc.executors.sandbox import Sandbox
from aicc.executors.serverroute import Route
from aicc.executors.siteenv import SiteEnvironment

RUN_DIR = re.compile(r"/runs/job_[0-9A-Z]+/[0-9]+/[0-9]+$")


class LocalExecutor(RunDirExecutor):
    name = "local"
    title = "local"
    # Every node bound to the local executor is this machine (simulated nodes included), so a
    # gang spread over several of them still meets on 127.0.0.1.
    capabilities = Capabilities(
        multi_node=True,
        fractional=True,
        node_pinning=True,
        log_streaming=True,
        same_host=True,
        mig_slices=True,
        exec_in_replica=True,
    )
    passed_through = (*environment.PASSED_THROUGH, "TMPDIR")  # the replica runs on this machine

    def __init__(
        self,
        *,
        home: Path,
        blobs: Workdirs,
        node_name: str | None = None,
        simulated: list[SimulatedDevices] | None = None,
        log_limit_bytes: int = 64 * 1024 * 1024,
        grace_s: float = 10.0,
        sandbox: Sandbox | None = None,
        data: DataCache | None = None,
        container: Callable[[], Container | None] | None = None,
        route: Route | None = None,
        environments: Mapping[str, SiteEnvironment] | None = None,
    ) -> None:
        """`sandbox`: what confines replicas (None: nothing, they see what the server sees).
        `container`: what runs replicas that name an image (rundir.py). `route`: the server's
        S3 endpoint as its jobs reach it (serverroute.py). `environments`: the site
        environments (siteenv.py)."""
        super().__init__(
            base_dir=home / "runs",
            blobs=blobs,
            sandbox=sandbox,
            data=data,
            homes_dir=home / "homes",
            container=container,
            route=route,
            environments=environments,
        )
        self.home = home
        self.node_name = node_name
        self.simulated = simulated or []
        self.log_limit_bytes = log_limit_bytes
        self.grace_s = grace_s
        self.mps = mps.control() if sandbox is not None else None  # shares capped by MPS
        self.device_memory: dict[int, int] = {}  # real GPUs' memory (MiB), by index
        # what each vendor tool found at the last discovery (kept, unhealthy, if it fails next)
        self.tool_devices: dict[str, tuple[Device, ...]] = {}

    def discover(self) -> list[Node]:
        node, self.note, self.tool_devices = local_node(
            name=self.node_name, simulated=self.simulated, previous=self.tool_devices
        )
        self.device_memory = {d.index: d.memory_mib for d in node.devices if not d.simulated}
        return [node]

    def run_dir_of(self, handle: str) -> Path:
        """A handle is the absolute run directory, `.../runs/JOB/ATTEMPT/REPLICA`, so another
        server on this machine (a standby taking over the lease) finds the replica too."""
        path = Path(handle) if Path(handle).is_absolute() else self.home / handle
        if not RUN_DIR.search(path.as_posix()) or ".." in path.parts:
            raise ValueError(f"handle {handle!r} is not a run directory")
        return path

    def _start(self, replica: ReplicaLaunch, run: Run) -> str:
        """Start the supervisor (itself idempotent per run directory: a second start finds the
        first). A share of a real GPU runs under its own MPS daemon in its sandbox (mps.py)."""
        command = replica.argv
        share = mps.share_env(replica.devices, self.device_memory)
        if self.mps and run.sandbox and share and run.container is None:
            run.env.update(share)
            command = [*mps.launcher(self.mps), *command]
        spec = runtime.LaunchSpec(
            command=command,
            cwd=str(run.prepared.workdir),
            env=run.env,
            max_runtime_s=replica.max_runtime_s,
            # In an image the container's cgroup holds the limit; the supervisor's own count
            # would add podman's memory to the replica's (a build's RUN steps: the same)
            memory_limit_mib=None if replica.image or replica.build else replica.memory_mib,
            log_limit_bytes=self.log_limit_bytes,
            grace_s=self.grace_s,
            sandbox=run.sandbox,
            pull=run.pull,
            container=run.container,
            remove=run.remove,
        )
        runtime.launch(run.dir, spec)
        return str(run.dir)

    def _poll(self, handle: str) -> ReplicaState:
        status = runtime.poll(self.run_dir_of(handle))

        def when(ts: float | None) -> datetime | None:
            return datetime.fromtimestamp(ts, UTC) if ts is not None else None

        return ReplicaState(
            phase=status.phase,
            exit_code=status.exit_code,
            reason=status.reason,
            started_at=when(status.started_at),
            ended_at=when(status.ended_at),
            peak_rss_mib=round(status.peak_rss_mib) if status.peak_rss_mib is not None else None,
            message=status.error or "",
        )

    def _cancel(self, handle: str) -> None:
        runtime.cancel(self.run_dir_of(handle))

    def _logs(self, handle: str, stream: Stream, tail_bytes: int | None) -> str:
        """The supervisor's log, in chunks it rotates at `log_limit_bytes`."""
        return runtime.read_log(self.run_dir_of(handle), stream, tail_bytes)

    def _log_size(self, handle: str, stream: Stream) -> int:
        return runtime.log_size(self.run_dir_of(handle), stream)

    def _exec(self, handle: str, request: ExecRequest) -> ExecProcess:
        """Enter the replica's sandbox (local/exec.py): its namespaces on this machine."""
        return entering.start(self.run_dir_of(handle), request)
