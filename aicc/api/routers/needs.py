"""Needs (供需对接) and challenges (揭榜挂帅): every signed-in tenant reads the catalog, asks
questions and takes challenges; a need's poster answers, makes it a challenge, and awards.
`{need}` and `{challenge}` are an id or a name in the caller's organization (`?org=` names
another's)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.schemas.needs import (
    AwardIn,
    ChallengeIn,
    InviteIn,
    JoinIn,
    NeedIn,
    OfferIn,
    SubmissionIn,
    TextIn,
)
from aicc.services.common import utcnow
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models.views import Review, Reviews
from aicc.services.needs import awards, challenges, needs, offers, ratings
from aicc.services.needs.views import (
    Award,
    Board,
    Challenge,
    Need,
    Offer,
    Question,
    Submission,
    Team,
)

router = APIRouter(prefix="/api/v1", tags=["needs"])
OrgName = Query(default=None, max_length=64, description="the poster's organization, by name")


def _ref(name: str, org: str | None) -> str:
    return f"{org}/{name}" if org else name


@router.get("/needs", response_model=schemas.Page[Need])
def needs_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    q: str | None = Query(default=None, max_length=200, description="words in name or text"),
    state: str | None = Query(default=None, description="open | awarded | withdrawn"),
    sort: str | None = Query(default=None, description="newest (the default) | rating | use"),
) -> dict[str, object]:
    """The catalog of needs, newest first, or the best rated or most taken part in first."""
    return paging.cut(needs.listing(session, who, text=q, state=state, sort=sort))


@router.post("/needs", response_model=Need, status_code=201)
def needs_create(body: NeedIn, who: CurrentUser, session: SessionDep, state: StateDep) -> Need:
    """Post a need; its reward is held in escrow on the poster's invoice, or from `voucher`."""
    ask = needs.Ask(**body.model_dump(exclude={"terms"}), terms=body.terms.model_dump())
    return needs.create(session, who, ask, now=utcnow(), zone=state.settings.site.timezone)


@router.get("/needs/{need}", response_model=Need)
def needs_get(need: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName) -> Need:
    return needs.get(session, who, _ref(need, org))


