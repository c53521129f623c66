"""Price plans, subsidies and vouchers as pure functions, shared by the estimator and billing.

Money is `Decimal`, in the plan's currency (CNY unless the plan says otherwise), rounded half-up
to 0.01 per line (docs/contracts.md §1); the API shows it as a decimal string.

A plan prices accelerators per device-hour by catalog model, and any model it does not name per
normalized PFLOPS-hour (dense FP16/BF16 peak × devices × hours), so a new chip is priced the day it
is registered. CPU core-hours, memory GiB-hours and storage GiB-days are priced separately for
billing.

Credits apply in one order: gross → plan discount → subsidy → voucher → net.
- A plan discount (a per-organization price agreement) is a rate off the gross: it is part of
  the price, so every credit after it applies to the discounted amount.
- A subsidy (政府算力券/补贴: "50% of the fee up to a yearly cap") is a rate on the fee the tenant
  is charged, so it is computed on the discounted amount: its value must not depend on how much
  prepaid balance a tenant holds. Several subsidies each take their rate of that amount, in the
  order given, until it is covered; each stops at what remains of its cap.
- A voucher is prepaid credit, spent like cash on what the tenant still owes after subsidies, so
  a tenant's balance is never spent on the part public money already pays. Vouchers that expire
  first are spent first (then in the order given); a voucher stops at its balance.
- Net = gross − discount − subsidy − voucher, never below zero; unused cap or balance stays
  where it was.
Each amount is rounded to 0.01 half-up on its own, so the lines of a bill add up exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aicc.core import accelerator_names

CENT = Decimal("0.01")
_WIDE = Context(prec=400)  # every finite float's cents: an estimate of a huge job still prices
ZERO = Decimal("0.00")

MAX_MONEY = Decimal(10**12)  # any one price, voucher, cap, budget or adjustment
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]
Rate = Annotated[Decimal, Field(ge=0, lt=1, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")]


def to_money(amount: Decimal) -> Decimal:
    """Round half-up to 0.01, the rule of every invoice line."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_WIDE)


def line_amount(quantity: float | Decimal, unit_price: Decimal) -> Decimal:
    """quantity × unit price, rounded as one line. Floats enter through their shortest repr so
    2.675 hours stays 2.675, not its binary neighbour."""
    exact = quantity if isinstance(quantity, Decimal) else Decimal(repr(float(quantity)))
    return to_money(exact * unit_price)


def _canonical(names: Iterable[str]) -> tuple[str, ...]:
    try:
        return tuple(accelerator_names.lookup(name).name for name in names)
    except KeyError as err:
        raise ValueError(err.args[0]) from None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PricePlan(_Frozen):
    """A tenant's price plan: per device-hour by model, else per PFLOPS-hour."""

    name: str = "default"
    currency: Currency = "CNY"
    accelerator_hour: dict[str, Money] = Field(
        default_factory=dict, description="price per device-hour, by catalog model"
    )
    pflops_hour: Money | None = Field(
        default=None, description="price per normalized PFLOPS-hour, for models not listed"
    )
    cpu_core_hour: Money | None = None
    memory_gib_hour: Money | None = None
    storage_gib_day: Money | None = None
    # the gateway's requests (docs/gateway.md): per million prompt and completion tokens, and
    # per answered request
    input_mtok: Money | None = None
    output_mtok: Money | None = None
    request: Money | None = None
    discount: Rate = Field(default=Decimal(0), description="share off the gross, e.g. 0.1")
    # a batch's requests (OpenAI's /v1/batches, sent off-peak): this share off the three prices
    # above, before `discount`
    batch_discount: Rate = Field(
        default=Decimal(0), description="share off a batch's request and token prices, e.g. 0.5"
    )
    # the service tier the organization's new API keys get (gateway/tiers.py; 1 served first),
    # and the best one its members may give a key; None: tier 2, tier 1 the center admins' only
    api_tier: int | None = Field(
        default=None, ge=1, le=3, description="service tier of new API keys: 1 (first) .. 3"
    )

    @field_validator("accelerator_hour")
    @classmethod
    def _catalog_names(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        canonical = _canonical(prices)
        if len(set(canonical)) != len(canonical):
            raise ValueError("two keys name the same accelerator model")
        return dict(zip(canonical, prices.values(), strict=True))

    def unit_price(
        self, accelerator: str
    ) -> tuple[Literal["accelerator_hour", "pflops_hour"], Decimal] | None:
        """How `accelerator` (a catalog name) is priced, or None if this plan does not price it."""
        if accelerator in self.accelerator_hour:
            return "accelerator_hour", self.accelerator_hour[accelerator]
        if self.pflops_hour is not None:
            return "pflops_hour", self.pflops_hour
        return None


def charge(
    plan: PricePlan,
    *,
    accelerator: str | None,
    accelerator_hours: float,
    pflops_hours: float,
    cpu_core_hours: float = 0.0,
    memory_gib_hours: float = 0.0,
) -> Decimal | None:
    """Gross price of a run before it happens: its accelerator time (`accelerator` a catalog
    name, or None on CPU only), its core-hours and its memory GiB-hours. None when the plan has
    no price for what the run is mostly made of: its accelerator model, or, on CPU only, a
    core-hour. Every estimate (a scenario's, a template run's) prices with this one function,
    so two wizards never tell the same person two prices (a CPU-only run of an unpriced plan is
    "no price", not 0.00)."""
    gross = ZERO
    if accelerator is not None:
        price = plan.unit_price(accelerator)
        if price is None:
            return None
        kind, unit = price
        gross += line_amount(
            accelerator_hours if kind == "accelerator_hour" else pflops_hours, unit
        )
    elif plan.cpu_core_hour is None:
        return None
    if cpu_core_hours and plan.cpu_core_hour is not None:
        gross += line_amount(cpu_core_hours, plan.cpu_core_hour)
    if memory_gib_hours and plan.memory_gib_hour is not None:
        gross += line_amount(memory_gib_hours, plan.memory_gib_hour)
    return gross


class _Credit(_Frozen):
    name: str
    accelerators: tuple[str, ...] = Field(default=(), description="models it covers; () = all")
    currency: Currency = "CNY"

    @field_validator("accelerators")
    @classmethod
    def _catalog_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return _canonical(names)


class Subsidy(_Credit):
    """A rate of the fee paid by someone else, up to what remains of its cap."""

    rate: Annotated[Decimal, Field(gt=0, le=1)]
    cap: Money | None = Field(default=None, description="what remains of the cap; None = no cap")

    def applies_to(self, accelerator: str | None) -> bool:
        return not self.accelerators or accelerator in self.accelerators


class Voucher(_Credit):
    """Prepaid credit with a balance, optionally limited to some models and a validity window."""

    balance: Money
    valid_from: date | None = None
    valid_until: date | None = None

    def applies(self, accelerator: str | None, on: date | None) -> bool:
        """Whether it may pay for `accelerator` on day `on` (None: dates are not checked)."""
        if self.accelerators and accelerator not in self.accelerators:
            return False
        if on is None:
            return True
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_until is None or on <= self.valid_until
        )


