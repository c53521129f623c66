"""The needs context's read models: needs as the catalog shows them, their questions,
challenges, teams, scored submissions, the boards and the awards. Pydantic, the standard
library and `services.common` only."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aicc.services.common import View


class Terms(View):
    """Who owns what a provider makes for the need, and whether the shared data may leave the
    center (a challenge's hidden set never does)."""

    results_owner: str = "poster"  # poster | provider | shared
    data_may_leave: bool = False


class Need(View):
    """A need (需求) an organization posted. `state`: open | awarded | withdrawn;
    `challenge`: whether it has a hidden test set (a challenge, 揭榜). `from_voucher`: the reward
    is held from a voucher of the poster's, so it is awarded as vouchers (else: money in escrow
    on the poster's invoice); `voucher`, which one, its poster alone sees. `rating`:
    the mean of its reviews (None before the first), `ratings` how many; `uses`: how many
    organizations took part (asked, joined a team of its challenge, or made an offer), the
    poster's aside."""

    id: str
    name: str
    org: str
    project: str
    title: str
    problem: str
    data: str | None
    metric: str
    reward: str
    currency: str
    voucher: str | None = None  # the poster's voucher the reward is held from: the poster's to see
    from_voucher: bool = False  # the reward is held from a voucher (awarded as vouchers)
    deadline: datetime
    terms: Terms
    state: str
    challenge: bool
    questions: int = 0
    rating: float | None = None
    ratings: int = 0
    uses: int = 0
    created_at: datetime
    closed_at: datetime | None


class Question(View):
    """A question on a need; public once the poster answered it (before: its asker's and the
    poster's alone)."""

    id: str
    need_id: str
    org: str
    text: str
    answer: str
    answered_at: datetime | None
    created_at: datetime


class Team(View):
    """A team of a challenge. Where the challenge subsidizes training, `subsidy_state` is
    `given` (`subsidy`, the amount, is voucher `subsidy_voucher` of its first organization) or
    `none_left` (the poster's voucher had less than a team's share left when it was formed)."""

    id: str
    name: str
    orgs: list[str]  # the organizations that joined, by name
    invited: list[str] = Field(default_factory=list)  # asked to join, not joined yet
    subsidy: str | None = None
    subsidy_voucher: str | None = None
    subsidy_state: str | None = None  # given | none_left; None: the challenge offers none
    created_at: datetime


class Challenge(View):
    """A need's challenge: the metric, the board split, the limits and the teams. The hidden
    set's ref is its poster's to see (`hidden`: None for anyone else)."""

    id: str
    need: str  # ORG/NAME
    need_id: str
    title: str
    metric: str
    higher_is_better: bool
    target: str
    rows: int
    public_pct: int
    per_day: int
    max_runtime_s: int
    deadline: datetime
    private_open: bool  # the private board shows once the deadline passed
    subsidy_per_team: str = "0.00"  # a new team's training subsidy from the poster's voucher
    subsidy_voucher: str | None = None  # that voucher: the poster's to see
    hidden: str | None = None
    teams: list[Team] = Field(default_factory=list)
    created_at: datetime


class Submission(View):
    """A team's model on the hidden set: `scoring`, then `scored` or `failed` (`error`). The
    private score shows once the private board opens (`None` before, as it is for failures)."""

    id: str
    challenge_id: str
    team: str
    model: str
    state: str
    public_score: float | None
    private_score: float | None
    error: str
    created_at: datetime
    scored_at: datetime | None
    lineage: dict[str, object] = Field(default_factory=dict)


class Standing(View):
    """A team's place on a board: its best scored submission by that board's score."""

    rank: int
    team: str
    score: float
    submission_id: str
    submissions: int
    at: datetime
    lineage: dict[str, object] = Field(default_factory=dict)  # the poster's view alone


class Board(View):
    challenge_id: str
    board: str  # public | private
    metric: str
    higher_is_better: bool
    standings: list[Standing]


class Award(View):
    """An award: the team's share as vouchers of its organizations, and `model`, the team's
    best model as the poster received it in its own project (ORG/PROJECT/NAME@N; None where the
    terms keep the results with the provider), ready to deploy."""

    challenge_id: str
    team: str
    amount: str
    currency: str
    vouchers: list[str]
    model: str | None = None
    created_at: datetime


class Offer(View):
    """A provider's answer to a need without a challenge: its template or deployment at a price
    for the poster (`unit`: per `run`, per `1k_requests`). `state`: open | accepted | declined |
    withdrawn | ended. `secret`, an accepted deployment offer's key for the poster's calls, is
    in the acceptance's answer alone; `used` counts the poster's runs or requests so far."""

    id: str
    need: str  # ORG/NAME
    org: str  # the provider, by name
    kind: str  # template | deployment
    target: str  # ORG/PROJECT/NAME@N of a template; ORG/PROJECT/NAME of a deployment
    price: str
    unit: str
    currency: str
    message: str
    state: str
    key_id: str | None = None
    secret: str | None = None
    used: int = 0
    created_at: datetime
    decided_at: datetime | None = None
    ended_at: datetime | None = None
