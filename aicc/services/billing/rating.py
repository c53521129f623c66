"""Rating: usage records priced under the plan in force, as exact decimal quantities.

A usage record holds integers (device shares in milli, CPU in milli-cores, memory in MiB, bytes,
microseconds), so each quantity below is an exact fraction; an invoice's line item (one item at
one price in a month) multiplies the exact sum of its records' quantities by the unit price and
rounds once, half-up to 0.01 (docs/contracts.md §1), with no rounding before that (`allocate`).

| item | unit | quantity of one record |
|---|---|---|
| `accelerator:MODEL` | `accelerator_hour` (the plan names the model) | milli / 1000 × hours |
| `accelerator:MODEL` | `pflops_hour` (otherwise) | pflops(model) × milli / 1000 × hours |
| `cpu` | `cpu_core_hour` | cpu_milli / 1000 × hours |
| `memory` | `memory_gib_hour` | memory_mib / 1024 × hours |
| `storage` (workdirs) | `storage_gib_day` | bytes / 2³⁰ × days |
| `datasets` (data set chunks) | `storage_gib_day` | bytes / 2³⁰ × days |
| `images` (the registry's blobs a project's images use) | `storage_gib_day` | bytes / 2³⁰ × days |
| `requests` (the gateway's) | `request` | answered requests |
| `tokens:input` | `input_mtok` | prompt tokens / 10⁶ |
| `tokens:output` | `output_mtok` | completion tokens / 10⁶ |
| `batch:ITEM` (the three above) | as above, less the plan's `batch_discount` | a batch's |

An item the plan does not price yields nothing to bill (and is reported as unpriced).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from aicc.core import accelerator_names
from aicc.core.pricing import PricePlan
from aicc.store.tables.billing import UsageRow

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 86_400_000_000
GIB = 1024**3
CENTS = Decimal("0.01")
DATASETS = "datasets"  # `replica_id` of a project's data set storage records, and their item
IMAGES = "images"  # the same for its images in the center registry
BATCH = "batch"  # `replica_id` of the gateway's records of batch requests (gateway/batches.py)
# `replica_id` of a record of a job of this site's tenant that ran at a peer: "site:<peer>"
# (services/federation/books.py writes them)
ELSEWHERE = "site:"


@dataclass(frozen=True)
class Rated:
    """One billable quantity of one record: what, in which unit, how much, at what price."""

    item: str
    unit: str
    quantity: Fraction
    unit_price: Decimal | None  # None: the plan does not price it
    accelerator: str | None  # the model, for credits limited to models


def pflops(model: str) -> Fraction:
    """The catalog's figure as written (its shortest decimal form), exactly."""
    try:
        return Fraction(Decimal(repr(accelerator_names.lookup(model).pflops)))
    except KeyError:
        return Fraction(0)


def device_hours(record: UsageRow) -> Fraction:
    return held_hours(record.milli, record.duration_us)


def held_hours(milli: int, duration_us: int) -> Fraction:
    """Device-hours of `milli` thousandths of a device held for `duration_us`."""
    return Fraction(milli * duration_us, 1000 * US_PER_HOUR)


def allocate(quantities: list[Fraction], unit_price: Decimal) -> list[Decimal]:
    """The amounts of several lines of one item and price that together are rounded once: the
    exact sum × price rounded half-up to 0.01, its cents given to the lines by largest remainder.
    So a month of tiny uses costs what it used (a thousand 0.004 jobs are 4.00, not 1,000 ×
    0.00), and each job still shows its share, the shares adding up to the total."""
    price = Fraction(unit_price)
    exact = [quantity * price * 100 for quantity in quantities]
    total = (sum(exact, Fraction(0)) + Fraction(1, 2)).__floor__()
    cents = [share.__floor__() for share in exact]
    left = total - sum(cents)  # 0 <= left <= len(quantities)
    largest = sorted(range(len(exact)), key=lambda i: (cents[i] - exact[i], i))
    for i in largest[:left]:
        cents[i] += 1
    return [(Decimal(c) * CENTS).quantize(CENTS) for c in cents]


