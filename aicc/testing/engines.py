"""The engine under a fault run (`chaos_report.Plan.executor`), and the fault the harness injects
into it: a node lost as a machine is lost, then brought back.

- local: the servers' own machine; it loses no node here (supervisor kills stand for that);
- slurm: a private cluster of `scripts/slurm-dev.sh` (`.slurm-dev/chaos` in the checkout, three
  nodes on this host); a lost node has its slurmd and job steps SIGKILLed at once, stays dead
  until Slurm has marked it DOWN (its jobs NODE_FAIL), and its slurmd is started again;
- ray: a private one-node Ray (`aicc.testing.ray`); the head is lost with every process on it,
  and `ray start` runs again on the same ports a few seconds later, with an empty job table.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aicc.executors.slurm import SlurmCommands, SlurmError
from aicc.testing import ray as dev_ray
from aicc.testing.slurm import REPO, SlurmDev

EXECUTORS = ("local", "slurm", "ray")


@dataclass
class NodeLoss:
    """One node lost and brought back (wall clock, time.time)."""

    node: str | None  # None: every node of the engine (a one-node Ray loses its head)
    at: float
    back_at: float = 0.0
    down_after_s: float | None = None  # until the engine itself said the node was down
    back_s: float = 0.0  # how long bringing it back took

    def bring_back(self, start: Callable[[], object]) -> NodeLoss:
        """Bring the node back with `start` (blocking), timing it; returns this loss."""
        began = time.monotonic()
        start()
        self.back_s = time.monotonic() - began
        self.back_at = time.time()
        return self


class Engine(Protocol):
    runs: str  # where the servers' executor keeps run directories, in the home

    def settings(self) -> dict[str, Any]:
        """What the servers' config.yaml says of the executor."""

    def lose_node(self, rng: random.Random, busy: list[str]) -> NodeLoss:
        """Lose a node (one of `busy`, those running replicas now, when there are any) and
        bring it back; blocking until it is back."""

    def close(self) -> None: ...


class Local:
    runs = "runs"

    def settings(self) -> dict[str, Any]:
        return {}

    def lose_node(self, rng: random.Random, busy: list[str]) -> NodeLoss:
        raise ValueError("the local executor loses no node: use supervisor kills")

    def close(self) -> None:
        pass


class Slurm:
    """Three nodes (2 CPUs, 2 GiB each); a replica takes a whole CPU there."""

    runs = "slurm-runs"

    def __init__(self) -> None:
        self.dev = SlurmDev(REPO / ".slurm-dev" / "chaos", slurmd_timeout_s=5)
        self.nodes = ["n1", "n2", "n3"]
        self.commands = SlurmCommands(slurm_conf=self.dev.conf)
        try:
            self.dev.start()
            for state in ("PENDING", "RUNNING"):  # an earlier run's leftovers
                self.commands.run("scancel", f"--state={state}")
        except BaseException:  # a start that failed half-way: the daemons it started go
            with contextlib.suppress(Exception):
                self.dev.stop()
            raise

    def settings(self) -> dict[str, Any]:
        slurm = {"conf": str(self.dev.conf), "simulated_gpus": True}
        return {"executor": "slurm", "slurm": slurm}

    def _down(self, node: str) -> bool:
        try:
            state = self.commands.run("sinfo", "-h", "-N", "-n", node, "-o", "%T")
        except SlurmError:  # slurmctld busy: ask again
            return False
        return state.strip().startswith("down")

    def lose_node(self, rng: random.Random, busy: list[str]) -> NodeLoss:
        loss = NodeLoss(rng.choice(sorted(set(busy) & set(self.nodes)) or self.nodes), time.time())
        self.dev.kill_node(loss.node or "")
        deadline = time.monotonic() + 120
        while not self._down(loss.node or "") and time.monotonic() < deadline:
            time.sleep(0.5)
        loss.down_after_s = time.time() - loss.at
        return loss.bring_back(self.dev.start)

    def close(self) -> None:
        self.dev.stop()


class Ray:
    """One node, the head, with 2 CPUs; a replica takes a tenth of one."""

    runs = "ray-runs"

    def __init__(self) -> None:
        self.cluster = dev_ray.start(num_cpus=2, num_gpus=0)

    def settings(self) -> dict[str, Any]:
        return {"executor": "ray", "ray": {"address": self.cluster.address, "request_timeout_s": 5}}

    def lose_node(self, rng: random.Random, busy: list[str]) -> NodeLoss:
        loss = NodeLoss(None, time.time())
        self.cluster.kill_head()
        time.sleep(rng.uniform(1.0, 4.0))  # dead a while: the servers poll a Ray that is away
        return loss.bring_back(self.cluster.restart)

    def close(self) -> None:
        self.cluster.stop()


def start(executor: str) -> Engine:
    """The engine of `executor` (one of EXECUTORS), started; `close()` stops it."""
    if executor == "slurm":
        return Slurm()
    if executor == "ray":
        return Ray()
    if executor == "local":
        return Local()
    raise ValueError(f"executor {executor!r}: one of {', '.join(EXECUTORS)}")
