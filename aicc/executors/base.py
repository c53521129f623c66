"""The one protocol every engine adapter implements: discover, launch, poll, cancel, logs.

Callers ask `capabilities`, never the concrete class or its name. Only executors know how an
engine works; the reconciler drives them from the store, so an executor keeps no state it cannot
rebuild from a replica's `handle` after a restart.

The public methods do what every engine shares (refusing what the engine cannot run, answering
with the last state seen while the engine is away, empty tails) and call a small `_launch`,
`_poll`, `_cancel`, `_logs`, `_log_size` that each engine overrides, as SkyPilot's backends do.
Engines whose replicas run from a run directory build on `rundir.RunDirExecutor`.

`launch` and `cancel` must be idempotent per replica: the loops call them between a read and a
fenced write, so a leader that lost its lease meanwhile may still call either once more.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple, Protocol

from aicc.core.datasets import Manifest
from aicc.core.topology import Node
from aicc.executors.execs import ExecProcess, ExecRefused, ExecRequest

log = logging.getLogger(__name__)

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so callers never branch on its name."""

    multi_node: bool = False  # replicas of one gang on several nodes
    fractional: bool = False  # shares of one device
    node_pinning: bool = False  # honours the node AICC chose
    log_streaming: bool = False  # logs readable while the replica runs
    same_host: bool = False  # every node it offers is this machine: a gang meets on 127.0.0.1
    picks_devices: bool = False  # the engine chooses the devices (Slurm's GRES, Ray), AICC reads
    mig_slices: bool = False  # runs a replica on one MIG slice
    exec_in_replica: bool = False  # runs a command inside a running replica's sandbox (exec)


class Workdirs(Protocol):
    """Where an executor reads a job's uploaded workdir archive from. The server hands in its
    blob store; executors never import the store."""

    def materialize(self, sha256: str, dest: Path) -> None:
        """Unpack the archive into `dest`; ValueError, saying why, when it cannot."""

    def size(self, sha256: str) -> int: ...

    def read(self, sha256: str) -> bytes:
        """The archive itself (engines that ship it whole, such as Kubernetes' ConfigMap)."""


class Datasets(Protocol):
    """Where a node's data cache reads data set versions from on a miss. The server hands in
    its data sets and chunk store; executors never import the store."""

    def manifest(self, version_id: str) -> Manifest:
        """The version's files; KeyError when the version is gone."""

    def chunk(self, digest: str) -> bytes:
        """The chunk's bytes (the cache checks them against the digest again)."""


@dataclass(frozen=True)
class DataMount:
    """A data set version a replica sees read-only at `$AICC_DATA_DIR/name`, pinned at submit."""

    name: str
    version_id: str
    ref: str  # as pinned (`NAME@N`, `ORG/PROJECT/NAME@N`), for messages
    bytes: int = 0  # the files' total size (room to make for them)


class Capacity(NamedTuple):
    """What jobs outside AICC hold on one node: CPU, memory and whole devices."""

    cpu_milli: int
    memory_mib: int
    gpus: int


@dataclass(frozen=True)
class BuildLaunch:
    """A build's replica (`kind: build`): the image it pushes, its Containerfile in the
    working copy, what each image the Containerfile names resolves to, and the credential that
    pushes the target and pulls those (written to a 0600 file for the build alone)."""

    target: str
    containerfile: str
    from_images: dict[str, str]
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReplicaLaunch:
    """Everything needed to start one replica, decided by the scheduler and the reconciler."""

    job_id: str
    attempt: int
    index: int
    argv: list[str]
    env: dict[str, str]  # user env, secrets, AICC_*, rendezvous and device variables
    node: str
    device_indices: tuple[int, ...]
    cpu_milli: int
    memory_mib: int
    max_runtime_s: int | None
    workdir_sha256: str | None = None
    checkpoint_subdir: str | None = None  # spec.checkpoint_dir, relative to the workdir
    labels: dict[str, str] = field(default_factory=dict)  # the spec's, plus aicc.io/org, /project
    image: str | None = None  # the spec's container image (engines that run containers)
    # For an image in the center's registry: the credential that pulls it (USER:SECRET, or a
    # bare token), which the control plane fills; written to a 0600 file for the pull alone.
    image_pull_token: str | None = field(default=None, repr=False)
    priority: int = 100  # the spec's priority (engines with priority classes)
    devices: tuple[dict[str, int], ...] = ()  # bound devices: {"index", "milli", "memory_mib"}
    mig_profile: str | None = None  # one MIG slice of this profile (its index: "mig_slice")
    datasets: tuple[DataMount, ...] = ()  # mounted read-only at $AICC_DATA_DIR/NAME
    # With `datasets`: a credential that reads them (and only them, while this attempt holds
    # its place) through the API, for nodes that fetch their data themselves (Kubernetes pods).
    data_grant: str | None = field(default=None, repr=False)
    # A persistent home, `PROJECT/USER` under the engine's homes: the replica's $HOME, read-write,
    # kept after it ends (notebooks). Engines that cannot give one refuse the replica.
    home: str | None = None
    # What the replica reaches beyond its job's own network namespace (netns.py): nothing, or
    # the internet through slirp4netns (never the node's loopback). Engines without namespaces
    # ignore it.
    egress: Literal["none", "internet"] = "none"
    # Whether it reaches the server's S3 endpoint (serverroute.py; engines that have the
    # route): not a run of code that is not the owner's on the owner's data, which sends
    # nothing out (`services/jobs/launches.py`).
    s3_route: bool = True
    # The site environment it runs with, by the operator's name (siteenv.py); engines apply it
    # to replicas without an image alone.
    environment: str | None = None
    # A build (`kind: build`): the engine runs podman build and push instead of `argv`.
    build: BuildLaunch | None = None


