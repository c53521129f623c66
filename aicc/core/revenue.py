"""Revenue shares under a 投-建-运 agreement (investor, builder, operator), pure.

A public center is often paid for by one party (投, the investor: a government fund or a
state-owned company), built by another (建, the builder) and run by a third (运, the operator),
who share what the center earns under a written agreement. `Agreement` is that agreement as
settings (`reports.agreement`, docs/config.md) and `split` applies it to one month's money:

- tenants' payments P (invoices' net) and public money S (subsidies and vouchers the invoices
  applied, which the government pays the center back);
- the operator's fixed fee F comes first, out of P (at most P);
- the rest of P is shared by `shares`, S by `subsidy_shares` (default: `shares`);
- each part is rounded to 0.01 and the cents left over go by largest remainder, so the parts
  always add up to the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aicc.core.pricing import Money

PARTIES: tuple[Party, ...] = ("investor", "builder", "operator")
Party = Literal["investor", "builder", "operator"]
CENT = Decimal("0.01")
# A default that is only a placeholder: every center writes its own agreement's figures.
DEFAULT_SHARES: dict[Party, Decimal] = {
    "investor": Decimal("0.4"),
    "builder": Decimal("0.2"),
    "operator": Decimal("0.4"),
}
Share = Decimal


def _check(shares: dict[Party, Share], name: str) -> None:
    if set(shares) != set(PARTIES):
        raise ValueError(f"{name}: give a share for each of investor, builder and operator")
    if any(s < 0 or s > 1 for s in shares.values()):
        raise ValueError(f"{name}: each share is between 0 and 1")
    total = sum(shares.values(), Decimal(0))
    if total != 1:
        raise ValueError(f"{name}: the shares add up to {total}, they must add up to 1")


class Agreement(BaseModel):
    """The 投-建-运 agreement: shares of the month's revenue per party (summing to exactly 1),
    an operator's fixed fee taken first, and optionally other shares of public money."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shares: dict[Party, Share] = Field(default_factory=lambda: dict(DEFAULT_SHARES))
    operator_fee: Money = Decimal("0")
    subsidy_shares: dict[Party, Share] | None = None

    @model_validator(mode="after")
    def _sum_to_one(self) -> Agreement:
        _check(self.shares, "shares")
        if self.subsidy_shares is not None:
            _check(self.subsidy_shares, "subsidy_shares")
        return self

    def rule(self) -> dict[str, str]:
        """The rule in words, as values a page or a PDF puts into its own language's sentence."""
        public = self.subsidy_shares or self.shares
        return {
            "fee": str(self.operator_fee.quantize(CENT)),
            **{f"{p}_share": _pct(self.shares[p]) for p in PARTIES},
            **{f"{p}_public_share": _pct(public[p]) for p in PARTIES},
        }


def _pct(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


@dataclass(frozen=True)
class Split:
    """Each party's money of the month: its part of tenants' payments (after the fee), of
    public money, the fee (operator only) and the total."""

    party: Party
    fee: Decimal
    payments: Decimal
    public: Decimal
    total: Decimal


def largest_remainder(whole: Decimal, shares: list[Decimal]) -> list[Decimal]:
    """`whole` (a multiple of 0.01) cut in `shares` (summing to 1) to the cent, the leftover
    cents to the largest remainders (first in order on ties), so the parts add up to `whole`.
    A negative whole (a month of credits) is cut as its opposite, then negated."""
    if whole < 0:
        return [-part for part in largest_remainder(-whole, shares)]
    exact = [whole * s for s in shares]
    floor = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
    left = int(((whole - sum(floor, Decimal(0))) / CENT).to_integral_value())
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - floor[i]), i))
    for i in order[: max(0, left)]:
        floor[i] += CENT
    return floor


def split(agreement: Agreement, *, payments: Decimal, public: Decimal) -> list[Split]:
    """The month's money shared out; payments and public money in the same currency, to 0.01.
    A month whose payments are below the fee gives the operator all of them, and no more."""
    fee = min(agreement.operator_fee, max(payments, Decimal(0))).quantize(CENT)
    rest = payments - fee
    mine = largest_remainder(rest, [agreement.shares[p] for p in PARTIES])
    theirs = largest_remainder(
        public, [(agreement.subsidy_shares or agreement.shares)[p] for p in PARTIES]
    )
    out = []
    for n, party in enumerate(PARTIES):
        own_fee = fee if party == "operator" else Decimal("0.00")
        out.append(Split(party, own_fee, mine[n], theirs[n], own_fee + mine[n] + theirs[n]))
    return out
