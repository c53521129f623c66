"""The estimate as a whole: the result's shape, ranking, filters, waits, credits."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from aicc.core.catalog import CATALOG
from aicc.estimate import PricePlan, Subsidy, Voucher, candidates, estimate

PRETRAIN = {"scenario": "llm-pretrain", "params": "7B", "tokens": "20B"}
REQUIRED_KEYS = {
    "accelerator",
    "count",
    "hours",
    "accelerator_hours",
    "pflops_hours",
    "wait_hours",
    "gross",
    "subsidy",
    "voucher",
    "net",
    "currency",
}


def test_result_is_json_with_the_contract_keys() -> None:
    result = estimate(PRETRAIN, plan=PricePlan(pflops_hour=Decimal("8.5")))
    body = json.loads(json.dumps(result.model_dump(mode="json")))
    assert body["flops"] == pytest.approx(6 * 7e9 * 20e9)
    assert body["options"] and body["assumptions"]
    for option in body["options"]:
        assert set(option) >= REQUIRED_KEYS
        assert isinstance(option["gross"], str) and option["currency"] == "CNY"
        Decimal(option["net"])  # a decimal string
    assert {a["name"] for a in body["assumptions"]} >= {
        "flops_rule",
        "scaling_alpha",
        "mfu[H100-SXM]",
    }


def test_a_model_the_plan_does_not_price_keeps_its_time_and_says_why_it_has_no_price() -> None:
    result = estimate(
        PRETRAIN,
        plan=PricePlan(accelerator_hour={"H100-SXM": Decimal("30"), "A100": Decimal("12")}),
        sort="cost",
    )
    assert {o.accelerator for o in result.options} | {
        item.accelerator for item in result.left_out
    } == set(CATALOG)
    priced = {o.accelerator for o in result.options if o.net is not None}
    assert priced == {"H100-SXM", "A100-80GB"}
    unpriced = [o for o in result.options if o.net is None]
    assert unpriced and all(o.hours > 0 and o.gross is None for o in unpriced)
    assert "price plan 'default' has no price for" in (unpriced[0].price_note or "")
    assert "aicc admin price-plan set" in (unpriced[0].price_note or "")
    nets = [o.net is None for o in result.options]
    assert nets == sorted(nets)  # by cost: the unpriced after every priced option


def test_a_fresh_install_without_prices_still_estimates_the_time() -> None:
    result = estimate(PRETRAIN, plan=PricePlan(name="center"))
    assert result.options and all(o.net is None and o.hours > 0 for o in result.options)
    assert result.options[0].hours == min(o.hours + (o.wait_hours or 0) for o in result.options)


PLAN = PricePlan(accelerator_hour={"H100-SXM": Decimal("40"), "A100-80GB": Decimal("10")})


def test_sorting_by_time_and_by_cost() -> None:
    by_time = estimate(PRETRAIN, plan=PLAN, accelerators=["H100", "A100"])
    times = [o.hours for o in by_time.options]
    assert times == sorted(times) and by_time.options[0].accelerator == "H100-SXM"
    by_cost = estimate(PRETRAIN, plan=PLAN, accelerators=["H100", "A100"], sort="cost")
    nets = [o.net for o in by_cost.options]
    assert nets == sorted(nets) and by_cost.options[0].accelerator == "A100-80GB"
    assert by_cost.sort == "cost"


def test_wait_hours_are_shown_and_count_in_the_time_ranking() -> None:
    options = candidates(PRETRAIN, accelerators=["H100", "A100"])
    assert {(c.accelerator, c.count) for c in options} == {
        (name, n) for name in ("H100-SXM", "A100-80GB") for n in (2, 4, 8, 16)
    }
    waits = {(c.accelerator, c.count): 0.0 for c in options}
    waits.update({("H100-SXM", n): 10_000.0 for n in (2, 4, 8, 16)})
    result = estimate(PRETRAIN, plan=PLAN, accelerators=["H100", "A100"], wait_hours=waits)
    first = result.options[0]
    assert (first.accelerator, first.count, first.wait_hours) == ("A100-80GB", 16, 0.0)
    unknown = estimate(PRETRAIN, plan=PLAN, accelerators=["H100"], count=2)
    assert unknown.options[0].wait_hours is None


def test_accelerator_filter_takes_aliases_and_rejects_unknown_names() -> None:
    result = estimate(PRETRAIN, plan=PLAN, accelerators=["a100"], count=4)
    assert [(o.accelerator, o.count) for o in result.options] == [("A100-80GB", 4)]
    with pytest.raises(ValueError, match="close matches"):
        estimate(PRETRAIN, plan=PLAN, accelerators=["H10O"])
    with pytest.raises(ValueError, match="count"):
        estimate(PRETRAIN, plan=PLAN, count=0)


def test_models_outside_the_offered_set_are_left_out() -> None:
    center = [CATALOG["A100-80GB"]]
    result = estimate(PRETRAIN, plan=PLAN, models=center, accelerators=["H100", "A100"])
    assert {o.accelerator for o in result.options} == {"A100-80GB"}
    assert [(x.accelerator, x.reason) for x in result.left_out] == [("H100-SXM", "not_offered")]


def test_price_follows_the_plan_and_credits_apply() -> None:
    result = estimate(
        PRETRAIN,
        plan=PLAN,
        accelerators=["A100"],
        count=8,
        subsidies=[Subsidy(name="city", rate=Decimal("0.5"), cap=Decimal("100"))],
        vouchers=[Voucher(name="prepaid", balance=Decimal("50"))],
    )
    option = result.options[0]
    assert option.gross == (Decimal(repr(option.accelerator_hours)) * 10).quantize(Decimal("0.01"))
    assert (option.subsidy, option.voucher) == (Decimal("100.00"), Decimal("50.00"))
    assert option.net == option.gross - 150
    assert option.pflops_hours == pytest.approx(option.accelerator_hours * 0.312, rel=1e-5)
    assert option.accelerator_hours == pytest.approx(option.hours * 8, rel=1e-5)
