"""Time and price of a template run, per accelerator option (CPU only, and each accelerator
model the center has, when the template can use one). Pure: no I/O, no clock.

Unlike the scenarios (FLOPs from a model's size), a template's cost is read off its own
measured run: `resources.example_seconds`, the wall time of `train.py` on its example data
(`resources.example_rows` rows or images) with its default hyperparameters on `resources.cpu`
cores, of which `example_start_seconds` passed before training started (Python, imports).
docs/estimate.md#template-runs gives the model and its measured error:

    work       = (rows / example_rows) × (epochs / default epochs)
    CPU s      = start + (example_seconds − start) × work
    speed-up   = 1 / ((1 − p) + p / r),  r = count × peak × vision MFU / (cpu × CPU_GFLOPS)
    accelerator s = start + GPU_START_S + (example_seconds − start) × work / speed-up

A search runs its trials side by side (one gang job), so its time is one trial's and its
price that of every trial's resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from aicc.core import pricing
from aicc.core.catalog import AcceleratorModel
from aicc.core.pricing import PricePlan, Subsidy, Voucher
from aicc.core.templates import Manifest, TemplateError
from aicc.core.units import parse_memory_mib
from aicc.estimate import efficiency
from aicc.estimate.assumptions import Assumption
from aicc.estimate.estimate import cost, no_price, priced
from aicc.estimate.workload import WorkloadClass

CPU = "cpu"  # the option without an accelerator
CPU_GFLOPS_PER_CORE = 50.0
PARALLEL_SHARE = 0.9
GPU_START_S = 5.0
LeftOutReason = Literal["not_used"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class TemplateOption(_Result):
    """One row: each trial on `count` × `accelerator` (or CPU only), how long, what it costs."""

    accelerator: str  # a catalog model, or "cpu"
    count: int  # devices per trial (0 on CPU only)
    trials: int
    hours: float
    speedup: float  # over CPU only
    accelerator_hours: float  # all trials
    cpu_core_hours: float
    wait_hours: float | None
    currency: str
    gross: Decimal | None = None  # null, like the rest of the money, where the plan has no price
    discount: Decimal | None = None
    subsidy: Decimal | None = None
    voucher: Decimal | None = None
    net: Decimal | None = None
    price_note: str | None = None  # why there is no price


class TemplateLeftOut(_Result):
    accelerator: str
    reason: LeftOutReason
    message: str


class TemplateEstimate(_Result):
    template: str
    rows: int
    example_rows: int
    example_seconds: float
    work: float  # this run's work relative to the example run
    trials: int
    currency: str
    options: tuple[TemplateOption, ...]
    left_out: tuple[TemplateLeftOut, ...]
    assumptions: tuple[Assumption, ...]


def work_ratio(manifest: Manifest, rows: int, hp: Mapping[str, Any]) -> float:
    """How much more (or less) this run trains than the example run did."""
    example_rows = manifest.resources.example_rows or rows
    ratio = rows / example_rows
    epochs = manifest.hyperparameters.get("epochs")
    if epochs is not None and isinstance(hp.get("epochs"), int | float) and epochs.default:
        ratio *= float(hp["epochs"]) / float(epochs.default)
    return ratio


def speedup(model: AcceleratorModel, count: int, cpu: float) -> float:
    """Amdahl's law: the arithmetic share of the run goes `r` times faster on the devices."""
    mfu = efficiency.mfu_figure(WorkloadClass.VISION, model).value
    r = count * model.fp16_tflops * 1e3 * mfu / (cpu * CPU_GFLOPS_PER_CORE)
    return 1.0 / ((1 - PARALLEL_SHARE) + PARALLEL_SHARE / r)