@router.post("/needs/{need}/withdraw", response_model=Need)
def needs_withdraw(
    need: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> Need:
    """Withdraw an open need (its poster): the escrow comes back on the next invoice."""
    return needs.withdraw(session, who, _ref(need, org), now=utcnow())


@router.get("/needs/{need}/questions", response_model=list[Question])
def needs_questions(
    need: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> list[Question]:
    """Answered questions, and the caller's own (the poster sees every one)."""
    return needs.questions(session, who, _ref(need, org))


@router.post("/needs/{need}/questions", response_model=Question, status_code=201)
def needs_ask(
    need: str, body: TextIn, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> Question:
    return needs.ask(session, who, _ref(need, org), body.text, now=utcnow())


@router.post("/needs/{need}/questions/{question_id}/answer", response_model=Question)
def needs_answer(
    need: str,
    question_id: str,
    body: TextIn,
    who: CurrentUser,
    session: SessionDep,
    org: str | None = OrgName,
) -> Question:
    """The poster's public answer."""
    return needs.answer(session, who, _ref(need, org), question_id, body.text, now=utcnow())


@router.post("/needs/{need}/challenge", response_model=Challenge, status_code=201)
def needs_challenge(
    need: str,
    body: ChallengeIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    org: str | None = OrgName,
) -> Challenge:
    """Make the caller's need a challenge on its hidden set (and, optionally, subsidize each
    team's training from one of the poster's vouchers)."""
    ask = challenges.Ask(**body.model_dump())
    zone = state.settings.site.timezone
    ref = _ref(need, org)
    return challenges.create(session, who, state.chunks, ref, ask, now=utcnow(), zone=zone)


@router.get("/needs/{need}/reviews", response_model=Reviews)
def needs_reviews(
    need: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> Reviews:
    """A need's rating (mean, count) and its reviews, newest first."""
    return ratings.rated(session, who, _ref(need, org))


@router.put("/needs/{need}/reviews", response_model=Review)
def needs_review(
    need: str,
    body: schemas.ReviewIn,
    who: CurrentUser,
    session: SessionDep,
    org: str | None = OrgName,
) -> Review:
    """Rate (1-5) and review a need your organization took part in (asked, joined a team or
    made an offer); a second review of yours replaces the first."""
    return ratings.review(session, who, _ref(need, org), body.rating, body.text)


@router.get("/challenges", response_model=schemas.Page[Challenge])
def challenges_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    return paging.cut(challenges.listing(session, who, now=utcnow()))


@router.get("/challenges/{challenge}", response_model=Challenge)
def challenges_get(
    challenge: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> Challenge:
    return challenges.get(session, who, _ref(challenge, org), now=utcnow())


@router.post("/challenges/{challenge}/join", response_model=Team)
def challenges_join(
    challenge: str,
    body: JoinIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    org: str | None = OrgName,
) -> Team:
    """Take the challenge as a new team (which receives the challenge's training subsidy, if
    any is left), or join a team that invited the caller's organization."""
    zone = state.settings.site.timezone
    return challenges.join(session, who, _ref(challenge, org), body.team, now=utcnow(), zone=zone)


@router.post("/challenges/{challenge}/invite", response_model=Team)
def challenges_invite(
    challenge: str,
    body: InviteIn,
    who: CurrentUser,
    session: SessionDep,
    org: str | None = OrgName,
) -> Team:
    """Invite another organization into the caller's team."""
    return challenges.invite(session, who, _ref(challenge, org), body.org, now=utcnow())


@router.post("/challenges/{challenge}/submissions", response_model=Submission, status_code=201)
def challenges_submit(
    challenge: str,
    body: SubmissionIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    org: str | None = OrgName,
) -> Submission:
    """Submit a model version to be scored on the hidden set (a job of the center's, with no
    network; the score appears when it ends)."""
    limits = SubmitLimits.of(state.settings, local_only=True)
    return challenges.submit(
        session,
        who,
        _ref(challenge, org),
        body.model,
        project=body.project,
        now=utcnow(),
        limits=limits,
    )


@router.get("/challenges/{challenge}/submissions", response_model=list[Submission])
def challenges_submissions(
    challenge: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> list[Submission]:
    """The caller's team's submissions (the poster: every team's)."""
    return challenges.submissions(session, who, _ref(challenge, org), now=utcnow())


@router.get("/challenges/{challenge}/board", response_model=Board)
def challenges_board(
    challenge: str,
    who: CurrentUser,
    session: SessionDep,
    org: str | None = OrgName,
    private: bool = Query(default=False, description="the private board, open at the deadline"),
) -> Board:
    return challenges.board(session, who, _ref(challenge, org), private=private, now=utcnow())


@router.post("/challenges/{challenge}/award", response_model=list[Award], status_code=201)
def challenges_award(
    challenge: str,
    body: AwardIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    org: str | None = OrgName,
) -> list[Award]:
    """Share the reward among teams (the poster, after the deadline), once; where the terms give
    the poster the results, each awarded team's best model becomes the poster's model
    NEED-TEAM, ready to deploy."""
    shares = [awards.Share(team=s.team, amount=s.amount) for s in body.awards]
    zone = state.settings.site.timezone
    ref = _ref(challenge, org)
    return awards.award(session, who, state.chunks, ref, shares, now=utcnow(), zone=zone)


@router.get("/challenges/{challenge}/awards", response_model=list[Award])
def challenges_awards(
    challenge: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> list[Award]:
    return awards.awards(session, who, _ref(challenge, org))


@router.get("/needs/{need}/offers", response_model=list[Offer])
def needs_offers(
    need: str, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> list[Offer]:
    """The need's offers: every one for its poster, the caller's organization's own for a
    provider, none for anyone else."""
    return offers.listing(session, who, _ref(need, org))


@router.post("/needs/{need}/offers", response_model=Offer, status_code=201)
def needs_offer(
    need: str, body: OfferIn, who: CurrentUser, session: SessionDep, org: str | None = OrgName
) -> Offer:
    """A provider offers its template or deployment at a price for the poster."""
    ask = offers.Ask(**body.model_dump())
    return offers.make(session, who, _ref(need, org), ask, now=utcnow())


OFFER_ACTIONS = {  # `accept` (the poster: a grant, or a key, its secret once) is called apart
    "decline": offers.decline,  # the poster
    "withdraw": offers.withdraw,  # the provider, before the poster decides
    "end": offers.end,  # either side, after acceptance: the grant ends, the key is revoked
}


@router.post("/needs/{need}/offers/{offer_id}/{action}", response_model=Offer)
def needs_offer_action(
    need: str,
    offer_id: str,
    action: Literal["accept", "decline", "withdraw", "end"],
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    after: BackgroundTasks,
    org: str | None = OrgName,
) -> Offer:
    """Decide an offer: `accept` and `decline` (the poster), `withdraw` (the provider, while
    open), `end` (either side, once accepted). An accepted deployment offer's answer carries
    the key's `secret`, shown this once."""
    ref = _ref(need, org)
    if action == "accept":  # its key gets the tier of the poster's price plan
        pricing = state.settings.pricing
        offer = offers.accept(session, who, ref, offer_id, now=utcnow(), default_plan=pricing)
    else:
        offer = OFFER_ACTIONS[action](session, who, ref, offer_id, now=utcnow())
    if action == "end" and offer.key_id is not None:  # as a revoked key: refused here at once
        after.add_task(state.gateway.forget, offer.key_id)
    return offer
