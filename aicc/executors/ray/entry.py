"""The files a replica's Ray job runs from: an entry script and the environment it sources.

Ray runs the job's entrypoint in the job supervisor actor, which holds the GPUs the job asked
for, so `CUDA_VISIBLE_DEVICES` is Ray's choice when the script starts. The script records that
choice and its own start time (`started`), sources the 0600 environment file (secrets travel
there, not in Ray's job table, which anyone with the dashboard can read), enters the replica's
working copy, and execs the command with stdout and stderr in the run directory.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from aicc.core import catalog

ENV_FILE = "env.sh"
SCRIPT_FILE = "entry.sh"
STARTED_FILE = "started"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Ray sets the device variable for the GPUs it gives the job; AICC's own would override it.
DEVICE_VARIABLES = frozenset(
    {catalog.visible_devices_env(v) for v in catalog.Vendor}
    | {"GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES"}
)


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write a file readable only by its owner (atomically: a reader sees all or nothing)."""
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


def write_script(run_dir: Path, argv: list[str], title: str) -> Path:
    """A POSIX shell script that records the devices and start time, sources the environment,
    enters `work/` and execs `argv` (so Ray's stop signals reach the command itself)."""
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
        'cd "$run/work" || exit 127\n'
        f'exec {shlex.join(argv)} >>"$run/stdout.log" 2>>"$run/stderr.log"\n'
    )
    path = run_dir / SCRIPT_FILE
    _write_private(path, text, 0o700)
    return path


def entrypoint(script: Path) -> str:
    """The command Ray runs (through `/bin/sh -c`): the script, in place of that shell."""
    return f"exec /bin/sh {shlex.quote(str(script))}"


def read_started(run_dir: Path) -> dict[str, str] | None:
    """What the script recorded when it started, or None before it has."""
    try:
        text = (run_dir / STARTED_FILE).read_text()
    except FileNotFoundError:
        return None
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def visible_indices(text: str) -> tuple[int, ...] | None:
    """`0,1` -> (0, 1); empty, or UUIDs rather than indices -> None."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)