class Credit(_Frozen):
    kind: Literal["subsidy", "voucher"]
    name: str
    amount: Decimal


class Settlement(_Frozen):
    gross: Decimal
    discount: Decimal
    subsidy: Decimal
    voucher: Decimal
    net: Decimal
    currency: str
    credits: tuple[Credit, ...] = ()


def settle(
    gross: Decimal,
    *,
    accelerator: str | None,
    currency: str = "CNY",
    discount: Decimal = ZERO,
    subsidies: Sequence[Subsidy] = (),
    vouchers: Sequence[Voucher] = (),
    on: date | None = None,
) -> Settlement:
    """Apply the plan `discount` (a rate), then subsidies, then vouchers, to `gross` (the order
    and its reasons: module docstring).

    Raises ValueError when a credit is in another currency than the bill (converting money is
    not something an estimate should do silently), or for a discount outside [0, 1)."""
    gross = to_money(gross)
    if not ZERO <= discount < 1:
        raise ValueError(f"a plan discount is a rate in [0, 1), not {discount}")
    for credit in (*subsidies, *vouchers):
        if credit.currency != currency:
            raise ValueError(f"{credit.name!r} is in {credit.currency}, the bill in {currency}")
    off = to_money(gross * discount)
    charged = gross - off
    credits: list[Credit] = []
    subsidy_total = ZERO
    for subsidy in subsidies:
        if not subsidy.applies_to(accelerator):
            continue
        amount = to_money(charged * subsidy.rate)
        if subsidy.cap is not None:
            amount = min(amount, to_money(subsidy.cap))
        amount = min(amount, charged - subsidy_total)
        if amount > 0:
            credits.append(Credit(kind="subsidy", name=subsidy.name, amount=amount))
            subsidy_total += amount
    owed = charged - subsidy_total
    voucher_total = ZERO
    usable = [v for v in vouchers if v.applies(accelerator, on)]
    usable.sort(key=lambda v: (v.valid_until is None, v.valid_until or date.max))
    for voucher in usable:
        amount = min(to_money(voucher.balance), owed - voucher_total)
        if amount > 0:
            credits.append(Credit(kind="voucher", name=voucher.name, amount=amount))
            voucher_total += amount
    return Settlement(
        gross=gross,
        discount=off,
        subsidy=subsidy_total,
        voucher=voucher_total,
        net=max(ZERO, charged - subsidy_total - voucher_total),
        currency=currency,
        credits=tuple(credits),
    )
