"""The files a replica's Ray job runs from: an entry script and the environment it sources.

Ray runs the job's entrypoint in the job supervisor actor, which holds the GPUs the job asked
for, so `CUDA_VISIBLE_DEVICES` is Ray's choice when the script starts. The script records that
choice and its own start time (`started`), sources the 0600 environment file (secrets travel
there, not in Ray's job table, which anyone with the dashboard can read) and removes it, enters
the replica's working copy, and execs the command, in the sandbox when there is one, with stdout
and stderr in the run directory. In an image (container.py) the node's pull comes first (its
failure exits 125, the reason in the run directory's `image_unavailable`) and the container is
removed when podman ends or the script is told to stop (container.py's `run_line`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from aicc.executors import jobfiles
from aicc.executors.container import UNAVAILABLE_EXIT, run_line
from aicc.executors.environment import ENV_FILE, write_private

SCRIPT_FILE = "entry.sh"
STARTED_FILE = "started"
MAX_RECORD_BYTES = 1 << 20  # a run directory's records (started, request.json, limits.json)
_RECORD = jobfiles.Limits(file_bytes=MAX_RECORD_BYTES)


def write_script(
    run_dir: Path,
    argv: list[str],
    title: str,
    sandbox: Sequence[str] = (),
    *,
    pull: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> Path:
    """A POSIX shell script that records the devices and start time, sources the environment
    and removes its file (the secrets in it then live only in the replica), enters `work/` and
    execs `argv` in `sandbox` (so Ray's stop signals reach the command itself). In an image:
    `pull` first (its messages in stderr.log), and `remove` after."""
    if not argv:
        raise ValueError("a replica needs a command")
    run = shlex.quote(str(run_dir))
    text = (
        "#!/bin/sh\n"
        f"# {title} (written by aicc's Ray executor)\n"
        f"run={run}\n"
        '{ echo "started_at=$(date +%s.%N)"; echo "visible=${CUDA_VISIBLE_DEVICES-}"; '
        'echo "host=$(uname -n)"; } >"$run/started.partial" '
        '&& mv -f "$run/started.partial" "$run/started" || exit 127\n'
        f'. "$run/{ENV_FILE}" || exit 127\n'
        f'rm -f -- "$run/{ENV_FILE}"\n'
        'cd "$run/work" || exit 127\n'
        + (f'{shlex.join(pull)} 2>>"$run/stderr.log" || exit {UNAVAILABLE_EXIT}\n' if pull else "")
        + run_line([*sandbox, *argv], remove, ' >>"$run/stdout.log" 2>>"$run/stderr.log"')
    )
    path = run_dir / SCRIPT_FILE
    write_private(path, text, 0o700)
    return path


def entrypoint(script: Path) -> str:
    """The command Ray runs (through `/bin/sh -c`): the script, in place of that shell."""
    return f"exec /bin/sh {shlex.quote(str(script))}"


def read_record(path: Path) -> str:
    """A record in a run directory, read through the guard of job-written files: without a
    sandbox the job may have put a link or a FIFO under its name, which is `jobfiles.Refused`
    (the replica fails saying so), never followed nor waited on. Missing: FileNotFoundError."""
    with jobfiles.open_regular(path, _RECORD) as f:
        return f.read(MAX_RECORD_BYTES).decode("utf-8", errors="replace")


def read_started(run_dir: Path) -> dict[str, str] | None:
    """What the script recorded when it started, or None before it has."""
    try:
        text = read_record(run_dir / STARTED_FILE)
    except FileNotFoundError:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def visible_indices(text: str) -> tuple[int, ...] | None:
    """`0,1` -> (0, 1); empty, or UUIDs rather than indices -> None."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)
