"""Needs, their questions, challenges, submissions and awards as tenants post them; the answers
are `services.needs.views`'s."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from aicc.api.schemas.common import Body
from aicc.core.text import LINE, PROSE

Name = Annotated[str, Field(min_length=1, max_length=63), LINE]
Text = Annotated[str, Field(min_length=1, max_length=20_000), PROSE]
Ref = Annotated[str, Field(min_length=1, max_length=300), LINE]


class TermsIn(Body):
    results_owner: Literal["poster", "provider", "shared"] = "poster"
    data_may_leave: bool = False


class NeedIn(Body):
    """A need: `data` a public data set version providers train on (NAME@N, or
    ORG/PROJECT/NAME@N); `metric` one of accuracy, macro_f1, rmse, mae, r2; `reward` held in
    escrow from now until it is awarded or the need withdrawn: money on the poster's invoice,
    or, with `voucher` (an id of the poster's organization's vouchers), held from that
    voucher."""

    name: Name
    title: Annotated[str, Field(min_length=1, max_length=200), LINE]
    problem: Text
    metric: Annotated[str, Field(min_length=1, max_length=32), LINE]
    deadline: datetime
    reward: Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)] = Decimal(0)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    data: Ref | None = None
    project: Name | None = None
    terms: TermsIn = Field(default_factory=TermsIn)
    voucher: Annotated[str | None, Field(min_length=1, max_length=40), LINE] = None


class TextIn(Body):
    text: Annotated[str, Field(min_length=1, max_length=4000), PROSE]


class ChallengeIn(Body):
    """The poster's private data set version with the answers (`hidden`), the column to predict,
    the table holding it (default: the largest that has it), and the limits; and, optionally,
    the training subsidy: `subsidy_per_team` of the poster's voucher `subsidy_voucher` to each
    team formed, as a voucher valid until the deadline."""

    hidden: Ref
    target: Annotated[str, Field(min_length=1, max_length=255), LINE]
    table: Annotated[str | None, Field(min_length=1, max_length=1024), LINE] = None
    public_pct: Annotated[int, Field(ge=1, le=99)] = 30
    per_day: Annotated[int, Field(ge=1, le=100)] = 5
    max_runtime_s: Annotated[int, Field(ge=10, le=6 * 3600)] = 600
    subsidy_voucher: Annotated[str | None, Field(min_length=1, max_length=40), LINE] = None
    subsidy_per_team: Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)] = (
        Decimal(0)
    )


class JoinIn(Body):
    team: Name


class InviteIn(Body):
    org: Annotated[str, Field(min_length=1, max_length=64), LINE]


class SubmissionIn(Body):
    """A model version of the caller's (NAME@N, the latest without @N; `project`: where it is),
    or a template run of the caller's (its job id, `job_...`), whose model is submitted."""

    model: Ref
    project: Name | None = None


class ShareIn(Body):
    team: Name
    amount: Annotated[Decimal, Field(gt=0, le=Decimal("1e12"), decimal_places=2)]


class AwardIn(Body):
    awards: Annotated[list[ShareIn], Field(min_length=1, max_length=100)]


class OfferIn(Body):
    """A provider's offer: its published template (`ref`: NAME, NAME@N or ORG/PROJECT/NAME@N)
    at `price` a run, or its deployment (`ref`: the name in `project`) at `price` per 1,000
    requests, in the need's currency."""

    kind: Literal["template", "deployment"]
    ref: Ref
    price: Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), decimal_places=2)]
    message: Annotated[str, Field(max_length=4000), PROSE] = ""
    project: Name | None = None
