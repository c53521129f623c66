"""The estimator's entry points: a scenario in, a ranked table of priced options out.

`estimate()` is pure: the catalog models, the tenant's price plan, its subsidies and vouchers, and
the expected wait of each option (from the same what-if run `aicc job explain` uses, which does
I/O) are all passed in. A caller that wants waits first asks `candidates()` which options exist,
runs the what-if for those, then calls `estimate()` with the answers. The result is a pydantic
model: `.model_dump(mode="json")` is the API body (money as decimal strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from aicc.core import accelerator_names, catalog, pricing
from aicc.core.catalog import AcceleratorModel
from aicc.core.pricing import PricePlan, Subsidy, Voucher
from aicc.estimate.assumptions import Assumption
from aicc.estimate.options import (
    GIB,
    Bound,
    Efficiency,
    Overrides,
    counts_for,
    efficiency_for,
    run_time,
    scaling_assumption,
)
from aicc.estimate.scenarios import Scenario, parse_scenario
from aicc.estimate.workload import Workload

SortKey = Literal["time", "cost"]
LeftOutReason = Literal["memory", "not_offered"]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Option(_Result):
    """One row of the table: `count` × `accelerator`, how long, and what it costs. Where the
    plan names no price for the model, the money is null and `price_note` says why: the time is
    still worth knowing (a fresh install has no price plan yet)."""

    accelerator: str
    count: int
    hours: float
    accelerator_hours: float
    pflops_hours: float
    wait_hours: float | None
    currency: str
    efficiency: float  # MFU × multi-device scaling applied to this option
    bound: Bound
    gross: Decimal | None = None
    discount: Decimal | None = None  # the plan's discount, taken before subsidies and vouchers
    subsidy: Decimal | None = None
    voucher: Decimal | None = None
    net: Decimal | None = None
    price_note: str | None = None


class LeftOut(_Result):
    accelerator: str
    count: int | None
    reason: LeftOutReason
    message: str


class Estimate(_Result):
    scenario: str
    flops: float
    memory_gib: float
    sort: SortKey
    currency: str
    options: tuple[Option, ...]
    left_out: tuple[LeftOut, ...]
    assumptions: tuple[Assumption, ...]


class Candidate(_Result):
    accelerator: str
    count: int


def _sig(value: float) -> float:
    return float(f"{value:.6g}")


def _select(
    models: Iterable[AcceleratorModel] | None, accelerators: Sequence[str] | None
) -> tuple[list[AcceleratorModel], list[LeftOut]]:
    offered = list(catalog.CATALOG.values() if models is None else models)
    if not accelerators:
        return offered, []
    wanted: list[str] = []
    for name in accelerators:
        try:
            key = accelerator_names.lookup(name).name
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        if key not in wanted:
            wanted.append(key)
    by_name = {model.name: model for model in offered}
    missing = [
        LeftOut(
            accelerator=key,
            count=None,
            reason="not_offered",
            message=f"{key} is not among the accelerators offered",
        )
        for key in wanted
        if key not in by_name
    ]
    return [by_name[key] for key in wanted if key in by_name], missing


def _workload(scenario: Scenario | Mapping[str, Any]) -> Workload:
    parsed = parse_scenario(scenario) if isinstance(scenario, Mapping) else scenario
    return parsed.workload()


def candidates(
    scenario: Scenario | Mapping[str, Any],
    *,
    models: Iterable[AcceleratorModel] | None = None,
    accelerators: Sequence[str] | None = None,
    count: int | None = None,
    overrides: Overrides | None = None,
) -> list[Candidate]:
    """The (accelerator, count) options `estimate()` would price, for the caller's what-if run."""
    workload = _workload(scenario)
    overrides = overrides or Overrides()
    chosen, _ = _select(models, accelerators)
    found: list[Candidate] = []
    for model in chosen:
        counts = counts_for(workload, model, overrides, requested=count)
        if isinstance(counts, list):
            found += [Candidate(accelerator=model.name, count=n) for n in counts]
    return found


