"""A share of a GPU held to its memory by CUDA MPS (the Multi-Process Service), on the local
executor.

Measured on an H100 (BENCHMARKS.md, "The truth on a real accelerator"): without it, two jobs of
half a GPU each both see the whole device; the first took 47.5 of its 79.2 GiB and the second
found 29.4 free. Under an MPS control daemon a client's `CUDA_MPS_PINNED_DEVICE_MEM_LIMIT` caps
what it can allocate. So a sandboxed replica that holds a share (0 < milli < 1000, not a MIG
slice) of a real NVIDIA GPU starts its own control daemon inside its sandbox (its private /tmp
holds the pipes, so no other tenant's replica reaches them, and the daemon ends with the
sandbox's PID namespace) and runs with its share of the device's memory as that cap: through
AICC each of two half shares then took 45% of the device and was refused 60%.

Compute is not capped: the two daemons' clients take turns on the GPU as plain processes do,
and each got 351-355 bf16 TFLOP/s beside the other (334 without MPS). A thread percentage
(`CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50`) on top of the turns cut that to 226-227.

What it is not: isolation. A job that unsets the variables before CUDA starts runs uncapped, as
a job can drop HAMi-core's LD_PRELOAD; MIG slices are the isolated form. It holds to their
share the jobs that merely take what they find (TensorFlow takes the whole device by default,
PyTorch's cache keeps what it once held).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence

CONTROL = "nvidia-cuda-mps-control"
PIPES = "/tmp/.aicc-mps"  # inside the replica's sandbox: its private /tmp


def control() -> str | None:
    """The MPS control daemon's program on this machine, where the driver ships one."""
    for place in (shutil.which(CONTROL), f"/usr/local/nvidia/bin/{CONTROL}", f"/usr/bin/{CONTROL}"):
        if place and os.access(place, os.X_OK):
            return place
    return None


def share_env(
    devices: Sequence[Mapping[str, int | None]], memory_mib: Mapping[int, int]
) -> dict[str, str]:
    """The MPS client's limits for a replica's bound devices (`{"index", "milli",
    "memory_mib"}`, in CUDA_VISIBLE_DEVICES order), or {} when it holds no share of a real GPU.
    A share's memory is what the job asked for, else its fraction of the device's."""
    limits = []
    for ordinal, device in enumerate(devices):
        milli, index = int(device.get("milli") or 1000), int(device.get("index") or 0)
        if milli >= 1000 or device.get("mig_slice") is not None or index not in memory_mib:
            continue
        mib = device.get("memory_mib") or memory_mib[index] * milli // 1000
        limits.append(f"{ordinal}={mib}M")
    if not limits:
        return {}
    return {
        "CUDA_MPS_PIPE_DIRECTORY": PIPES,
        "CUDA_MPS_LOG_DIRECTORY": PIPES,
        "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": ",".join(limits),
    }


def launcher(program: str) -> list[str]:
    """What goes before the replica's argv inside its sandbox: its own control daemon, then
    the command in its place (a daemon that will not start leaves the job uncapped, and says so
    on its stderr)."""
    script = (
        'mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" && "$0" -d || '
        'echo "AICC: the MPS daemon did not start; this share of a GPU is not capped" >&2; '
        'exec "$@"'
    )
    return ["/bin/sh", "-c", script, program]
