"""The one protocol every engine adapter implements: discover, launch, poll, cancel, logs.

Callers ask `capabilities`, never the concrete class. Only executors know how an engine works;
the reconciler drives them from the store, so an executor keeps no state it cannot rebuild from a
replica's `handle` after a restart.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple

from aicc.core.topology import Node

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class Capabilities:
    multi_node: bool = False  # replicas of one gang on several nodes
    fractional: bool = False  # shares of one device
    node_pinning: bool = False  # honours the node AICC chose
    log_streaming: bool = False  # logs readable while the replica runs


class Capacity(NamedTuple):
    """What jobs outside AICC hold on one node: CPU, memory and whole devices."""

    cpu_milli: int
    memory_mib: int
    gpus: int


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
    priority: int = 100  # the spec's priority (engines with priority classes)
    devices: tuple[dict[str, int], ...] = ()  # bound devices: {"index", "milli", "memory_mib"}
    mig_profile: str | None = None  # one MIG slice of this profile (its index: "mig_slice")


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


class Executor(ABC):
    name: str
    capabilities: Capabilities

    @abstractmethod
    def discover(self) -> list[Node]:
        """The nodes this executor offers, as they are now (registered by the server at start)."""

    @abstractmethod
    def launch(self, replica: ReplicaLaunch) -> str:
        """Start a replica; returns a handle. Idempotent for the same job, attempt and index."""

    @abstractmethod
    def poll(self, handle: str) -> ReplicaState: ...

    @abstractmethod
    def cancel(self, handle: str) -> None:
        """Ask the replica to stop (SIGTERM, then SIGKILL after a grace period). Idempotent."""

    @abstractmethod
    def logs(
        self, handle: str, stream: Stream = "stdout", tail_bytes: int | None = None
    ) -> str: ...

    @abstractmethod
    def log_size(self, handle: str, stream: Stream = "stdout") -> int:
        """Bytes ever written to the stream, so followers can ask only for what is new."""

    def used_capacity(self) -> dict[str, Capacity]:
        """Per node, what the engine's jobs that AICC did not submit hold (users' own Slurm
        jobs): the scheduler counts it as taken. Empty for engines AICC has to itself."""
        return {}

    def node_reason(self, name: str) -> str:
        """Why the engine reports a node down or drained ("" when it says nothing)."""
        return ""

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
