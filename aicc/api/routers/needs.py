"""Needs (供需对接) and challenges (揭榜挂帅): every signed-in tenant reads the catalog, asks
questions and takes challenges; a need's poster answers, makes it a challenge, and awards.
`{need}` and `{challenge}` are an id or a name in the caller's organization (`?org=` names
another's)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query

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


def _need(need: str, org: str | None = OrgName) -> str:
    return f"{org}/{need}" if org else need


def _challenge(challenge: str, org: str | None = OrgName) -> str:
    return f"{org}/{challenge}" if org else challenge


# `{need}` or `{challenge}` with `?org=`, as the one reference the services read (ORG/NAME)
NeedRef = Annotated[str, Depends(_need)]
ChallengeRef = Annotated[str, Depends(_challenge)]


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
def needs_get(need: NeedRef, who: CurrentUser, session: SessionDep) -> Need:
    return needs.get(session, who, need)


@router.post("/needs/{need}/withdraw", response_model=Need)
def needs_withdraw(need: NeedRef, who: CurrentUser, session: SessionDep) -> Need:
    """Withdraw an open need (its poster): the escrow comes back on the next invoice."""
    return needs.withdraw(session, who, need, now=utcnow())


@router.get("/needs/{need}/questions", response_model=list[Question])
def needs_questions(need: NeedRef, who: CurrentUser, session: SessionDep) -> list[Question]:
    """Answered questions, and the caller's own (the poster sees every one)."""
    return needs.questions(session, who, need)


@router.post("/needs/{need}/questions", response_model=Question, status_code=201)
def needs_ask(need: NeedRef, body: TextIn, who: CurrentUser, session: SessionDep) -> Question:
    return needs.ask(session, who, need, body.text, now=utcnow())


@router.post("/needs/{need}/questions/{question_id}/answer", response_model=Question)
def needs_answer(
    need: NeedRef,
    question_id: str,
    body: TextIn,
    who: CurrentUser,
    session: SessionDep,
) -> Question:
    """The poster's public answer."""
    return needs.answer(session, who, need, question_id, body.text, now=utcnow())


