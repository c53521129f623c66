"""A cancel request, kept in the replica's run directory (`cancel_requested`: when it was first
asked), so the engine's grace period and the replica's final reason survive a server restart.

Shared by the run-directory executors (rundir.py) and the local supervisor, which stops its
replica when the file appears; no other imports, so the supervisor stays light.
"""

from __future__ import annotations

import time
from pathlib import Path

CANCEL_FILE = "cancel_requested"


def mark(run_dir: Path) -> float | None:
    """Record a cancel request; returns when one was first recorded, None if this is it."""
    earlier = requested(run_dir)
    if earlier is None:
        (run_dir / CANCEL_FILE).write_text(f"{time.time()}\n")
    return earlier


def requested(run_dir: Path) -> float | None:
    """When a cancel was first requested (epoch seconds), or None."""
    try:
        text = (run_dir / CANCEL_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return float(text)
    except ValueError:  # cut short while written: a request all the same, its grace long over
        return 0.0