def as_decimal(quantity: Fraction, places: int = 12) -> Decimal:
    """For people: the quantity to `places` decimals (the line's amount uses the exact value)."""
    scaled = (quantity * 10**places + Fraction(1, 2)).__floor__()
    return Decimal(scaled).scaleb(-places)


def rate(record: UsageRow, plan: PricePlan) -> list[Rated]:
    """The billable quantities of one usage record under `plan`."""
    hours = Fraction(record.duration_us, US_PER_HOUR)
    out: list[Rated] = []
    if record.kind == "requests":
        mtok = 1_000_000
        batch = record.replica_id == BATCH
        tag = "batch:" if batch else ""

        def cut(full: Decimal | None) -> Decimal | None:
            return full if full is None or not batch else full * (1 - plan.batch_discount)

        requests = Fraction(record.requests)
        out.append(Rated(f"{tag}requests", "request", requests, cut(plan.request), None))
        if record.prompt_tokens:
            quantity = Fraction(record.prompt_tokens, mtok)
            unit = cut(plan.input_mtok)
            out.append(Rated(f"{tag}tokens:input", "input_mtok", quantity, unit, None))
        if record.completion_tokens:
            quantity = Fraction(record.completion_tokens, mtok)
            unit = cut(plan.output_mtok)
            out.append(Rated(f"{tag}tokens:output", "output_mtok", quantity, unit, None))
        return out
    if record.kind == "storage":
        days = Fraction(record.duration_us, US_PER_DAY)
        quantity = Fraction(record.storage_bytes, GIB) * days
        item = record.replica_id if record.replica_id in (DATASETS, IMAGES) else "storage"
        out.append(Rated(item, "storage_gib_day", quantity, plan.storage_gib_day, None))
        return out
    if record.accelerator and record.milli:
        model = record.accelerator
        price = plan.unit_price(model)
        item = f"accelerator:{model}"
        if price is None:
            out.append(Rated(item, "accelerator_hour", device_hours(record), None, model))
        elif price[0] == "accelerator_hour":
            out.append(Rated(item, "accelerator_hour", device_hours(record), price[1], model))
        else:
            quantity = pflops(model) * device_hours(record)
            out.append(Rated(item, "pflops_hour", quantity, price[1], model))
    if record.cpu_milli:
        quantity = Fraction(record.cpu_milli, 1000) * hours
        out.append(Rated("cpu", "cpu_core_hour", quantity, plan.cpu_core_hour, None))
    if record.memory_mib:
        quantity = Fraction(record.memory_mib, 1024) * hours
        out.append(Rated("memory", "memory_gib_hour", quantity, plan.memory_gib_hour, None))
    return out


def cost(record: UsageRow, plan: PricePlan) -> Decimal:
    """What the record costs after the plan's discount, unrounded (budgets sum these)."""
    total = sum(
        (
            r.quantity * Fraction(r.unit_price)
            for r in rate(record, plan)
            if r.unit_price is not None
        ),
        Fraction(0),
    )
    exact = total * (1 - Fraction(plan.discount))
    return Decimal(exact.numerator) / Decimal(exact.denominator)


def hourly_rate(
    plan: PricePlan, *, model: str | None, milli: int, cpu_milli: int, memory_mib: int
) -> Decimal | None:
    """What one hour of this much costs after the discount; None when the plan does not price
    the accelerator model (a job there cannot be checked against a budget)."""
    total = Decimal(0)
    if model and milli:
        price = plan.unit_price(model)
        if price is None:
            return None
        if price[0] == "accelerator_hour":
            per_device = price[1]
        else:
            peak = pflops(model)
            per_device = price[1] * Decimal(peak.numerator) / Decimal(peak.denominator)
        total += per_device * Decimal(milli) / 1000
    if cpu_milli and plan.cpu_core_hour is not None:
        total += plan.cpu_core_hour * Decimal(cpu_milli) / 1000
    if memory_mib and plan.memory_gib_hour is not None:
        total += plan.memory_gib_hour * Decimal(memory_mib) / 1024
    return total * (1 - plan.discount)
