"""The MIG slices of an NVIDIA GPU, read through NVML at discovery.

A GPU in MIG mode is handed out slice by slice (`Device.mig`); each slice has its own UUID, which
`CUDA_VISIBLE_DEVICES` takes. Reading is best effort: a GPU without MIG support, with MIG off, or
an older driver gives no slices, and the GPU is then used whole, as before. `nvml` is the
`pynvml` module (a parameter so tests pass a fake).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aicc.core.topology import MigInstance
from aicc.executors.local.nvml import text

_PROFILE = re.compile(r"\b([1-9]g\.[1-9][0-9]*gb)\b", re.IGNORECASE)


def mig_instances(nvml: Any, handle: Any, offered: Sequence[str]) -> tuple[MigInstance, ...]:
    """The GPU instances now made on the GPU behind `handle`; () when MIG is off or unknown.
    `offered`: the catalog profiles of the GPU's model, to name a slice NVML does not name."""
    try:
        current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        if current != nvml.NVML_DEVICE_MIG_ENABLE:
            return ()
        positions = nvml.nvmlDeviceGetMaxMigDeviceCount(handle)
    except nvml.NVMLError:  # not supported by this GPU or driver
        return ()
    found = []
    for index in range(positions):
        try:
            mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, index)
            profile = profile_name(
                text(nvml.nvmlDeviceGetName(mig)),
                nvml.nvmlDeviceGetAttributes(mig).gpuInstanceSliceCount,
                int(nvml.nvmlDeviceGetMemoryInfo(mig).total) // (1024 * 1024),
                offered,
            )
            uuid = text(nvml.nvmlDeviceGetUUID(mig))
        except nvml.NVMLError:  # no instance at this position
            continue
        found.append(MigInstance(index, profile, uuid))
    return tuple(found)


def profile_name(name: str, slices: int, memory_mib: int, offered: Sequence[str]) -> str:
    """A slice's profile: as NVML names the MIG device ("NVIDIA A100-SXM4-80GB MIG 1g.10gb"),
    else the model's profile with that many compute slices and the nearest memory (a slice's
    usable memory is a little under its nominal size), else one made from those figures."""
    named = _PROFILE.search(name)
    if named:
        return named.group(1).lower()
    same = [p for p in offered if p.startswith(f"{slices}g.")]
    if same:
        return min(same, key=lambda p: abs(int(p.split("g.")[1][:-2]) * 1024 - memory_mib))
    return f"{slices}g.{round(memory_mib / 1024)}gb"
