"""The program a node's burn-in runs (`python -m aicc.burnin`): CPU, memory, disk, network and
GPU figures of the node it runs on, each with its unit, written as one JSON file.

It imports nothing else of AICC (only the standard library and numpy), so the server ships it
as a working directory and it runs wherever a job runs: the local executor, Slurm, Ray. The
server reads the file as hostile input (`services/center/burn_in.py`) and judges the figures
against the node's kind; the program judges nothing but the GPU diagnostic's own verdict.
"""

from __future__ import annotations

from aicc.burnin.checks import FIGURES, Figure, Result, run

RESULT = "burnin.json"  # the file the program writes in its output directory
VERSION = 1  # of the result's schema

__all__ = ["FIGURES", "RESULT", "VERSION", "Figure", "Result", "run"]