def estimate_run(
    manifest: Manifest,
    *,
    rows: int,
    hp: Mapping[str, Any],
    plan: PricePlan,
    models: Sequence[AcceleratorModel] = (),
    gpus: int | None = None,
    cpu: float | None = None,
    trials: int = 1,
    subsidies: Sequence[Subsidy] = (),
    vouchers: Sequence[Voucher] = (),
    on: date | None = None,
    wait_hours: Mapping[tuple[str, int], float] | None = None,
) -> TemplateEstimate:
    """The options of a run of `manifest` on `rows` rows (or images) with hyperparameters `hp`
    (checked), each trial on `gpus` devices (default: the template's, at least 1) and `cpu`
    cores (default: the template's; the time is not rescaled for them), ranked by wait + run
    time. TemplateError naming the field when the template has no measured run."""
    res = manifest.resources
    if res.example_seconds is None or res.example_rows is None:
        raise TemplateError(
            f"resources.example_seconds: {manifest.name} has no measured example run, "
            "so its training time cannot be estimated"
        )
    work = work_ratio(manifest, rows, hp)
    start = min(res.example_start_seconds, res.example_seconds)
    scaled = (res.example_seconds - start) * work  # seconds of training proper, on CPU
    cpu_hours = (start + scaled) / 3600.0
    count = max(1, gpus if gpus is not None else res.gpus)
    cores = res.cpu if cpu is None else cpu
    pricer = _Pricer(
        plan=plan,
        models=models,
        cores=cores,
        trials=trials,
        memory_gib=parse_memory_mib(res.memory.replace(" ", "")) / 1024,
        waits=wait_hours or {},
        subsidies=subsidies,
        vouchers=vouchers,
        on=on,
    )
    options: list[TemplateOption] = []
    left_out: list[TemplateLeftOut] = []
    if res.gpus == 0:
        options.append(pricer.option(CPU, 0, cpu_hours, 1.0, 0.0))
    for model in models:
        if not res.scales_to_gpus and res.gpus == 0:
            left_out.append(
                TemplateLeftOut(
                    accelerator=model.name,
                    reason="not_used",
                    message=f"{manifest.name} ({manifest.framework}) runs on CPU only; "
                    "an accelerator would not make it faster",
                )
            )
        else:
            up = speedup(model, count, cores)
            hours = (start + GPU_START_S + scaled / up) / 3600.0
            device_hours = hours * count * trials
            options.append(pricer.option(model.name, count, hours, cpu_hours / hours, device_hours))
    options.sort(key=lambda o: ((o.wait_hours or 0.0) + o.hours, cost(o.net), o.accelerator))
    return TemplateEstimate(
        template=manifest.name,
        rows=rows,
        example_rows=res.example_rows,
        example_seconds=res.example_seconds,
        work=_sig(work),
        trials=trials,
        currency=plan.currency,
        options=tuple(options),
        left_out=tuple(left_out),
        assumptions=_assumptions(manifest),
    )


@dataclass(frozen=True)
class _Pricer:
    """What every option of one run shares: the plan and its reductions, the trials and their
    cores and memory, and the queue's expected waits by (accelerator, count)."""

    plan: PricePlan
    models: Sequence[AcceleratorModel]
    cores: float
    trials: int
    memory_gib: float
    waits: Mapping[tuple[str, int], float]
    subsidies: Sequence[Subsidy]
    vouchers: Sequence[Voucher]
    on: date | None

    def option(
        self, name: str, n: int, hours: float, up: float, device_hours: float
    ) -> TemplateOption:
        """The row of `n` × `name` (CPU only: `device_hours` 0); without a price for the
        accelerator, the row says why and has no money."""
        plan, trials = self.plan, self.trials
        core_hours = self.cores * hours * trials
        option = TemplateOption(
            accelerator=name,
            count=n,
            trials=trials,
            hours=_sig(hours),
            speedup=round(up, 2),
            accelerator_hours=_sig(device_hours),
            cpu_core_hours=_sig(core_hours),
            wait_hours=self.waits.get((name, n)),
            currency=plan.currency,
        )
        accelerator = name if device_hours else None
        gross = pricing.charge(
            plan,
            accelerator=accelerator,
            accelerator_hours=device_hours,
            pflops_hours=device_hours * _pflops(name, self.models) if accelerator else 0.0,
            cpu_core_hours=core_hours,
            memory_gib_hours=self.memory_gib * hours * trials,
        )
        if gross is None:
            return option.model_copy(update={"price_note": no_price(plan, accelerator)})
        bill = pricing.settle(
            gross,
            accelerator=name if device_hours else None,
            currency=plan.currency,
            discount=plan.discount,
            subsidies=self.subsidies,
            vouchers=self.vouchers,
            on=self.on,
        )
        return option.model_copy(update=priced(bill))


def _assumptions(manifest: Manifest) -> tuple[Assumption, ...]:
    res = manifest.resources
    return (
        Assumption(
            name="example_seconds",
            value=res.example_seconds or 0.0,
            unit="s",
            source=f"measured: train.py on the example data ({res.example_rows} rows or "
            f"images), default hyperparameters, {res.cpu:g} cores",
        ),
        Assumption(
            name="example_start_seconds",
            value=res.example_start_seconds,
            unit="s",
            source="measured: of the example run, before training started (Python, imports); "
            "not scaled",
        ),
        Assumption(
            name="time_scales_with",
            value="rows × epochs",
            source="estimate: the rest of the run linear in the rows (or images) and the "
            "epochs; measured error in docs/estimate.md#template-runs",
            estimate=True,
        ),
        Assumption(
            name="cpu_gflops_per_core",
            value=CPU_GFLOPS_PER_CORE,
            unit="GFLOP/s",
            source="estimate: FP32 FMA on AVX2 at about 3 GHz, half of a 96 GFLOP/s peak",
            estimate=True,
        ),
        Assumption(
            name="parallel_share",
            value=PARALLEL_SHARE,
            source="estimate: share of a template run in tensor arithmetic; the rest (reading "
            "data, Python, writing the model) is not faster on an accelerator",
            estimate=True,
        ),
        Assumption(
            name="gpu_start_s",
            value=GPU_START_S,
            unit="s",
            source="estimate: CUDA context creation and moving the model to the device",
            estimate=True,
        ),
    )


def _pflops(name: str, models: Sequence[AcceleratorModel]) -> float:
    return next(m.pflops for m in models if m.name == name)


def _sig(value: float) -> float:
    return float(f"{value:.6g}")
