"""Options: which counts fit in memory, how long each runs, and overrides."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from aicc.core.catalog import CATALOG
from aicc.estimate import Estimate, Overrides, PricePlan, estimate
from aicc.estimate.options import counts_for, round_count
from aicc.estimate.scenarios import LlmFinetune

PLAN = PricePlan(pflops_hour=Decimal("10"))


def _run(scenario: dict[str, Any], **kwargs: Any) -> Estimate:
    return estimate(scenario, plan=PLAN, **kwargs)


def _hours(scenario: dict[str, Any], accelerator: str, count: int = 1, **kwargs: Any) -> float:
    result = _run(scenario, accelerators=[accelerator], count=count, **kwargs)
    assert result.options, result.left_out
    return result.options[0].hours


@pytest.mark.parametrize(
    ("need", "count"), [(1, 1), (2, 2), (3, 4), (5, 8), (8, 8), (9, 16), (15, 16), (17, 24)]
)
def test_counts_round_to_powers_of_two_then_whole_nodes(need: int, count: int) -> None:
    assert round_count(need, node=8) == count


def test_seventy_billion_full_finetune_does_not_fit_on_one_24_gib_card() -> None:
    ft = {"scenario": "llm-finetune", "params": "70B", "tokens": "100M"}
    for card in ("RTX-4090", "A10", "L4"):
        result = _run(ft, accelerators=[card], count=1)
        assert not result.options
        (left,) = result.left_out
        assert left.reason == "memory" and "needs at least" in left.message
    # Without a count the estimator offers the smallest count that fits, and larger ones.
    counts = counts_for(
        LlmFinetune(params=70e9, tokens=1e8).workload(),
        CATALOG["A100-80GB"],
        Overrides(),
        requested=None,
    )
    assert counts == [16, 32, 64, 128]


def test_seven_billion_inference_fits_on_one_80_gib_card() -> None:
    infer = {
        "scenario": "llm-inference",
        "params": "7B",
        "tokens_in": "1M",
        "tokens_out": "1M",
        "requests": 2000,
    }
    for card in ("A100-80GB", "H100-SXM", "H800"):
        result = _run(infer, accelerators=[card], count=1)
        assert [o.count for o in result.options] == [1], result.left_out


def test_more_than_max_count_is_left_out() -> None:
    result = _run(
        {"scenario": "llm-pretrain", "params": "1T", "tokens": "1T"},
        accelerators=["T4"],
        overrides=Overrides(max_count=64),
    )
    assert not result.options and "more than the 64 devices" in result.left_out[0].message


DECODE = {
    "scenario": "llm-inference",
    "params": "7B",
    "tokens_in": 100,
    "requests": 1,
    "concurrency": 1,
    "kv_heads_fraction": 0.125,
}


def test_decoding_is_bounded_by_memory_bandwidth() -> None:
    short = _run({**DECODE, "tokens_out": 1000}, accelerators=["H100-SXM"], count=1)
    long = _run({**DECODE, "tokens_out": 2000}, accelerators=["H100-SXM"], count=1)
    assert short.options[0].bound == long.options[0].bound == "memory-bandwidth"
    # Each extra token streams the 14 GB of weights at 60% of 3.35 TB/s (and a little KV cache).
    per_token_s = (long.options[0].hours - short.options[0].hours) * 3600 / 1000
    assert per_token_s == pytest.approx(14e9 / (3350e9 * 0.6), rel=0.05)
    # H200 has the H100's compute and 43% more bandwidth: decoding is that much faster.
    h100 = _hours({**DECODE, "tokens_out": 2000}, "H100-SXM")
    h200 = _hours({**DECODE, "tokens_out": 2000}, "H200")
    assert h100 / h200 == pytest.approx(4800 / 3350, rel=0.02)


def test_large_batches_become_compute_bound() -> None:
    batch = {
        "scenario": "llm-inference",
        "params": "7B",
        "tokens_in": 0,
        "tokens_out": "10M",
        "requests": 10_000,
        "concurrency": 1024,
        "kv_heads_fraction": 0.125,
    }
    big = _run(batch, accelerators=["H100-SXM"], count=8).options[0]
    small = _run({**batch, "concurrency": 8}, accelerators=["H100-SXM"], count=8).options[0]
    assert (big.bound, small.bound) == ("compute", "memory-bandwidth")
    assert big.hours < small.hours / 10
    # H20: an eighth of the H100's compute, more bandwidth: compute-bound at a smaller batch.
    mid = {**batch, "concurrency": 128}
    h20 = _run(mid, accelerators=["H20"], count=8).options[0]
    h100 = _run(mid, accelerators=["H100-SXM"], count=8).options[0]
    assert (h20.bound, h100.bound) == ("compute", "memory-bandwidth")


PRETRAIN = {"scenario": "llm-pretrain", "params": "7B", "tokens": "2T"}


def test_mfu_override_is_honoured_and_reported() -> None:
    default = _hours(PRETRAIN, "H100-SXM", 8)
    assert _hours(PRETRAIN, "H100-SXM", 8, overrides=Overrides(mfu=0.2)) == pytest.approx(
        default * 2, rel=1e-4
    )
    only_h100 = Overrides(mfu_by_accelerator={"h100": 0.8})
    assert _hours(PRETRAIN, "H100-SXM", 8, overrides=only_h100) == pytest.approx(
        default / 2, rel=1e-4
    )
    assert _hours(PRETRAIN, "A100-80GB", 8, overrides=only_h100) == _hours(PRETRAIN, "A100-80GB", 8)
    result = _run(PRETRAIN, accelerators=["H100"], count=8, overrides=Overrides(mfu=0.2))
    (mfu,) = [a for a in result.assumptions if a.name == "mfu[H100-SXM]"]
    assert (mfu.value, mfu.source) == (0.2, "given")


def test_scaling_overrides_are_honoured() -> None:
    one_node = _hours(PRETRAIN, "H100-SXM", 8)
    many = _hours(PRETRAIN, "H100-SXM", 1024)
    assert many * 1024 > one_node * 8  # scaling costs device-hours beyond one node
    perfect = _hours(PRETRAIN, "H100-SXM", 1024, overrides=Overrides(scaling_alpha=0))
    assert perfect * 1024 == pytest.approx(one_node * 8, rel=1e-4)
    fixed = _hours(PRETRAIN, "H100-SXM", 1024, overrides=Overrides(scaling=0.5))
    assert fixed * 1024 == pytest.approx(one_node * 8 * 2, rel=1e-4)


def test_mbu_and_memory_overrides_are_honoured() -> None:
    slow = _hours({**DECODE, "tokens_out": 2000}, "H100-SXM", overrides=Overrides(mbu=0.3))
    assert slow == pytest.approx(2 * _hours({**DECODE, "tokens_out": 2000}, "H100-SXM"), rel=0.02)
    tight = _run(
        PRETRAIN, accelerators=["H100-SXM"], overrides=Overrides(usable_memory_fraction=0.5)
    )
    assert tight.options and min(o.count for o in tight.options) == 4  # 112 GB / 40 GiB -> 3 -> 4
