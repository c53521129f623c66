"""The Slurm executor: each replica is one Slurm batch job (one task), on the node AICC chose.

A handle is `slurm:<job id>:<run dir>`. The run directory (rundir.py, on a file system the
compute nodes share) holds the batch script, the 0600 environment file, the logs Slurm writes
(`stdout.log`, `stderr.log`) and what this executor records (the handle, the GRES indices Slurm
gave, a cancel request), so a restarted server rebuilds everything from the handle. Slurm is
reached only through its commands (`commands.py`).

Jobs are named `aicc-JOB-ATTEMPT-INDEX`; a launch whose handle was not recorded looks for that
name first, so a crash between `sbatch` and recording the handle never submits twice. Other jobs,
users' own work submitted to Slurm directly or another AICC's (named alike, logging elsewhere),
are reported by `used_capacity()` with what they hold.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from aicc.core.topology import Node
from aicc.executors import cancel, jobfiles
from aicc.executors.base import (
    Capabilities,
    Capacity,
    ReplicaLaunch,
    ReplicaState,
    Workdirs,
    discovered,
)
from aicc.executors.container import Container
from aicc.executors.datacache import DataCache
from aicc.executors.environment import write_private
from aicc.executors.rundir import Run, RunDirExecutor
from aicc.executors.sandbox import Sandbox
from aicc.executors.siteenv import SiteEnvironment
from aicc.executors.slurm import batch, nodes, parse, states
from aicc.executors.slurm.commands import SlurmCommands, SlurmError

log = logging.getLogger(__name__)

NAME_PREFIX = nodes.AICC_JOB_PREFIX
DEVICES_FILE = "devices.json"
RUN_DIR = re.compile(r"/job_[0-9A-Za-z]+/[0-9]+/[0-9]+$")


class SlurmExecutor(RunDirExecutor):
    name = "slurm"
    title = "Slurm"
    # GRES hands out whole GPUs, and Slurm picks which (AICC reads them back).
    capabilities = Capabilities(
        multi_node=True, fractional=False, node_pinning=True, log_streaming=True, picks_devices=True
    )
    unanswered = (SlurmError,)

    def __init__(
        self,
        *,
        base_dir: Path,
        blobs: Workdirs | None = None,
        commands: SlurmCommands | None = None,
        partition: str | None = None,
        placement: Literal["aicc", "slurm"] = "aicc",
        simulated: bool = False,
        default_model: str | None = None,
        account: str | None = None,
        extra_sbatch_args: tuple[str, ...] = (),
        grace_s: float = 10.0,
        unavailable_grace_s: float = 60.0,
        queue_max_age_s: float = 1.0,
        sandbox: Sandbox | None = None,
        data: DataCache | None = None,
        container: Callable[[], Container | None] | None = None,
        environments: Mapping[str, SiteEnvironment] | None = None,
    ) -> None:
        """`base_dir`: where run directories go (`$AICC_HOME/slurm-runs`), shared with the compute
        nodes. `placement="slurm"` submits to `partition` without `--nodelist`. `simulated`: the
        cluster's GPUs are fixtures (fake gres devices). `default_model`: the catalog model of
        untyped `gpu:N` gres. A replica pending on a node Slurm cannot use (down, drained) for
        `unavailable_grace_s` is withdrawn and reported lost, so the retry policy places it again.
        `sandbox`: what confines replicas on the compute nodes (laid out like this machine).
        """
        super().__init__(
            base_dir=base_dir,
            blobs=blobs,
            sandbox=sandbox,
            data=data,
            container=container,
            environments=environments,
        )
        self.slurm = commands or SlurmCommands()
        self.partition = partition
        self.placement = placement
        self.simulated = simulated
        self.default_model = default_model
        self.account = account
        self.extra_sbatch_args = extra_sbatch_args
        self.grace_s = grace_s
        self.unavailable_grace_s = unavailable_grace_s
        self.queue_max_age_s = queue_max_age_s
        self._gres_types: dict[tuple[str, int], str | None] = {}  # (node, index) -> gres type
        self._queue_cache: tuple[float, dict[int, dict[str, Any]]] | None = None
        self._config: dict[str, str] | None = None

    # ------------------------------------------------------------------ discovery

    def config(self) -> dict[str, str]:
        """`scontrol show config` as a dict (read once)."""
        if self._config is None:
            text = self.slurm.run("scontrol", "show", "config")
            pairs = (line.split("=", 1) for line in text.splitlines() if " = " in line)
            self._config = {k.strip(): v.strip() for k, v in pairs}
        return self._config

    def discover(self) -> list[Node]:
        """Slurm's nodes as they are now: CPUs, memory, GPUs from gres, state, partition as pool.
        DOWN (or not responding) -> DOWN, DRAIN/FAIL -> CORDONED, with Slurm's reason kept in
        `node_reasons`."""
        cluster = self.config().get("ClusterName", "slurm")
        found = nodes.inventory(
            self.slurm.run("scontrol", "-o", "show", "node"),
            cluster=cluster,
            simulated=self.simulated,
            default_model=self.default_model,
            executor=self.name,
        )
        self.node_reasons, self._gres_types = found.reasons, found.gres_types
        self.note = discovered(f"Slurm cluster {cluster}", found.nodes, simulated=self.simulated)
        return found.nodes

    def used_capacity(self) -> dict[str, Capacity]:
        """Per node, what running jobs not submitted by this AICC hold (users' direct `sbatch`,
        another AICC server's)."""
        jobs = self.slurm.run("scontrol", "-o", "-d", "show", "job")
        return nodes.used_capacity(jobs, self.base_dir)

    # ------------------------------------------------------------------ handles and files

    @staticmethod
    def parse_handle(handle: str) -> tuple[int, Path]:
        """`slurm:<job id>:<run dir>` -> (job id, run dir); ValueError for anything else."""
        kind, _, rest = handle.partition(":")
        job, _, path = rest.partition(":")
        run_dir = Path(path)
        if (
            kind != "slurm"
            or not job.isdigit()
            or not run_dir.is_absolute()
            or ".." in run_dir.parts
            or not RUN_DIR.search(run_dir.as_posix())
        ):
            raise ValueError(f"handle {handle!r} is not a Slurm replica handle")
        return int(job), run_dir

    def run_dir_of(self, handle: str) -> Path:
        return self.parse_handle(handle)[1]

    # ------------------------------------------------------------------ launch

    @staticmethod
    def job_name(replica: ReplicaLaunch) -> str:
        return f"{NAME_PREFIX}{replica.job_id}-{replica.attempt}-{replica.index}"

    def _start(self, replica: ReplicaLaunch, run: Run) -> str:
        """Submit the replica with `sbatch`: the script sources the environment file."""
        env_file = run.write_env()
        script = batch.write_script(
            run.dir,
            replica.argv,
            env_file,
            run.title,
            run.sandbox,
            pull=run.pull,
            remove=run.remove,
        )
        name = self.job_name(replica)
        out = self.slurm.run("sbatch", *self._sbatch_args(replica, name, run.dir), str(script))
        job_id = int(out.strip().split(";")[0])
        self._queue_cache = None
        log.info("replica %s submitted as Slurm job %d on %s", name, job_id, replica.node)
        return f"slurm:{job_id}:{run.dir}"

    def _sbatch_args(self, replica: ReplicaLaunch, name: str, run_dir: Path) -> list[str]:
        args = [
            "--parsable",
            f"--job-name={name}",
            "--export=NONE",
            "--no-requeue",  # a lost node is AICC's retry policy to handle, not Slurm's
            "--nodes=1",
            "--ntasks=1",
            f"--cpus-per-task={max(1, math.ceil(replica.cpu_milli / 1000))}",
            f"--output={run_dir / 'stdout.log'}",
            f"--error={run_dir / 'stderr.log'}",
            "--open-mode=append",
            f"--chdir={run_dir / 'work'}",
        ]
        if replica.memory_mib > 0:
            args.append(f"--mem={replica.memory_mib}M")
        if replica.device_indices:
            types = {self._gres_types.get((replica.node, i)) for i in replica.device_indices}
            typed = types.pop() if len(types) == 1 else None
            kind = f"gpu:{typed}" if typed else "gpu"
            args.append(f"--gres={kind}:{len(replica.device_indices)}")
        if replica.max_runtime_s:
            args.append(f"--time={max(1, math.ceil(replica.max_runtime_s / 60))}")  # minutes
        if self.placement == "aicc":
            args.append(f"--nodelist={replica.node}")
        if self.partition:
            args.append(f"--partition={self.partition}")
        if self.account:
            args.append(f"--account={self.account}")
        args.extend(self.extra_sbatch_args)
        return args

    def _launched(self, replica: ReplicaLaunch, run_dir: Path) -> str | None:
        """The Slurm job submitted under the replica's name, queued or in accounting, when the
        server stopped before recording it."""
        if not (run_dir / batch.SCRIPT_FILE).exists():
            return None  # the script is written before sbatch runs: nothing was submitted
        name = self.job_name(replica)
        found = [j for j, rec in self._queue(max_age_s=0).items() if rec.get("name") == name]
        if not found and self._accounting_enabled():
            try:
                out = self.slurm.run(
                    "sacct", "-X", "-n", "-P", f"--name={name}", "-S", "now-30days", "-o", "JobID"
                )
                found = [int(j) for j in out.split() if j.isdigit()]
            except SlurmError as err:
                log.warning("sacct could not look for job %s: %s", name, err)
        return f"slurm:{max(found)}:{run_dir}" if found else None

    # ------------------------------------------------------------------ observe

    def _queue(self, max_age_s: float | None = None) -> dict[int, dict[str, Any]]:
        """Every job slurmctld still holds (finished ones until MinJobAge), by id. One
        `squeue --json` serves every poll of a reconcile pass: 22.05 ignores its filters anyway."""
        age = self.queue_max_age_s if max_age_s is None else max_age_s
        now = time.monotonic()
        if self._queue_cache and now - self._queue_cache[0] <= age:
            return self._queue_cache[1]
        data = json.loads(self.slurm.run("squeue", "--json"))
        jobs = {int(j["job_id"]): j for j in data.get("jobs", []) if "job_id" in j}
        self._queue_cache = (now, jobs)
        return jobs

    def _accounting_enabled(self) -> bool:
        return self.config().get("AccountingStorageType", "").endswith("slurmdbd")

    def _poll(self, handle: str) -> ReplicaState:
        """`_engine_poll`, with a failed pull of the replica's image told as such."""
        return self.image_outcome(self.parse_handle(handle)[1], self._engine_poll(handle))

    def _engine_poll(self, handle: str) -> ReplicaState:
        """The replica's state as Slurm tells it (SlurmError while the controller or slurmdbd
        does not answer)."""
        job_id, run_dir = self.parse_handle(handle)
        cancel_at = cancel.requested(run_dir)
        job = self._queue().get(job_id)
        if job is None:
            return self._finished(job_id, cancel_at is not None)
        state = parse.job_state(job.get("job_state"))
        reason = str(job.get("state_reason") or "")
        if state in states.STARTING and reason.startswith(states.UNAVAILABLE_NODE_REASONS):
            waited = time.time() - (parse.number(job.get("submit_time")) or time.time())
            if waited >= self.unavailable_grace_s:
                self._scancel(job_id)
                return ReplicaState(
                    "lost",
                    reason="node_lost",
                    message=f"Slurm cannot use the node ({reason}); withdrawn after {waited:.0f} s",
                )
        if state in states.RUNNING:
            self._record_devices(run_dir, job)
            if cancel_at is not None and time.time() - cancel_at >= self.grace_s:
                self._scancel(job_id)  # the grace is over
        started = parse.epoch(job.get("start_time")) if state not in states.STARTING else None
        outcome = parse.exit_from_json(job.get("exit_code"))
        return states.replica_state(
            state,
            outcome=outcome,
            slurm_reason=reason,
            started_at=started,
            ended_at=parse.epoch(job.get("end_time")) if states.is_terminal(state) else None,
            cancel_requested=cancel_at is not None,
        )

    def _finished(self, job_id: int, cancel_requested: bool) -> ReplicaState:
        """A job slurmctld no longer holds: its record from sacct, else from the jobcomp file.
        Raises SlurmError when sacct fails and the jobcomp file has no record either."""
        failure: SlurmError | None = None
        if self._accounting_enabled():
            fields = "JobID,State,ExitCode,Start,End,MaxRSS"
            try:
                out = self.slurm.run("sacct", "-j", str(job_id), "-n", "-P", "-o", fields)
            except SlurmError as err:
                out, failure = "", err
            rows = [line.split("|") for line in out.splitlines() if line.count("|") == 5]
            main = [r for r in rows if r[0] == str(job_id)]
            if main:
                _, state, code, start, end, _ = main[0]
                rss = [parse.memory_mib(r[5]) for r in rows]
                return states.replica_state(
                    parse.job_state(state),
                    outcome=parse.exit_from_text(code),
                    started_at=parse.local_time(start),
                    ended_at=parse.local_time(end),
                    peak_rss_mib=max((m for m in rss if m is not None), default=None),
                    cancel_requested=cancel_requested,
                )
        rec = self._jobcomp_record(job_id)
        if rec is not None:
            return states.replica_state(
                parse.job_state(rec.get("JobState")),
                outcome=parse.exit_from_text(rec.get("ExitCode", "")),
                started_at=parse.local_time(rec.get("StartTime", "")),
                ended_at=parse.local_time(rec.get("EndTime", "")),
                cancel_requested=cancel_requested,
            )
        if failure is not None:
            raise failure
        return ReplicaState(
            "lost", reason="node_lost", message=f"Slurm has no record of job {job_id}"
        )

    def _jobcomp_record(self, job_id: int) -> dict[str, str] | None:
        """The job's line in a `jobcomp/filetxt` log (the newest 64 MiB of it)."""
        config = self.config()
        if config.get("JobCompType") != "jobcomp/filetxt" or not config.get("JobCompLoc"):
            return None
        path = Path(config["JobCompLoc"])
        try:
            with path.open("rb") as f:
                f.seek(max(0, path.stat().st_size - 64 * 1024 * 1024))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        marker = f"JobId={job_id} "
        lines = [line for line in text.splitlines() if line.startswith(marker)]
        return parse.record(lines[-1]) if lines else None

    def _record_devices(self, run_dir: Path, job: dict[str, Any]) -> list[int] | None:
        recorded = _recorded_devices(run_dir)
        if recorded is not None:
            return recorded
        details = job.get("gres_detail")
        if isinstance(details, list):
            found = parse.gpu_indices(",".join(str(d) for d in details))
        else:  # a version whose JSON lacks it: `scontrol show job -d`
            text = self.slurm.run("scontrol", "-o", "-d", "show", "job", str(job["job_id"]))
            found = [i for share in parse.job_nodes(text) for i in share.gpus]
        write_private(run_dir / DEVICES_FILE, json.dumps(found), 0o600)  # never through a link
        return found

    def device_indices(self, handle: str) -> list[int] | None:
        """The GPU indices Slurm gave the replica on its node (its GRES IDX, which is what the
        job's `CUDA_VISIBLE_DEVICES` holds); None until the job has started."""
        job_id, run_dir = self.parse_handle(handle)
        recorded = _recorded_devices(run_dir)
        if recorded is not None:
            return recorded
        job = self._queue(max_age_s=0).get(job_id)
        if job is None or parse.job_state(job.get("job_state")) not in states.RUNNING:
            return None
        return self._record_devices(run_dir, job)

    # ------------------------------------------------------------------ act

    def _cancel(self, handle: str) -> None:
        """SIGTERM to the replica now; the job is ended (`scancel`: SIGKILL after Slurm's
        KillWait) once `grace_s` has passed, by a later cancel() or poll(). Idempotent."""
        job_id, run_dir = self.parse_handle(handle)
        job = self._queue(max_age_s=0).get(job_id)
        if job is None or states.is_terminal(parse.job_state(job.get("job_state"))):
            return
        requested = cancel.mark(run_dir)
        if requested is None:
            if parse.job_state(job.get("job_state")) in states.RUNNING:
                self._scancel(job_id, "--signal=TERM", "--full")
            else:
                self._scancel(job_id)  # never started: nothing to wind down
        elif time.time() - requested >= self.grace_s:
            self._scancel(job_id)

    def _scancel(self, job_id: int, *options: str) -> None:
        """scancel, quiet about a job that ended meanwhile."""
        self._queue_cache = None
        try:
            self.slurm.run("scancel", *options, str(job_id))
        except SlurmError as err:
            if "completed" not in err.stderr and "Invalid job id" not in err.stderr:
                raise


_DEVICES_LIMITS = jobfiles.Limits(file_bytes=64 * 1024)


def _recorded_devices(run_dir: Path) -> list[int] | None:
    """The GPU indices recorded in the run directory, or None before they are. Read through the
    guard of job-written files: without a sandbox the job may have put a link or a FIFO there,
    which is `jobfiles.Refused` (the replica fails saying so), never followed nor waited on."""
    try:
        with jobfiles.open_regular(run_dir / DEVICES_FILE, _DEVICES_LIMITS) as f:
            return [int(i) for i in json.loads(f.read())]
    except FileNotFoundError:
        return None
