"""One option = one accelerator model × a device count: does it fit, and how long does it run.

Memory: the workload's bytes are split evenly across the option's devices (fully sharded
training such as ZeRO-3/FSDP; tensor-parallel inference) and must fit in a usable share of each
device's memory (90% by default: the rest goes to the runtime, allocator slack and, with
activation checkpointing and small micro-batches, activations).

Counts: the smallest count that fits, rounded up to a power of two within a node and to whole
nodes beyond, then ×2, ×4 and ×8 of it, up to `max_count`; or exactly the count asked for.

Time: FLOPs / (count × peak × MFU × scaling). For LLM inference, prefill is compute-bound and
each decoding step takes the longer of its compute time and the time to stream the weights plus
the live sequences' KV cache through memory at MBU × datasheet bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aicc.core import accelerator_names
from aicc.core.catalog import AcceleratorModel
from aicc.estimate import efficiency
from aicc.estimate.assumptions import Assumption
from aicc.estimate.workload import Workload

GIB = 1024.0**3
Share = Annotated[float, Field(gt=0, le=1)]
Bound = Literal["compute", "memory-bandwidth"]


class Overrides(BaseModel):
    """Replacements for the estimator's defaults; each one used is reported as 'given'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mfu: Share | None = Field(default=None, description="MFU for every accelerator")
    mfu_by_accelerator: dict[str, Share] = Field(default_factory=dict)
    mbu: Share | None = Field(default=None, description="share of memory bandwidth sustained")
    scaling_alpha: Annotated[float | None, Field(ge=0, le=1)] = None
    scaling: Share | None = Field(default=None, description="a fixed multi-device factor")
    usable_memory_fraction: Share = 0.9
    devices_per_node: Annotated[int, Field(ge=1, le=64)] = 8
    max_count: Annotated[int, Field(ge=1, le=1_000_000)] = 16_384

    @field_validator("mfu_by_accelerator")
    @classmethod
    def _catalog_names(cls, value: dict[str, float]) -> dict[str, float]:
        try:
            return {accelerator_names.lookup(name).name: mfu for name, mfu in value.items()}
        except KeyError as err:
            raise ValueError(err.args[0]) from None


@dataclass(frozen=True, slots=True)
class Efficiency:
    """The figures one accelerator runs a workload at, each with its source."""

    mfu: float
    mbu: float
    group: int
    alpha: float
    fixed_scaling: float | None
    assumptions: tuple[Assumption, ...]

    def scaling(self, count: int) -> float:
        if self.fixed_scaling is not None:
            return self.fixed_scaling if count > 1 else 1.0
        return efficiency.scaling_factor(count, group=self.group, alpha=self.alpha)


def efficiency_for(workload: Workload, model: AcceleratorModel, overrides: Overrides) -> Efficiency:
    default = efficiency.mfu_figure(workload.workload_class, model)
    given = overrides.mfu_by_accelerator.get(model.name, overrides.mfu)
    mfu = Assumption(
        name=f"mfu[{model.name}]",
        value=given if given is not None else default.value,
        source="given" if given is not None else default.source,
        estimate=given is None and default.estimate,
    )
    group = efficiency.fast_link_group(model)
    found = [
        mfu,
        Assumption(
            name=f"fast_link_group[{model.name}]",
            value=group,
            source=f"catalog interconnect: {model.interconnect}",
        ),
    ]
    mbu_value = 0.0
    if workload.decoding is not None:
        mbu_default = efficiency.mbu_figure(model)
        mbu_value = overrides.mbu if overrides.mbu is not None else mbu_default.value
        found.append(
            Assumption(
                name=f"mbu[{model.name}]",
                value=mbu_value,
                source="given" if overrides.mbu is not None else mbu_default.source,
                estimate=overrides.mbu is None,
            )
        )
    alpha = (
        overrides.scaling_alpha
        if overrides.scaling_alpha is not None
        else efficiency.SCALING_ALPHA.value
    )
    return Efficiency(
        mfu=float(mfu.value),
        mbu=mbu_value,
        group=group,
        alpha=alpha,
        fixed_scaling=overrides.scaling,
        assumptions=tuple(found),
    )


def scaling_assumption(overrides: Overrides) -> Assumption:
    if overrides.scaling is not None:
        return Assumption(name="scaling", value=overrides.scaling, source="given")
    if overrides.scaling_alpha is not None:
        return Assumption(name="scaling_alpha", value=overrides.scaling_alpha, source="given")
    alpha = efficiency.SCALING_ALPHA
    return Assumption(
        name="scaling_alpha", value=alpha.value, source=alpha.source, estimate=alpha.estimate
    )


def usable_bytes(model: AcceleratorModel, overrides: Overrides) -> float:
    return model.memory_gib * GIB * overrides.usable_memory_fraction


def min_devices(workload: Workload, model: AcceleratorModel, overrides: Overrides) -> int:
    """Fewest devices whose usable memory, together, holds the workload's bytes."""
    return max(1, math.ceil(workload.memory_bytes / usable_bytes(model, overrides)))


def round_count(devices: int, *, node: int) -> int:
    """Up to a power of two within one node, to whole nodes beyond it."""
    if devices <= node:
        return 1 << (devices - 1).bit_length()
    return math.ceil(devices / node) * node


@dataclass(frozen=True, slots=True)
class Misfit:
    """Why no count of this model is offered."""

    reason: Literal["memory"]
    message: str


def counts_for(
    workload: Workload, model: AcceleratorModel, overrides: Overrides, *, requested: int | None
) -> list[int] | Misfit:
    """The counts to offer for `model`, or why there are none."""
    need = min_devices(workload, model, overrides)
    total = workload.memory_bytes / GIB
    usable = usable_bytes(model, overrides) / GIB
    if requested is not None:
        if requested < need:
            return Misfit(
                "memory",
                f"{total:.1f} GiB does not fit on {requested} × {model.name} "
                f"({usable:.1f} GiB usable each); needs at least {need}",
            )
        return [requested]
    first = round_count(need, node=overrides.devices_per_node)
    if first > overrides.max_count:
        return Misfit(
            "memory",
            f"{total:.1f} GiB needs {need} × {model.name} ({usable:.1f} GiB usable each), "
            f"more than the {overrides.max_count} devices an option may use",
        )
    return [n for n in (first, 2 * first, 4 * first, 8 * first) if n <= overrides.max_count]


@dataclass(frozen=True, slots=True)
class Timing:
    hours: float
    efficiency: float  # MFU × scaling actually applied
    bound: Bound


def run_time(workload: Workload, model: AcceleratorModel, count: int, eff: Efficiency) -> Timing:
    """Hours `workload` runs on `count` × `model` (module docstring: the model of time)."""
    scale = eff.scaling(count)
    flops_per_s = count * model.fp16_tflops * 1e12 * eff.mfu * scale
    decoding = workload.decoding
    if decoding is None:
        return Timing(workload.flops / flops_per_s / 3600.0, eff.mfu * scale, "compute")
    bytes_per_s = count * model.memory_bandwidth_gbs * 1e9 * eff.mbu * scale
    prefill_s = decoding.prefill_flops / flops_per_s
    compute_s = decoding.decode_flops / flops_per_s
    stream_s = decoding.steps * decoding.step_bytes / bytes_per_s
    bound: Bound = "memory-bandwidth" if stream_s > compute_s else "compute"
    return Timing((prefill_s + max(compute_s, stream_s)) / 3600.0, eff.mfu * scale, bound)
