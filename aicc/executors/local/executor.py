"""The local executor: replicas as processes on this machine, each under a detached supervisor.

A handle is the replica's run directory relative to the home (`runs/JOB/ATTEMPT/INDEX`); the
supervisor records the replica's fate there, so a restarted server reads what happened while it
was away (see `runtime.py`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aicc.core.topology import Node
from aicc.executors import environment, workdir
from aicc.executors.base import Capabilities, Executor, ReplicaLaunch, ReplicaState, Stream
from aicc.executors.local import runtime
from aicc.executors.local.node import SimulatedDevices, local_node
from aicc.executors.sandbox import Sandbox, for_replica
from aicc.store.blobs import BlobStore

RUN_DIR = re.compile(r"/runs/job_[0-9A-Z]+/[0-9]+/[0-9]+$")
PASSED_THROUGH = (*environment.PASSED_THROUGH, "TMPDIR")  # the replica runs on this machine


class LocalExecutor(Executor):
    name = "local"
    # Every node bound to the local executor is this machine (simulated nodes included), so a
    # gang spread over several of them still meets on 127.0.0.1.
    capabilities = Capabilities(
        multi_node=True, fractional=True, node_pinning=True, log_streaming=True
    )

    def __init__(
        self,
        *,
        home: Path,
        blobs: BlobStore,
        node_name: str | None = None,
        simulated: list[SimulatedDevices] | None = None,
        log_limit_bytes: int = 64 * 1024 * 1024,
        grace_s: float = 10.0,
        sandbox: Sandbox | None = None,
    ) -> None:
        """`sandbox`: what confines replicas (None: nothing, they see what the server sees)."""
        self.home = home
        self.blobs = blobs
        self.node_name = node_name
        self.simulated = simulated or []
        self.log_limit_bytes = log_limit_bytes
        self.grace_s = grace_s
        self.sandbox = sandbox
        self.note = ""

    def discover(self) -> list[Node]:
        node, self.note = local_node(name=self.node_name, simulated=self.simulated)
        return [node]

    def job_dir(self, job_id: str) -> Path:
        return self.home / "runs" / job_id

    def outputs_dir(self, job_id: str, handle: str | None = None) -> Path | None:
        job_dir = self._run_dir(handle).parents[1] if handle else self.job_dir(job_id)
        return job_dir / "outputs"

    def purge(self, job_id: str, *, logs: bool) -> None:
        """Working copies go soon after the job ends (the upload stays in the blob store); run
        directories with their logs go after the retention period. Outputs stay."""
        for attempt in sorted(self.job_dir(job_id).glob("[0-9]*")):
            for replica in attempt.glob("[0-9]*"):
                shutil.rmtree(replica / "work", ignore_errors=True)
            if logs:
                shutil.rmtree(attempt, ignore_errors=True)

    def _run_dir(self, handle: str) -> Path:
        """A handle is the absolute run directory, `.../runs/JOB/ATTEMPT/REPLICA`, so another
        server on this machine (a standby taking over the lease) finds the replica too."""
        path = Path(handle) if Path(handle).is_absolute() else self.home / handle
        if not RUN_DIR.search(path.as_posix()) or ".." in path.parts:
            raise ValueError(f"handle {handle!r} is not a run directory")
        return path

    def launch(self, replica: ReplicaLaunch) -> str:
        run_dir = self.job_dir(replica.job_id) / str(replica.attempt) / str(replica.index)
        handle = str(run_dir.absolute())
        run_dir.mkdir(parents=True, exist_ok=True)
        prepared = workdir.prepare(
            run_dir=run_dir,
            job_dir=self.job_dir(replica.job_id),
            blobs=self.blobs,
            workdir_sha256=replica.workdir_sha256,
            checkpoint_subdir=replica.checkpoint_subdir,
        )
        env = environment.base_env(PASSED_THROUGH)
        env.update(replica.env)
        env["AICC_OUTPUT_DIR"] = str(prepared.outputs)
        env["AICC_CHECKPOINT_DIR"] = str(prepared.checkpoints)
        spec = runtime.LaunchSpec(
            command=replica.argv,
            cwd=str(prepared.workdir),
            env=env,
            max_runtime_s=replica.max_runtime_s,
            memory_limit_mib=replica.memory_mib,
            log_limit_bytes=self.log_limit_bytes,
            grace_s=self.grace_s,
            sandbox=for_replica(self.sandbox, prepared, env, bool(replica.device_indices)),
        )
        runtime.launch(run_dir, spec)
        return handle

    def poll(self, handle: str) -> ReplicaState:
        from datetime import UTC, datetime

        status = runtime.poll(self._run_dir(handle))

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

    def cancel(self, handle: str) -> None:
        runtime.cancel(self._run_dir(handle))

    def logs(self, handle: str, stream: Stream = "stdout", tail_bytes: int | None = None) -> str:
        return runtime.read_log(self._run_dir(handle), stream, tail_bytes)

    def log_size(self, handle: str, stream: Stream = "stdout") -> int:
        return runtime.log_size(self._run_dir(handle), stream)