def estimate(
    scenario: Scenario | Mapping[str, Any],
    *,
    plan: PricePlan,
    models: Iterable[AcceleratorModel] | None = None,
    subsidies: Sequence[Subsidy] = (),
    vouchers: Sequence[Voucher] = (),
    on: date | None = None,
    wait_hours: Mapping[tuple[str, int], float] | None = None,
    accelerators: Sequence[str] | None = None,
    count: int | None = None,
    sort: SortKey = "time",
    overrides: Overrides | None = None,
) -> Estimate:
    """Price `scenario` on every offered accelerator model (default: the whole catalog).

    `accelerators` (names or aliases) and `count` narrow the options; `wait_hours` maps
    (catalog name, count) to the expected wait (missing: unknown, shown as null and counted as
    zero when sorting); `on` is the day used to check voucher validity (None: not checked).
    `sort="time"` ranks by wait + run hours, then net price; `sort="cost"` by net price, then
    time. Raises pydantic's ValidationError for a bad scenario and ValueError for an unknown
    accelerator name or a credit in another currency than the plan.
    """
    if count is not None and count < 1:
        raise ValueError("count must be at least 1")
    workload = _workload(scenario)
    overrides = overrides or Overrides()
    waits = wait_hours or {}
    chosen, left_out = _select(models, accelerators)
    options: list[Option] = []
    assumptions = list(workload.assumptions)
    for model in chosen:
        eff = efficiency_for(workload, model, overrides)
        assumptions += eff.assumptions
        counts = counts_for(workload, model, overrides, requested=count)
        if not isinstance(counts, list):
            left_out.append(
                LeftOut(
                    accelerator=model.name, count=count, reason="memory", message=counts.message
                )
            )
            continue
        for n in counts:
            options.append(_option(workload, model, n, eff, plan, subsidies, vouchers, on, waits))
    options.sort(key=_time_key if sort == "time" else _cost_key)
    assumptions += [
        scaling_assumption(overrides),
        Assumption(
            name="usable_memory_fraction",
            value=overrides.usable_memory_fraction,
            source="given" if "usable_memory_fraction" in overrides.model_fields_set else _USABLE,
            estimate="usable_memory_fraction" not in overrides.model_fields_set,
        ),
        Assumption(name="price_plan", value=plan.name, source=_PRICE_RULE),
        Assumption(
            name="credit_order",
            value="gross → plan discount → subsidy → voucher → net",
            source=_ORDER,
        ),
    ]
    return Estimate(
        scenario=workload.scenario,
        flops=workload.flops,
        memory_gib=_sig(workload.memory_bytes / GIB),
        sort=sort,
        currency=plan.currency,
        options=tuple(options),
        left_out=tuple(left_out),
        assumptions=tuple(assumptions),
    )


_USABLE = (
    "estimate: 10% of device memory left to the runtime, allocator slack and activations "
    "(activation checkpointing, small micro-batches)"
)
_PRICE_RULE = (
    "per device-hour where the plan names the model, else per PFLOPS-hour (dense FP16/BF16 "
    "peak × devices × hours); rounded half-up to 0.01 (docs/contracts.md §1)"
)
_ORDER = (
    "the discount is part of the price; subsidies are a rate of the discounted amount; vouchers "
    "pay what remains (aicc/core/pricing.py)"
)


def _option(
    workload: Workload,
    model: AcceleratorModel,
    count: int,
    eff: Efficiency,
    plan: PricePlan,
    subsidies: Sequence[Subsidy],
    vouchers: Sequence[Voucher],
    on: date | None,
    waits: Mapping[tuple[str, int], float],
) -> Option:
    timing = run_time(workload, model, count, eff)
    device_hours = timing.hours * count
    pflops_hours = model.pflops * device_hours
    gross = pricing.charge(
        plan, accelerator=model.name, accelerator_hours=device_hours, pflops_hours=pflops_hours
    )
    option = Option(
        accelerator=model.name,
        count=count,
        hours=timing.hours,
        accelerator_hours=device_hours,
        pflops_hours=pflops_hours,
        wait_hours=waits.get((model.name, count)),
        currency=plan.currency,
        efficiency=timing.efficiency,
        bound=timing.bound,
    )
    if gross is None:
        return option.model_copy(update={"price_note": no_price(plan, model.name)})
    bill = pricing.settle(
        gross,
        accelerator=model.name,
        currency=plan.currency,
        discount=plan.discount,
        subsidies=subsidies,
        vouchers=vouchers,
        on=on,
    )
    return option.model_copy(update=priced(bill))


def priced(bill: pricing.Settlement) -> dict[str, object]:
    """An option's money from its bill (an update for `model_copy`)."""
    return {key: getattr(bill, key) for key in ("gross", "discount", "subsidy", "voucher", "net")}


def no_price(plan: PricePlan, accelerator: str | None) -> str:
    """What an option without a price says in its price column (`accelerator` None: a run on
    CPU only, of a plan with no core-hour price)."""
    missing = (
        "no price per core-hour"
        if accelerator is None
        else f"no price for {accelerator} and no per-PFLOPS-hour price"
    )
    return (
        f"price plan {plan.name!r} has {missing}: "
        "an operator sets one with `aicc admin price-plan set` or `pricing:` in config.yaml"
    )


def cost(net: Decimal | None) -> tuple[bool, Decimal]:
    """A sort key for a price that may be missing: the unpriced after every priced one."""
    return (net is None, net if net is not None else Decimal(0))


def _time_key(option: Option) -> tuple[float, tuple[bool, Decimal], str, int]:
    hours = (option.wait_hours or 0.0) + option.hours
    return (hours, cost(option.net), option.accelerator, option.count)


def _cost_key(option: Option) -> tuple[tuple[bool, Decimal], float, str, int]:
    hours = (option.wait_hours or 0.0) + option.hours
    return (cost(option.net), hours, option.accelerator, option.count)
