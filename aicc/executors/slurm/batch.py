"""The files a replica's Slurm job runs from: a batch script and the environment it sources.

The job is submitted with `--export=NONE`, so nothing of the server's environment leaks in, and
the replica's variables (secrets among them) travel in a 0600 file instead of on a command line
(`ps`, Slurm's own records); the script removes the file once it has read it. Slurm's variables
(`SLURM_*`, `CUDA_VISIBLE_DEVICES` for the GRES it gave) are already set when the script starts,
and the file does not override them. The command runs in the replica sandbox, if there is one,
or in its image (container.py): the node's pull first (its failure exits 125, the reason in the
run directory's `image_unavailable`), then podman, whose container is removed when it ends or
the script is told to stop (Slurm kills podman after KillWait; the container would outlive it).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from aicc.executors.container import UNAVAILABLE_EXIT, run_line
from aicc.executors.environment import write_private

SCRIPT_FILE = "job.sh"


def write_script(
    run_dir: Path,
    argv: list[str],
    env_file: Path,
    title: str,
    sandbox: Sequence[str] = (),
    *,
    pull: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> Path:
    """A bash script that sources `env_file`, removes it (the secrets in it then live only in
    the replica), and execs `argv` in `sandbox` (the replica is the job's shell process, so
    Slurm's signals reach it directly). In an image: `pull` first, and `remove` after."""
    if not argv:
        raise ValueError("a replica needs a command")
    env = shlex.quote(str(env_file))
    text = (
        "#!/bin/bash\n"
        f"# {title} (written by aicc's Slurm executor)\n"
        f". {env} || exit 127\n"
        f"rm -f -- {env}\n"
        + (f"{shlex.join(pull)} || exit {UNAVAILABLE_EXIT}\n" if pull else "")
        + run_line([*sandbox, *argv], remove)
    )
    path = run_dir / SCRIPT_FILE
    write_private(path, text, 0o700)
    return path
