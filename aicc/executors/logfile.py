"""A replica's log as one plain file the engine appends to (Slurm's `--output`, Ray's entry
script), read from the run directory on the shared file system. Blocking; a missing file is an
empty log (the replica has not started writing yet)."""

from __future__ import annotations

import os
from pathlib import Path


def read(path: Path, tail_bytes: int | None = None) -> str:
    """The file's text, or its last `tail_bytes` bytes; invalid UTF-8 is replaced."""
    if tail_bytes is not None and tail_bytes <= 0:
        return ""
    try:
        with path.open("rb") as f:
            if tail_bytes is not None:
                f.seek(max(0, os.fstat(f.fileno()).st_size - tail_bytes))
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
