"""The development Slurm cluster of `scripts/slurm-dev.sh` (controller, slurmdbd and slurmd n1..n3
on this host), driven from tests and benchmarks: start it, stop it, lose a node.

Only in a source checkout (the script is not in the wheel), as root (Slurm's daemons need it).
Each directory is a cluster of its own, on ports of its own.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm-dev.sh"
CANNOT_INSTALL = 4  # the script's exit status when Slurm cannot be installed here


class SlurmNotAvailable(RuntimeError):
    """Slurm cannot be installed or started here (no root, no packages, no checkout)."""


@dataclass(frozen=True)
class SlurmDev:
    """One cluster of the script, under `dir`. `slurmd_timeout_s`: how long an unresponsive
    node stays up before slurmctld marks it DOWN (a test waits that out). `message_timeout_s`:
    Slurm's MessageTimeout (None: its 10 s), which each ping of a lost node waits out too.
    `scheduler_parameters`: Slurm's SchedulerParameters (`batch_sched_delay=0` starts a job
    at once instead of up to 3 s after its sbatch). Both apply when the cluster is started
    with no daemon running (the script writes its configuration then)."""

    dir: Path
    slurmd_timeout_s: int = 5
    message_timeout_s: int | None = None
    scheduler_parameters: str = ""

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "slurm.conf"

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`slurm-dev.sh ARGS` on this cluster; its result, whatever the exit status."""
        env = {
            **os.environ,
            "SLURM_DEV_DIR": str(self.dir),
            "SLURM_DEV_SLURMD_TIMEOUT": str(self.slurmd_timeout_s),
        }
        if self.message_timeout_s is not None:
            env["SLURM_DEV_MESSAGE_TIMEOUT"] = str(self.message_timeout_s)
        if self.scheduler_parameters:
            env["SLURM_DEV_SCHEDULER_PARAMETERS"] = self.scheduler_parameters
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        """Start what is not running (a lost node's slurmd comes back). Blocking; raises
        SlurmNotAvailable when Slurm cannot run here, RuntimeError when the start failed."""
        if not SCRIPT.exists():
            raise SlurmNotAvailable(f"{SCRIPT} is missing: run from a source checkout")
        done = self.run("start")
        if done.returncode == CANNOT_INSTALL:
            raise SlurmNotAvailable(done.stderr.strip())
        if done.returncode != 0:
            raise RuntimeError(f"slurm-dev.sh start failed:\n{done.stdout}\n{done.stderr}")

    def stop(self) -> None:
        done = self.run("stop")
        if done.returncode != 0:
            raise RuntimeError(f"slurm-dev.sh stop failed:\n{done.stderr}")

    def kill_node(self, node: str) -> None:
        """Lose `node` as a machine is lost: its slurmd and its job steps SIGKILLed at once.
        Slurm notices after `slurmd_timeout_s` (and its ping interval); `start` brings it back."""
        done = self.run("kill-node", node, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"slurm-dev.sh kill-node {node} failed:\n{done.stderr}")
