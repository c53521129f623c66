"""A replica's environment: the clean base the server hands on, and the 0600 file it travels in.

Shared by the executors whose replicas run from a run directory (local, Slurm, Ray: rundir.py).
Slurm and Ray source the file from the replica's script, so secrets never stand on a command line
or in the engine's own records; the engine sets the device variables for the devices it gave,
and the replica's own never override them.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aicc.core import accelerator_names, catalog
from aicc.core.topology import Device
from aicc.executors.base import ReplicaLaunch

ENV_FILE = "env.sh"
PASSED_THROUGH = ("HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TZ", "SHELL")
# The test suite's mark on what it starts (aicc/testing/leftovers.py), absent outside it: a
# sandbox's PID-namespace init whose outer process was killed outlives the supervisor, and only
# its environment then says which run left it.
TEST_MARKER = "AICC_TEST_SESSION"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# What an engine (Slurm's GRES, Ray's GPUs) sets for the devices it gave the replica.
DEVICE_VARIABLES = frozenset(
    {catalog.visible_devices_env(v) for v in catalog.Vendor}
    | {"GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES"}
)


def base_env(passed_through: tuple[str, ...] = PASSED_THROUGH) -> dict[str, str]:
    """A clean environment whose `python` is the server's own (with its packages)."""
    env = {k: os.environ[k] for k in (*passed_through, TEST_MARKER) if k in os.environ}
    # normalised: a server started as `../x/.venv/bin/python` must not hand a sandboxed replica
    # a PATH through directories its sandbox does not show
    bin_dir = os.path.normpath(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "/usr/bin:/bin")])
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONUNBUFFERED"] = "1"
    if root := source_root():
        env["PYTHONPATH"] = root  # `import aicc` (aicc.log_metrics) from a source checkout
    return env


def source_root() -> str | None:
    """The folder holding the server's `aicc` package when it runs from a source checkout (an
    editable install), outside the Python prefixes a replica sees; None when the package is
    installed among the runtime's own (site-packages), where `python` already finds it."""
    package = Path(__file__).resolve().parents[1]
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    if any(str(package).startswith(p + os.sep) for p in prefixes):
        return None
    return str(package.parent)


def device_env(
    picks: Sequence[Mapping[str, Any]], devices: Mapping[int, Device], mig_profile: str | None
) -> dict[str, str]:
    """The vendor's device variable for the devices bound to a replica (`picks`, as the replica
    records them): their node-local indices, except a MIG slice whose UUID is known (NVML's
    `MIG-<uuid>`), since the GPU's index would give the whole GPU. A simulated slice keeps the
    index (there is no GPU to cut). A slice also sets `AICC_MIG_PROFILE`."""
    if not picks:
        return {}
    first = devices.get(picks[0]["index"])
    try:
        variable = catalog.visible_devices_env(
            accelerator_names.lookup(first.model if first else "").vendor
        )
    except (KeyError, ValueError):
        variable = "CUDA_VISIBLE_DEVICES"
    visible = []
    for pick in picks:
        device = devices.get(pick["index"])
        instance = device.mig_instance(pick.get("mig_slice")) if device else None
        visible.append(instance.uuid if instance and instance.uuid else str(pick["index"]))
    env = {variable: ",".join(visible)}
    if mig_profile is not None:
        env["AICC_MIG_PROFILE"] = mig_profile
    return env


def engine_env(
    replica: ReplicaLaunch,
    passed_through: tuple[str, ...] = PASSED_THROUGH,
    *,
    engine_devices: bool = True,
) -> dict[str, str]:
    """The base and the replica's variables, less the device variables when the engine gives
    devices (`engine_devices`: AICC records which, never overrides them)."""
    env = base_env(passed_through)
    env.update(thread_env(replica.cpu_milli))
    for key, value in replica.env.items():
        if engine_devices and replica.device_indices and key in DEVICE_VARIABLES:
            continue
        env[key] = value
    return env


def mlflow_env(outputs: str, given: Mapping[str, str]) -> dict[str, str]:
    """Where the stock `mlflow` client logs inside a job: its own file store in the job's
    outputs (`mlruns`), since a job has no route to the server (netns.py); the server reads its
    metrics as the job's curves and its runs once the job ended (services/models/tracking.py).
    No token: nothing there calls the server. A spec's own `MLFLOW_TRACKING_URI` (a tracking
    server the job's egress reaches) is left as it is."""
    if "MLFLOW_TRACKING_URI" in given:
        return {}
    return {
        "MLFLOW_TRACKING_URI": "file://" + outputs.rstrip("/") + "/mlruns",
        "MLFLOW_ALLOW_FILE_STORE": "true",  # MLflow 3 refuses a file store without it
    }


# The thread pools of numerical libraries (OpenMP: scikit-learn, PyTorch; BLAS) size themselves
# by the machine's cores, not the job's: on a shared node each replica's pool would spin on
# cores others hold (two 2-core jobs of scikit-learn on 2 cores ran 100x slower). A replica's
# pools get its whole CPUs, as Ray and Slurm's task environments do; the spec's env may say
# otherwise.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(cpu_milli: int) -> dict[str, str]:
    """The thread-pool sizes for a replica of `cpu_milli` (at least one thread)."""
    threads = str(max(1, cpu_milli // 1000))
    return dict.fromkeys(THREAD_VARIABLES, threads)


def write_private(path: Path, text: str, mode: int) -> None:
    """Write a file readable only by its owner (atomically: a reader sees all or nothing)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


def write_env(run_dir: Path, env: dict[str, str]) -> Path:
    """`run_dir/env.sh`: `export NAME='value'` lines, mode 0600. Names that are not shell
    identifiers are refused (ValueError)."""
    bad = sorted(name for name in env if not _NAME.match(name))
    if bad:
        raise ValueError(f"environment variable names not usable in a shell: {bad}")
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path = run_dir / ENV_FILE
    write_private(path, "\n".join(lines) + "\n", 0o600)
    return path
