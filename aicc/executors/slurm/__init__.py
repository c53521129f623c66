"""The Slurm executor: replicas as Slurm batch jobs, driven through Slurm's own commands."""

from aicc.executors.slurm.commands import SlurmCommands, SlurmError
from aicc.executors.slurm.executor import SlurmExecutor

__all__ = ["SlurmCommands", "SlurmError", "SlurmExecutor"]
