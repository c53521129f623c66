"""A cancel request, kept in the replica's run directory (`cancel_requested`: when it was first
asked), so the engine's grace period and the replica's final reason survive a server restart.

Shared by the run-directory executors (rundir.py) and the local supervisor, which stops its
replica when the file appears; no other imports, so the supervisor stays light.

Without a sandbox a job can write its run directory, so the name is hostile: it is made with
`O_EXCL|O_NOFOLLOW` (never written through a link a job planted) and read with
`O_NOFOLLOW|O_NONBLOCK` (never blocks on a FIFO); anything there but a regular file counts as a
request whose grace is over.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

CANCEL_FILE = "cancel_requested"


def mark(run_dir: Path) -> float | None:
    """Record a cancel request; returns when one was first recorded, None if this is it."""
    earlier = requested(run_dir)
    if earlier is None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(run_dir / CANCEL_FILE, flags, 0o644)
        except FileExistsError:  # made meanwhile (another server, or the job itself)
            return requested(run_dir)
        with os.fdopen(fd, "w") as f:
            f.write(f"{time.time()}\n")
    return earlier


def requested(run_dir: Path) -> float | None:
    """When a cancel was first requested (epoch seconds), or None."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(run_dir / CANCEL_FILE, flags)
    except FileNotFoundError:
        return None
    except OSError:  # a link (ELOOP), a socket (ENXIO): there, but not ours to read
        return 0.0
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0.0
        text = f.read(64).decode("ascii", errors="replace").strip()
    try:
        return float(text)
    except ValueError:  # cut short while written: a request all the same, its grace long over
        return 0.0
