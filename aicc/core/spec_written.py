"""A stored job spec back in the words a person writes (`cpu: 2`, `memory: 4GiB`,
`max_runtime: 10m`): the text a clone or `aicc job spec` starts from."""

from __future__ import annotations

from typing import Any

from aicc.core.jobspec import JobSpec


def as_written(spec: JobSpec) -> dict[str, Any]:
    """The spec as a person writes it (`cpu: 2`, `memory: 4GiB`, `max_runtime: 10m`, `model:`),
    what is left at its default left out: the text a clone starts from (the portal's editor,
    `aicc job spec`). Validated again, it is the same spec."""
    data: dict[str, Any] = spec.model_dump(mode="json", exclude_defaults=True)
    if data.get("max_runtime_s") is not None:
        data["max_runtime"] = _duration(data.pop("max_runtime_s"))
    resources = data.get("resources")
    if isinstance(resources, dict):
        if "cpu_milli" in resources:
            milli = resources.pop("cpu_milli")
            resources["cpu"] = milli // 1000 if milli % 1000 == 0 else f"{milli}m"
        if "memory_mib" in resources:
            mib = resources.pop("memory_mib")
            resources["memory"] = f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"
        accelerator = resources.get("accelerator")
        if isinstance(accelerator, dict) and len(accelerator.get("models") or []) == 1:
            accelerator["model"] = accelerator.pop("models")[0]
    return data


def _duration(seconds: int) -> str:
    """7260 -> '2h1m', 90 -> '1m30s': what the spec's duration parser reads back exactly."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = (f"{hours}h" * bool(hours), f"{minutes}m" * bool(minutes), f"{secs}s" * bool(secs))
    return "".join(parts) or "0s"
