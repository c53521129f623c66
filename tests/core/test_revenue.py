"""The 投-建-运 agreement: shares that add up to exactly 1, and a month's money cut to the cent
with every part adding up to the whole, the operator's fee first."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aicc.core.revenue import Agreement, largest_remainder, split

THIRDS = {"investor": "0.3333", "builder": "0.3333", "operator": "0.3334"}


def test_shares_must_name_the_three_parties_and_add_up_to_one() -> None:
    with pytest.raises(ValidationError, match=r"add up to 1\.1"):
        Agreement.model_validate(
            {"shares": {"investor": "0.5", "builder": "0.3", "operator": "0.3"}}
        )
    with pytest.raises(ValidationError, match="each of investor, builder and operator"):
        Agreement.model_validate({"shares": {"investor": "0.5", "builder": "0.5"}})
    with pytest.raises(ValidationError, match="subsidy_shares"):
        Agreement.model_validate(
            {"subsidy_shares": {"investor": "1", "builder": "1", "operator": "-1"}}
        )
    with pytest.raises(ValidationError):
        Agreement.model_validate({"shares": {**THIRDS, "banker": "0"}})


def test_the_fee_comes_first_and_never_exceeds_the_payments() -> None:
    deal = Agreement.model_validate({"shares": THIRDS, "operator_fee": "100.00"})
    small = {s.party: s for s in split(deal, payments=Decimal("60.00"), public=Decimal("0.00"))}
    assert small["operator"].fee == Decimal("60.00")
    assert sum(s.total for s in small.values()) == Decimal("60.00")
    big = {s.party: s for s in split(deal, payments=Decimal("100.01"), public=Decimal("0.10"))}
    assert [big[p].payments for p in ("investor", "builder", "operator")] == [
        Decimal("0.00"), Decimal("0.00"), Decimal("0.01"),
    ]  # fmt: skip
    assert sum(s.public for s in big.values()) == Decimal("0.10")
    assert deal.rule()["operator_share"] == "33.34%"


def test_a_fee_written_without_cents_is_shown_as_money() -> None:
    """`operator_fee: 0` or `1000` in config.yaml reads as 0.00 and 1000.00 on the report."""
    for written, shown in (("0", "0.00"), ("1000", "1000.00")):
        deal = Agreement.model_validate({"operator_fee": written})
        [_, _, operator] = split(deal, payments=Decimal("5000.00"), public=Decimal("0.00"))
        assert (str(operator.fee), deal.rule()["fee"]) == (shown, shown)


@given(
    cents=st.integers(min_value=-(10**9), max_value=10**9),
    a=st.integers(min_value=0, max_value=10_000),
    b=st.integers(min_value=0, max_value=10_000),
)
def test_parts_add_up_to_the_whole_to_the_cent(cents: int, a: int, b: int) -> None:
    if a + b > 10_000:
        a, b = a // 2, b // 2
    shares = [Decimal(a) / 10_000, Decimal(b) / 10_000, Decimal(10_000 - a - b) / 10_000]
    whole = Decimal(cents) / 100
    parts = largest_remainder(whole, shares)
    assert sum(parts) == whole
    assert all(abs(p - whole * s) < Decimal("0.01") for p, s in zip(parts, shares, strict=True))
