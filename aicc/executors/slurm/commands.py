"""Slurm's commands (`scontrol`, `sbatch`, `squeue`, `sacct`, `scancel`) run with a timeout.

The engine is reached only through these commands: `pyslurm` follows Slurm's C API release by
release and cannot build against most sites' versions, while the commands' output formats used
here (`squeue --json`, `scontrol -o`, `sacct -P`) have held since 21.08.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEFAULT_TIMEOUT_S = 30.0


class SlurmError(RuntimeError):
    """A Slurm command failed, timed out or is missing; the message says which and why."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class SlurmCommands:
    """Runs Slurm's client commands against one cluster.

    `slurm_conf` (else `$SLURM_CONF`, else Slurm's default) says which cluster; `bin_dir` where
    the commands are (else `PATH`). Blocking; every call ends within `timeout_s`.
    """

    def __init__(
        self,
        *,
        slurm_conf: Path | None = None,
        bin_dir: Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.slurm_conf = slurm_conf
        self.bin_dir = bin_dir
        self.timeout_s = timeout_s

    def environment(self) -> dict[str, str]:
        """This process's environment without the SLURM_*/SBATCH_* variables that would change
        what a command does (a server started inside a Slurm job, say), plus SLURM_CONF."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SACCT_", "SCANCEL_"))
        }
        conf = self.slurm_conf or os.environ.get("SLURM_CONF")
        if conf:
            env["SLURM_CONF"] = str(conf)
        return env

    def run(self, command: str, *args: str, timeout_s: float | None = None) -> str:
        """Run `command args...`; its stdout, or SlurmError with its stderr."""
        program = str(self.bin_dir / command) if self.bin_dir else command
        argv = [program, *args]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self.environment(),
                timeout=timeout_s or self.timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise SlurmError(
                f"{command} not found: install Slurm's client commands (Debian: slurm-client) "
                "or give the executor their directory"
            ) from None
        except subprocess.TimeoutExpired:
            raise SlurmError(
                f"{command} did not answer within {timeout_s or self.timeout_s:.0f} s: is "
                "slurmctld up? (scontrol ping)"
            ) from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip() or "no message"
            raise SlurmError(
                f"{' '.join([command, *args[:6]])} failed (exit {done.returncode}): {detail}",
                returncode=done.returncode,
                stderr=done.stderr,
            )
        return done.stdout