@router.post("/needs/{need}/challenge", response_model=Challenge, status_code=201)
def needs_challenge(
    need: NeedRef,
    body: ChallengeIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> Challenge:
    """Make the caller's need a challenge on its hidden set (and, optionally, subsidize each
    team's training from one of the poster's vouchers)."""
    ask = challenges.Ask(**body.model_dump())
    zone = state.settings.site.timezone
    return challenges.create(session, who, state.chunks, need, ask, now=utcnow(), zone=zone)


@router.get("/needs/{need}/reviews", response_model=Reviews)
def needs_reviews(need: NeedRef, who: CurrentUser, session: SessionDep) -> Reviews:
    """A need's rating (mean, count) and its reviews, newest first."""
    return ratings.rated(session, who, need)


@router.put("/needs/{need}/reviews", response_model=Review)
def needs_review(
    need: NeedRef,
    body: schemas.ReviewIn,
    who: CurrentUser,
    session: SessionDep,
) -> Review:
    """Rate (1-5) and review a need your organization took part in (asked, joined a team or
    made an offer); a second review of yours replaces the first."""
    return ratings.review(session, who, need, body.rating, body.text)


@router.get("/challenges", response_model=schemas.Page[Challenge])
def challenges_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    return paging.cut(challenges.listing(session, who, now=utcnow()))


@router.get("/challenges/{challenge}", response_model=Challenge)
def challenges_get(challenge: ChallengeRef, who: CurrentUser, session: SessionDep) -> Challenge:
    return challenges.get(session, who, challenge, now=utcnow())


@router.post("/challenges/{challenge}/join", response_model=Team)
def challenges_join(
    challenge: ChallengeRef,
    body: JoinIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> Team:
    """Take the challenge as a new team (which receives the challenge's training subsidy, if
    any is left), or join a team that invited the caller's organization."""
    zone = state.settings.site.timezone
    return challenges.join(session, who, challenge, body.team, now=utcnow(), zone=zone)


@router.post("/challenges/{challenge}/invite", response_model=Team)
def challenges_invite(
    challenge: ChallengeRef,
    body: InviteIn,
    who: CurrentUser,
    session: SessionDep,
) -> Team:
    """Invite another organization into the caller's team."""
    return challenges.invite(session, who, challenge, body.org, now=utcnow())


@router.post("/challenges/{challenge}/submissions", response_model=Submission, status_code=201)
def challenges_submit(
    challenge: ChallengeRef,
    body: SubmissionIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> Submission:
    """Submit a model version to be scored on the hidden set (a job of the center's, with no
    network; the score appears when it ends)."""
    limits = SubmitLimits.of(state.settings, local_only=True)
    return challenges.submit(
        session,
        who,
        challenge,
        body.model,
        project=body.project,
        now=utcnow(),
        limits=limits,
    )


@router.get("/challenges/{challenge}/submissions", response_model=list[Submission])
def challenges_submissions(
    challenge: ChallengeRef, who: CurrentUser, session: SessionDep
) -> list[Submission]:
    """The caller's team's submissions (the poster: every team's)."""
    return challenges.submissions(session, who, challenge, now=utcnow())


@router.get("/challenges/{challenge}/board", response_model=Board)
def challenges_board(
    challenge: ChallengeRef,
    who: CurrentUser,
    session: SessionDep,
    private: bool = Query(default=False, description="the private board, open at the deadline"),
) -> Board:
    return challenges.board(session, who, challenge, private=private, now=utcnow())


@router.post("/challenges/{challenge}/award", response_model=list[Award], status_code=201)
def challenges_award(
    challenge: ChallengeRef,
    body: AwardIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> list[Award]:
    """Share the reward among teams (the poster, after the deadline), once; where the terms give
    the poster the results, each awarded team's best model becomes the poster's model
    NEED-TEAM, ready to deploy."""
    shares = [awards.Share(team=s.team, amount=s.amount) for s in body.awards]
    zone = state.settings.site.timezone
    return awards.award(session, who, state.chunks, challenge, shares, now=utcnow(), zone=zone)


@router.get("/challenges/{challenge}/awards", response_model=list[Award])
def challenges_awards(
    challenge: ChallengeRef, who: CurrentUser, session: SessionDep
) -> list[Award]:
    return awards.awards(session, who, challenge)


@router.get("/needs/{need}/offers", response_model=list[Offer])
def needs_offers(need: NeedRef, who: CurrentUser, session: SessionDep) -> list[Offer]:
    """The need's offers: every one for its poster, the caller's organization's own for a
    provider, none for anyone else."""
    return offers.listing(session, who, need)


@router.post("/needs/{need}/offers", response_model=Offer, status_code=201)
def needs_offer(need: NeedRef, body: OfferIn, who: CurrentUser, session: SessionDep) -> Offer:
    """A provider offers its template or deployment at a price for the poster."""
    ask = offers.Ask(**body.model_dump())
    return offers.make(session, who, need, ask, now=utcnow())


OFFER_ACTIONS = {  # `accept` (the poster: a grant, or a key, its secret once) is called apart
    "decline": offers.decline,  # the poster
    "withdraw": offers.withdraw,  # the provider, before the poster decides
    "end": offers.end,  # either side, after acceptance: the grant ends, the key is revoked
}


@router.post("/needs/{need}/offers/{offer_id}/{action}", response_model=Offer)
def needs_offer_action(
    need: NeedRef,
    offer_id: str,
    action: Literal["accept", "decline", "withdraw", "end"],
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    after: BackgroundTasks,
) -> Offer:
    """Decide an offer: `accept` and `decline` (the poster), `withdraw` (the provider, while
    open), `end` (either side, once accepted). An accepted deployment offer's answer carries
    the key's `secret`, shown this once."""
    if action == "accept":  # its key gets the tier of the poster's price plan
        pricing = state.settings.pricing
        offer = offers.accept(session, who, need, offer_id, now=utcnow(), default_plan=pricing)
    else:
        offer = OFFER_ACTIONS[action](session, who, need, offer_id, now=utcnow())
    if action == "end" and offer.key_id is not None:  # as a revoked key: refused here at once
        after.add_task(state.gateway.forget, offer.key_id)
    return offer