@dataclass(frozen=True)
class ReplicaState:
    phase: Literal["starting", "running", "exited", "lost"]
    exit_code: int | None = None
    reason: str | None = (
        None  # succeeded | exit_code | oom_killed | runtime_exceeded | cancelled ...
    )
    started_at: datetime | None = None
    ended_at: datetime | None = None
    peak_rss_mib: int | None = None
    message: str = ""
    device_indices: tuple[int, ...] | None = None  # the engine's own choice, when it makes one


class Outage:
    """Whether an engine answers, told to the log once an outage: a Ray or Slurm controller
    away for minutes would otherwise write a warning for every replica on every pass."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.since: float | None = None  # when it stopped answering (monotonic), if it has

    def failed(self, what: str, err: BaseException, *, trace: bool = False) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "%s does not answer (%s): %s; what runs there keeps its last known state",
                self.title,
                what,
                err,
                exc_info=err if trace else None,
            )
        else:
            log.debug("%s still does not answer (%s): %s", self.title, what, err)

    def answered(self) -> None:
        if self.since is not None:
            log.warning("%s answers again after %.0f s", self.title, time.monotonic() - self.since)
            self.since = None


def discovered(where: str, nodes: list[Node], *, simulated: bool, unit: str = "GPU") -> str:
    """The server log's line for what a discovery found: `where`, then how many nodes and
    devices (`unit`s), saying so when the devices are simulated."""
    devices = sum(len(n.devices) for n in nodes)
    kind = "simulated " if simulated else ""
    return f"{where}: {len(nodes)} node(s), {devices} {kind}{unit}(s)"


class Executor(ABC):
    name: str
    title: ClassVar[str]  # the engine as users know it, in messages ("Slurm did not answer")
    capabilities: Capabilities
    # What the engine raises when it does not answer (a controller or API restarting): not the
    # replica's failure, so `poll` answers with the last state seen meanwhile.
    unanswered: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self) -> None:
        self.note = ""  # what the last discovery found, for the server's log ("Slurm cluster ...")
        self.node_reasons: dict[str, str] = {}  # node -> why the engine has it down or drained
        self._last_seen: dict[str, ReplicaState] = {}  # handle -> state, while it is active
        self.outage = Outage(self.title)

    @abstractmethod
    def discover(self) -> list[Node]:
        """The nodes this executor offers, as they are now (registered by the server at start)."""

    def launch(self, replica: ReplicaLaunch) -> str:
        """Start a replica; returns a handle. Idempotent for the same job, attempt and index.
        What the engine cannot run is refused (ValueError, saying what to do instead)."""
        if replica.mig_profile is not None and not self.capabilities.mig_slices:
            raise ValueError(
                f"the {self.title} executor cannot run a MIG slice ({replica.mig_profile}): it "
                "hands out whole GPUs; run MIG jobs on a local or Kubernetes node"
            )
        if replica.datasets and not self.mounts_data:
            raise ValueError(self.no_data_mounts)
        if replica.home is not None and not self.gives_homes:
            raise ValueError(
                f"the {self.title} executor cannot give a notebook its persistent home: run "
                "notebooks on a local node (docs/notebooks.md says what other engines need)"
            )
        return self._launch(replica)

    @property
    def gives_homes(self) -> bool:
        """Whether a replica can have a persistent home (`ReplicaLaunch.home`) kept on disk."""
        return False

    @property
    def mounts_data(self) -> bool:
        """Whether replicas can have the spec's `datasets` mounted (a node data cache)."""
        return False

    @property
    def no_data_mounts(self) -> str:
        """Why this executor, as configured, cannot mount data sets, and what to do."""
        return (
            f"the {self.title} executor cannot mount data sets: run jobs with `datasets` on a "
            "local, Slurm, Ray or Kubernetes node"
        )

    def poll(self, handle: str) -> ReplicaState:
        """The replica's state as the engine tells it. An engine that does not answer is not
        the replica's failure: the last state seen is returned again, with the error as its
        message (`starting` when none was seen yet)."""
        try:
            state = self._poll(handle)
        except self.unanswered as err:
            self.outage.failed(f"replica {handle}", err)
            last = self._last_seen.get(handle, ReplicaState("starting"))
            return replace(last, message=f"{self.title} did not answer: {err}")
        self.outage.answered()
        if state.phase in ("exited", "lost"):
            self._last_seen.pop(handle, None)
        else:
            self._last_seen[handle] = state
        return state

    def cancel(self, handle: str) -> None:
        """Ask the replica to stop (SIGTERM, then SIGKILL after a grace period). Idempotent."""
        self._cancel(handle)

    def logs(self, handle: str, stream: Stream = "stdout", tail_bytes: int | None = None) -> str:
        """The stream's text, or its last `tail_bytes` bytes (none for a tail of 0)."""
        if tail_bytes is not None and tail_bytes <= 0:
            return ""
        return self._logs(handle, stream, tail_bytes)

    def log_size(self, handle: str, stream: Stream = "stdout") -> int:
        """Bytes ever written to the stream, so followers can ask only for what is new."""
        return self._log_size(handle, stream)

    def exec(
        self,
        handle: str,
        command: Sequence[str],
        *,
        tty: bool,
        withhold: frozenset[str] = frozenset(),
        cols: int = 80,
        rows: int = 24,
    ) -> ExecProcess:
        """Run `command` inside the running replica's sandbox and network namespace, on a pty
        (`tty`) or pipes (`aicc job exec`); `withhold`: environment names it must not get (its
        secrets). ExecRefused, saying why, where it cannot: engines whose replicas are not this
        machine's processes refuse all (`capabilities.exec_in_replica`)."""
        if not self.capabilities.exec_in_replica:
            raise ExecRefused(
                f"exec is supported on local executor nodes; this job runs on {self.title}, "
                "whose replicas the server cannot enter"
            )
        request = ExecRequest(tuple(command), tty=tty, withhold=withhold, cols=cols, rows=rows)
        return self._exec(handle, request)

    def _exec(self, handle: str, request: ExecRequest) -> ExecProcess:
        raise ExecRefused(f"the {self.title} executor cannot run a command in a replica")

    @abstractmethod
    def _launch(self, replica: ReplicaLaunch) -> str: ...

    @abstractmethod
    def _poll(self, handle: str) -> ReplicaState:
        """The state now; raises one of `unanswered` when the engine does not answer."""

    @abstractmethod
    def _cancel(self, handle: str) -> None: ...

    @abstractmethod
    def _logs(self, handle: str, stream: Stream, tail_bytes: int | None) -> str: ...

    @abstractmethod
    def _log_size(self, handle: str, stream: Stream) -> int: ...

    def used_capacity(self) -> dict[str, Capacity]:
        """Per node, what the engine's jobs that AICC did not submit hold (users' own Slurm
        jobs): the scheduler counts it as taken. Empty for engines AICC has to itself."""
        return {}

    def node_reason(self, name: str) -> str:
        """Why the engine reports a node down or drained ("" when it says nothing)."""
        return self.node_reasons.get(name, "")

    def device_indices(self, handle: str) -> list[int] | None:
        """The devices the engine gave a running replica, when the engine picks them itself
        (Slurm's GRES); None when the replica got the devices AICC bound."""
        return None

    def purge(self, job_id: str, *, logs: bool) -> None:  # noqa: B027 (optional hook)
        """Free what a finished job leaves behind: its working copies and, with `logs`, its logs.
        Outputs are kept. Idempotent."""

    def outputs_dir(self, job_id: str, handle: str | None = None) -> Path | None:
        """Where the job's `$AICC_OUTPUT_DIR` is kept (found from one of its replicas' handles
        when given), if this server can read it."""
        return None
