"""The files a replica's Slurm job runs from: a batch script and the environment it sources.

The job is submitted with `--export=NONE`, so nothing of the server's environment leaks in, and
the replica's variables (secrets among them) travel in a 0600 file instead of on a command line
(`ps`, Slurm's own records). Slurm's variables (`SLURM_*`, `CUDA_VISIBLE_DEVICES` for the GRES it
gave) are already set when the script starts, and the file does not override them.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from aicc.core import catalog

ENV_FILE = "env.sh"
SCRIPT_FILE = "job.sh"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Slurm sets the device variable for the GRES it allocated; AICC's own would override it.
DEVICE_VARIABLES = frozenset(
    {catalog.visible_devices_env(v) for v in catalog.Vendor}
    | {"GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES"}
)


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write a new file readable only by its owner (atomically: a reader sees all or nothing)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


def write_env(run_dir: Path, env: dict[str, str]) -> Path:
    """`export NAME='value'` lines, mode 0600. Names that are not shell identifiers are refused."""
    bad = sorted(name for name in env if not _NAME.match(name))
    if bad:
        raise ValueError(f"environment variable names not usable in a shell: {bad}")
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path = run_dir / ENV_FILE
    _write_private(path, "\n".join(lines) + "\n", 0o600)
    return path


def write_script(run_dir: Path, argv: list[str], env_file: Path, title: str) -> Path:
    """A bash script that sources `env_file` and execs `argv` (the replica is the job's shell
    process, so Slurm's signals reach it directly)."""
    if not argv:
        raise ValueError("a replica needs a command")
    text = (
        "#!/bin/bash\n"
        f"# {title} (written by aicc's Slurm executor)\n"
        f". {shlex.quote(str(env_file))} || exit 127\n"
        f"exec {shlex.join(argv)}\n"
    )
    path = run_dir / SCRIPT_FILE
    _write_private(path, text, 0o700)
    return path
