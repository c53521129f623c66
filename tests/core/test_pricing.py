"""Pricing: plans, rounding, and credits in the order gross → plan discount → subsidy → voucher
→ net."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aicc.core.pricing import (
    PricePlan,
    Subsidy,
    Voucher,
    charge,
    line_amount,
    settle,
    to_money,
)

D = Decimal


def test_subsidy_applies_to_gross_then_vouchers_to_the_rest() -> None:
    bill = settle(
        D("1000"),
        accelerator="H100-SXM",
        subsidies=[Subsidy(name="city", rate=D("0.5"), cap=D("300"))],
        vouchers=[Voucher(name="prepaid", balance=D("500"))],
    )
    assert (bill.gross, bill.subsidy, bill.voucher, bill.net) == (
        D("1000.00"),
        D("300.00"),
        D("500.00"),
        D("200.00"),
    )
    assert [c.kind for c in bill.credits] == ["subsidy", "voucher"]


def test_plan_discount_comes_first_and_the_subsidy_is_a_rate_of_what_remains() -> None:
    bill = settle(
        D("1000"),
        accelerator="H100-SXM",
        discount=D("0.1"),
        subsidies=[Subsidy(name="city", rate=D("0.5"), cap=D("400"))],
        vouchers=[Voucher(name="prepaid", balance=D("300"))],
    )
    # 1000 - 100 discount = 900; 50% of 900 = 450, capped at 400; the voucher pays 300 of 500
    assert (bill.gross, bill.discount, bill.subsidy, bill.voucher, bill.net) == (
        D("1000.00"),
        D("100.00"),
        D("400.00"),
        D("300.00"),
        D("200.00"),
    )
    with pytest.raises(ValueError, match="discount"):
        settle(D("1"), accelerator=None, discount=D("1"))


def test_voucher_is_not_spent_on_what_the_subsidy_pays() -> None:
    bill = settle(
        D("100"),
        accelerator=None,
        subsidies=[Subsidy(name="all", rate=D("1"))],
        vouchers=[Voucher(name="prepaid", balance=D("50"))],
    )
    assert (bill.subsidy, bill.voucher, bill.net) == (D("100.00"), D("0.00"), D("0.00"))
    assert [c.name for c in bill.credits] == ["all"]


def test_net_never_negative_and_subsidies_never_exceed_gross() -> None:
    bill = settle(
        D("80"),
        accelerator=None,
        subsidies=[Subsidy(name="a", rate=D("0.7")), Subsidy(name="b", rate=D("0.7"))],
        vouchers=[Voucher(name="v", balance=D("1000"))],
    )
    assert bill.subsidy == D("80.00") and bill.voucher == D("0.00") and bill.net == D("0.00")


def test_vouchers_expiring_first_are_spent_first_and_expired_ones_not_at_all() -> None:
    late = Voucher(name="late", balance=D("60"), valid_until=date(2030, 1, 1))
    soon = Voucher(name="soon", balance=D("60"), valid_until=date(2026, 1, 1))
    gone = Voucher(name="gone", balance=D("60"), valid_until=date(2024, 1, 1))
    bill = settle(D("100"), accelerator=None, vouchers=[late, gone, soon], on=date(2025, 6, 1))
    assert [(c.name, c.amount) for c in bill.credits] == [
        ("soon", D("60.00")),
        ("late", D("40.00")),
    ]
    unchecked = settle(D("10"), accelerator=None, vouchers=[gone])  # no day given: no date check
    assert unchecked.voucher == D("10.00")


def test_credits_limited_to_models() -> None:
    only_910b = Voucher(name="ascend", balance=D("100"), accelerators=("910B",))
    assert only_910b.accelerators == ("Ascend-910B",)  # aliases resolve to catalog names
    assert settle(D("50"), accelerator="H100-SXM", vouchers=[only_910b]).voucher == D("0.00")
    assert settle(D("50"), accelerator="Ascend-910B", vouchers=[only_910b]).voucher == D("50.00")


def test_credit_in_another_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="USD"):
        settle(
            D("1"),
            accelerator=None,
            vouchers=[Voucher(name="v", balance=D("1"), currency="USD")],
        )


def test_rounding_is_half_up_per_line() -> None:
    assert to_money(D("0.005")) == D("0.01")
    assert to_money(D("2.345")) == D("2.35")
    assert line_amount(2.675, D("1")) == D("2.68")  # the float as written, not its binary value
    assert line_amount(1 / 3, D("3")) == D("1.00")


def test_plan_prices_by_model_then_by_pflops_hour() -> None:
    plan = PricePlan(accelerator_hour={"A100": D("12.5")}, pflops_hour=D("20"))
    assert plan.accelerator_hour == {"A100-80GB": D("12.5")}
    assert charge(plan, accelerator="A100-80GB", accelerator_hours=10, pflops_hours=3.12) == D(
        "125.00"
    )
    assert charge(plan, accelerator="H100-SXM", accelerator_hours=10, pflops_hours=9.894) == D(
        "197.88"
    )
    by_model_only = PricePlan(accelerator_hour={"H100-SXM": D("30")})
    assert charge(by_model_only, accelerator="L4", accelerator_hours=1, pflops_hours=1) is None
    with_cpu = PricePlan(pflops_hour=D("1"), cpu_core_hour=D("0.1"))
    assert charge(
        with_cpu, accelerator="L4", accelerator_hours=1, pflops_hours=1, cpu_core_hours=10
    ) == D("2.00")


def test_a_cpu_only_run_has_no_price_without_a_core_hour_price() -> None:
    """The two wizards' estimates price with `charge`: a plan that prices no core-hour says
    "no price" for a CPU-only run rather than 0.00, and memory adds to a priced run."""
    empty = PricePlan(name="center")
    assert charge(empty, accelerator=None, accelerator_hours=0, pflops_hours=0) is None
    assert charge(empty, accelerator="A100-80GB", accelerator_hours=1, pflops_hours=1) is None
    plan = PricePlan(pflops_hour=D("9.5"), cpu_core_hour=D("0.08"), memory_gib_hour=D("0.01"))
    cpu_only = charge(
        plan, accelerator=None, accelerator_hours=0, pflops_hours=0, cpu_core_hours=10,
        memory_gib_hours=100,
    )  # fmt: skip
    assert cpu_only == D("1.80")


def test_plan_rejects_unknown_models_and_bad_prices() -> None:
    with pytest.raises(ValidationError, match="close matches"):
        PricePlan(accelerator_hour={"H10O": D("1")})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        PricePlan(pflops_hour=D("-1"))
    with pytest.raises(ValidationError, match="currency"):
        PricePlan(currency="yuan")


money = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)


@given(
    gross=money,
    rates=st.lists(st.decimals(min_value="0.01", max_value=1, places=2), max_size=3),
    caps=st.lists(st.one_of(st.none(), money), min_size=3, max_size=3),
    balances=st.lists(money, max_size=3),
    discount=st.decimals(min_value=0, max_value="0.99", places=2),
)
def test_credits_add_up_and_net_is_never_negative(
    gross: Decimal,
    rates: list[Decimal],
    caps: list[Decimal | None],
    balances: list[Decimal],
    discount: Decimal,
) -> None:
    subsidies = [Subsidy(name=f"s{i}", rate=r, cap=caps[i]) for i, r in enumerate(rates)]
    vouchers = [Voucher(name=f"v{i}", balance=b) for i, b in enumerate(balances)]
    bill = settle(
        gross, accelerator=None, discount=discount, subsidies=subsidies, vouchers=vouchers
    )
    assert bill.net >= 0 and bill.subsidy >= 0 and bill.voucher >= 0 and bill.discount >= 0
    assert bill.discount + bill.subsidy + bill.voucher + bill.net == bill.gross
    assert bill.voucher <= sum(balances, D(0))
    charged = bill.gross - bill.discount
    assert bill.net == max(D(0), charged - bill.subsidy - sum(balances, D(0)))
