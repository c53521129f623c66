"""A replica's log as one plain file the engine appends to (Slurm's `--output`, Ray's entry
script), read from the run directory on the shared file system. Blocking; a missing file is an
empty log (the replica has not started writing yet).

The run directory is the server's, but without a sandbox the job could replace its log by a
symbolic link, a hard link or a FIFO: the file is opened through the guard of job-written files
(`jobfiles.open_regular`: no link followed, never blocking, regular files only), which raises
`jobfiles.Refused` for anything else."""

from __future__ import annotations

import os
from pathlib import Path

from aicc.executors import jobfiles


def read(path: Path, tail_bytes: int | None = None) -> str:
    """The file's text, or its last `tail_bytes` bytes; invalid UTF-8 is replaced."""
    if tail_bytes is not None and tail_bytes <= 0:
        return ""
    try:
        f = jobfiles.open_regular(path, shown=path.name)
    except FileNotFoundError:
        return ""
    with f:
        if tail_bytes is not None:
            f.seek(max(0, os.fstat(f.fileno()).st_size - tail_bytes))
        return f.read().decode("utf-8", errors="replace")


def size(path: Path) -> int:
    """Bytes in the log; 0 when missing, or when it is no regular file (never follows a link)."""
    return jobfiles.regular_size(path)
