"""Needs (供需对接) and challenges (揭榜挂帅) in the portal (issue 41): the catalog (`/needs`:
every tenant's needs with their rating and use, a search, a state filter, the order (newest,
best rated, most taken part in), and the form that posts one), a need's page (`/needs/{need}`:
the problem, data, metric, reward, deadline and terms; its questions with the form that asks
one; its rating and reviews, with the rating form for organizations that took part; for its
poster an answer form per open question, withdraw, and the form that makes it a challenge on a
hidden data set), and a challenge's page (`/challenges/{challenge}`:
the public board as a table and a bar chart, the private board from the deadline, the viewer's
team's submissions, the forms that join, invite and submit; for the poster each standing's
lineage and, after the deadline, the award form). The post form and the challenge form offer
the poster's organization's vouchers with what is left of each: a reward held from one, and a
training subsidy for each team from one.

The same service calls as `api/routers/needs.py`. Each form's input is checked by the API's own
request model, then handed to the service in a savepoint; a refusal shows the page again with
the service's words in the reader's language and its status (422, 409, 403, 429, or 404 for
a team or organization the form named), never a 500. A need or challenge that does not exist is
the 404 page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from aicc.api.schemas import ReviewIn
from aicc.api.schemas.needs import (
    ChallengeIn,
    InviteIn,
    JoinIn,
    NeedIn,
    OfferIn,
    ShareIn,
    SubmissionIn,
    TextIn,
)
from aicc.core import scoring
from aicc.core.tenancy import Role
from aicc.portal.forms import (
    FieldError,
    Posted,
    Rated,
    Rejected,
    blank_to_none,
    parse,
    service_call,
    text_input,
)
from aicc.portal.forms import Form as PageForm
from aicc.portal.i18n import Message, Translator
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.billing import credits
from aicc.services.billing.views import Voucher
from aicc.services.common import NotFound, ServiceError, utcnow
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models import models, templates
from aicc.services.needs import awards, challenges, needs, offers, ratings
from aicc.services.needs.views import Board, Challenge, Need, Offer, Team
from aicc.services.serving import deployments
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

OWNERS = ("poster", "provider", "shared")
# a refusal's status -> the words before the service's own
REFUSALS = {
    403: "form.error.forbidden",
    404: "form.error.not_found",
    409: "needs.error.conflict",
    429: "needs.error.too_many",
}
NEED_FLASHES = ("posted", "asked", "answered", "withdrawn", "rated", "offered", "decided")
REVIEWS_SHOWN = 20  # the newest reviews on a need's page
CHALLENGE_FLASHES = ("made", "joined", "invited", "submitted", "awarded")


def _local(at: datetime) -> str:
    """A time as a `datetime-local` input shows it (UTC, to the minute)."""
    return at.strftime("%Y-%m-%dT%H:%M")


def _vouchers(page: Page) -> list[Voucher]:
    """The vouchers of the reader's organization with something left: what a need's reward or
    a challenge's training subsidy may be paid from."""
    who = page.me.who
    found = credits.vouchers(page.session, who, org_id=who.org_id)
    return [v for v in found if Decimal(v.remaining) > 0]


def _checked(
    page: Page, form: PageForm, body: type[M], data: dict[str, Any], act: Callable[[M], T]
) -> T:
    """`act` on the form's input as the API's request model `body` reads it, in a savepoint;
    a refusal is `Rejected` with the form's errors and the status the API answers."""
    checked = parse(form, body, data, {})
    try:
        with page.session.begin_nested():
            return act(checked)
    except ServiceError as err:
        key = REFUSALS.get(err.status, "form.error.invalid")
        form.errors[""] = FieldError(key, Message.of(err))
        raise Rejected(form, err.status) from None


# --- the catalog ---


def _catalog(
    page: Page,
    *,
    q: str = "",
    state: str = "",
    sort: str = "",
    form: PageForm | None = None,
    status: int = 200,
) -> Response:
    state = state if state in needs.STATES else ""
    sort = sort if sort in needs.SORTS else "newest"
    found = needs.listing(page.session, page.me.who, text=q or None, state=state or None, sort=sort)
    defaults = {
        "metric": "accuracy",
        "results_owner": "poster",
        "reward": "0",
        "deadline": _local(utcnow() + timedelta(days=30)),
    }
    return page.render(
        "needs.html",
        nav="needs",
        status=status,
        needs=found,
        q=q,
        state=state,
        states=needs.STATES,
        sort=sort,
        sorts=needs.SORTS,
        metrics=list(scoring.METRICS),
        owners=OWNERS,
        projects=page.own_projects(),
        may_post=page.me.who.role is not Role.VIEWER,
        vouchers=_vouchers(page) if page.me.who.role is not Role.VIEWER else [],
        form=form or PageForm("need", defaults),
    )


@router.get("/needs")
def needs_catalog(page: PageDep, q: str = "", state: str = "", sort: str = "") -> Response:
    return _catalog(page, q=q[:200].strip(), state=state, sort=sort)


class NewNeed(Posted):
    """The catalog's form: what a need is posted with."""

    project: str = text_input(200)
    name: str = text_input(200)
    title: str = text_input(400)
    problem: str = text_input(20_000)
    metric: str = text_input(40)
    deadline: str = text_input(40)
    reward: str = text_input(40, "0")
    data: str = text_input(400)
    results_owner: str = text_input(20, "poster")
    voucher: str = text_input(40)  # blank: the reward is money in escrow


@router.post("/needs")
def needs_create(page: PostingPage, posted: Annotated[NewNeed, Form()]) -> Response:
    form = PageForm("need", posted.typed())
    data = {
        "name": posted.name.strip(),
        "title": posted.title.strip(),
        "problem": posted.problem.strip(),
        "metric": posted.metric,
        "deadline": posted.deadline.strip(),
        "reward": posted.reward.strip() or "0",
        "data": blank_to_none(posted.data),
        "project": blank_to_none(posted.project),
        "terms": {"results_owner": posted.results_owner},
        "voucher": blank_to_none(posted.voucher),
    }
    try:
        body = parse(form, NeedIn, data, {"terms": "results_owner"})
        with service_call(page.session, form, name_field="name"):
            made = needs.create(
                page.session,
                page.me.who,
                needs.Ask(**body.model_dump(exclude={"terms"}), terms=body.terms.model_dump()),
                now=utcnow(),
                zone=page.state.settings.site.timezone,
            )
    except Rejected as refused:
        return _catalog(page, form=form, status=refused.status)
    return _to_need(made, posted="1")


# --- a need ---


def _to_need(need: Need, **flash: str) -> Response:
    query = f"?{urlencode(flash)}" if flash else ""
    return RedirectResponse(f"/needs/{need.id}{query}", status_code=303)


def _on_need(
    page: Page,
    need: Need,
    form: PageForm,
    body: type[M],
    data: dict[str, Any],
    act: Callable[[M], object],
    **flash: str,
) -> Response:
    """A need page's form that redirects when done: `act` as `_checked` runs it, then back to
    the need saying `flash`; a refusal is the need's page again, with the form's errors."""
    try:
        _checked(page, form, body, data, act)
    except Rejected as refused:
        return _need_page(page, need.id, form=form, status=refused.status)
    return _to_need(need, **flash)


def _need_page(
    page: Page,
    ref: str,
    *,
    form: PageForm | None = None,
    status: int = 200,
    accepted: Offer | None = None,
) -> Response:
    """`accepted`: an offer just accepted, whose key's secret this answer alone shows."""
    who = page.me.who
    need = needs.get(page.session, who, ref)  # none: the 404 page
    challenge = challenges.get(page.session, who, need.id, now=utcnow()) if need.challenge else None
    poster = needs.poster(page.session, who, need.id)
    mine = ratings.own(page.session, who, need.id)
    own = {"rating": str(mine.rating), "text": mine.text} if mine else {"rating": "", "text": ""}
    return page.render(
        "need.html",
        nav="needs",
        status=status,
        need=need,
        reviews=ratings.rated(page.session, who, need.id).reviews[:REVIEWS_SHOWN],
        may_rate=ratings.may_rate(page.session, who, need.id),
        review=form if form is not None and form.name == "review" else PageForm("review", own),
        higher=scoring.metric(need.metric).higher_is_better,
        questions=needs.questions(page.session, who, need.id),
        challenge=challenge,
        poster=poster,
        vouchers=_vouchers(page) if poster and challenge is None else [],
        form=form or PageForm(""),
        flash={name: page.query(name) for name in NEED_FLASHES},
        offers=offers.listing(page.session, who, need.id),
        offerable=_offerable(page) if not poster and need.state == "open" else [],
        accepted=accepted,
    )


def _offerable(page: Page) -> list[tuple[str, str]]:
    """What the reader may offer, as the offer form's choices (value, label): the templates its
    organization published and the deployments of its default project."""
    who = page.me.who
    found = [
        (f"template:{t.ref}", t.ref)
        for t in templates.list_templates(page.session, who)
        if t.project_id is not None and t.writable
    ]
    try:
        served = deployments.list_deployments(page.session, who)
    except ServiceError:  # no project of its own to serve from
        served = []
    return found + [(f"deployment:{d.name}", f"{d.project}/{d.name}") for d in served]


@router.get("/needs/{need_id}")
def need_page(page: PageDep, need_id: str) -> Response:
    return _need_page(page, need_id)


@router.post("/needs/{need_id}/questions")
def need_ask(
    page: PostingPage, need_id: str, text: Annotated[str, Form(max_length=4000)] = ""
) -> Response:
    need = needs.get(page.session, page.me.who, need_id)
    form = PageForm("ask", {"text": text})
    return _on_need(
        page,
        need,
        form,
        TextIn,
        {"text": text.strip()},
        lambda body: needs.ask(page.session, page.me.who, need.id, body.text, now=utcnow()),
        asked="1",
    )


@router.post("/needs/{need_id}/questions/{question_id}/answer")
def need_answer(
    page: PostingPage,
    need_id: str,
    question_id: str,
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    need = needs.get(page.session, page.me.who, need_id)
    form = PageForm(f"answer-{question_id}", {"text": text})
    return _on_need(
        page,
        need,
        form,
        TextIn,
        {"text": text.strip()},
        lambda body: needs.answer(
            page.session, page.me.who, need.id, question_id, body.text, now=utcnow()
        ),
        answered="1",
    )


@router.post("/needs/{need_id}/reviews")
def need_review(page: PostingPage, need_id: str, posted: Annotated[Rated, Form()]) -> Response:
    """Rate and review a need the person's organization took part in (their earlier review
    replaced); a rating out of 1 to 5, a review too long, or someone who may not rate it is the
    page again saying why."""
    need = needs.get(page.session, page.me.who, need_id)
    form = PageForm("review", posted.typed())
    typed = {**posted.typed(), "text": posted.text.strip()}

    def rate(body: ReviewIn) -> ReviewIn:
        ratings.review(page.session, page.me.who, need.id, body.rating, body.text)
        return body

    try:
        body = _checked(page, form, ReviewIn, typed, rate)
    except Rejected as refused:
        return _need_page(page, need.id, form=form, status=refused.status)
    return _to_need(need, rated=str(body.rating))


class Nothing(BaseModel):
    """A form of one button (withdraw): no input to check."""


@router.post("/needs/{need_id}/withdraw")
def need_withdraw(page: PostingPage, need_id: str) -> Response:
    need = needs.get(page.session, page.me.who, need_id)
    form = PageForm("withdraw")
    return _on_need(
        page,
        need,
        form,
        Nothing,
        {},
        lambda _: needs.withdraw(page.session, page.me.who, need.id, now=utcnow()),
        withdrawn="1",
    )


class MadeChallenge(Posted):
    """The need page's form that makes it a challenge."""

    hidden: str = text_input(400)
    target: str = text_input(300)
    public_pct: str = text_input(10, "30")
    per_day: str = text_input(10, "5")
    max_runtime_s: str = text_input(10, "600")
    subsidy_voucher: str = text_input(40)  # blank: no training subsidy
    subsidy_per_team: str = text_input(40)


@router.post("/needs/{need_id}/challenge")
def need_challenge(
    page: PostingPage, need_id: str, posted: Annotated[MadeChallenge, Form()]
) -> Response:
    need = needs.get(page.session, page.me.who, need_id)
    form = PageForm("challenge", posted.typed())
    data: dict[str, Any] = {k: v.strip() for k, v in posted.typed().items()}
    data["subsidy_voucher"] = blank_to_none(posted.subsidy_voucher)
    data["subsidy_per_team"] = data["subsidy_per_team"] or "0"
    zone = page.state.settings.site.timezone

    def make(body: ChallengeIn) -> Challenge:
        ask = challenges.Ask(**body.model_dump())
        return challenges.create(
            page.session, page.me.who, page.state.chunks, need.id, ask, now=utcnow(), zone=zone
        )

    try:
        made = _checked(page, form, ChallengeIn, data, make)
    except Rejected as refused:
        return _need_page(page, need.id, form=form, status=refused.status)
    return _to_challenge(made, made="1")


# --- offers ---


class NewOffer(Posted):
    """The offer form of a need's page: what (`template:REF` or `deployment:NAME`), the price
    and a word to the poster."""

    offered: str = text_input(400)
    price: str = text_input(40)
    message: str = text_input(4000)


@router.post("/needs/{need_id}/offers")
def need_offer(page: PostingPage, need_id: str, posted: Annotated[NewOffer, Form()]) -> Response:
    need = needs.get(page.session, page.me.who, need_id)
    form = PageForm("offer", posted.typed())
    kind, _, ref = posted.offered.partition(":")
    data = {"kind": kind, "ref": ref, "price": posted.price.strip(), "message": posted.message}

    def make(body: OfferIn) -> Offer:
        ask = offers.Ask(**body.model_dump())
        return offers.make(page.session, page.me.who, need.id, ask, now=utcnow())

    return _on_need(page, need, form, OfferIn, data, make, offered="1")


OFFER_ACTIONS: dict[str, Callable[..., Offer]] = {
    "accept": offers.accept,  # called with the pricing setting: its key's tier
    "decline": offers.decline,
    "withdraw": offers.withdraw,
    "end": offers.end,
}


@router.post("/needs/{need_id}/offers/{offer_id}/{action}")
def need_offer_decide(
    page: PostingPage, need_id: str, offer_id: str, action: str, after: BackgroundTasks
) -> Response:
    """Accept or decline an offer (the poster), withdraw it (its provider), end an accepted one
    (either). An accepted deployment's key is on the answering page itself, never in a URL."""
    need = needs.get(page.session, page.me.who, need_id)
    decide = OFFER_ACTIONS.get(action)
    if decide is None:
        raise NotFound("offer action {action} not found", action=action)
    form = PageForm(f"offer-{offer_id}")
    plan = {"default_plan": page.state.settings.pricing} if action == "accept" else {}
    try:
        done = _checked(
            page,
            form,
            Nothing,
            {},
            lambda _: decide(page.session, page.me.who, need.id, offer_id, now=utcnow(), **plan),
        )
    except Rejected as refused:
        return _need_page(page, need.id, form=form, status=refused.status)
    if action == "end" and done.key_id is not None:  # refused here at once, as the API does
        after.add_task(page.state.gateway.forget, done.key_id)
    if done.secret:
        return _need_page(page, need.id, accepted=done)
    return _to_need(need, decided=action)


# --- a challenge ---


def _to_challenge(challenge: Challenge, **flash: str) -> Response:
    query = f"?{urlencode(flash)}" if flash else ""
    return RedirectResponse(f"/challenges/{challenge.id}{query}", status_code=303)


@dataclass(frozen=True)
class Teams:
    """Where the viewer's organization stands on a challenge: its team, and the teams that
    invited it."""

    mine: Team | None
    inviting: list[Team]


def _teams(page: Page, challenge: Challenge) -> Teams:
    org = tenancy.get_org(page.session, page.me.who, page.me.who.org_id).name
    mine = next((team for team in challenge.teams if org in team.orgs), None)
    return Teams(mine, [team for team in challenge.teams if org in team.invited])


def board_chart(board: Board, t: Translator) -> dict[str, Any] | None:
    """The board's standings as bars, best first: each team's score."""
    if not board.standings:
        return None
    return {
        "type": "bars",
        "legend": False,
        "categories": [s.team for s in board.standings],
        "series": [
            {
                "name": t.maybe("needs.metric", board.metric),
                "values": [s.score for s in board.standings],
            }
        ],
    }


def _model_choices(page: Page) -> list[str]:
    """The viewer's model versions (NAME@N in their default project, else qualified), newest
    first, for the submit form's suggestions."""
    who = page.me.who
    found: list[str] = []
    for project in page.own_projects():
        default = project.id == who.default_project_id
        for model in models.list_models(page.session, who, project=project.id):
            for version in model.versions:
                found.append(version.ref if default else f"{model.project}/{version.ref}")
    return found


def _challenge_page(
    page: Page, ref: str, *, form: PageForm | None = None, status: int = 200
) -> Response:
    who, now = page.me.who, utcnow()
    challenge = challenges.get(page.session, who, ref, now=now)  # none: the 404 page
    need = needs.get(page.session, who, challenge.need_id)
    public = challenges.board(page.session, who, challenge.id, now=now)
    private = (
        challenges.board(page.session, who, challenge.id, private=True, now=now)
        if challenge.private_open
        else None
    )
    poster = needs.poster(page.session, who, need.id)
    return page.render(
        "challenge.html",
        nav="needs",
        status=status,
        c=challenge,
        need=need,
        public=public,
        private=private,
        chart=board_chart(public, page.t),
        submissions=challenges.submissions(page.session, who, challenge.id, now=now),
        awards=awards.awards(page.session, who, challenge.id),
        poster=poster,
        teams=_teams(page, challenge),
        competes=not poster and who.role is not Role.VIEWER,
        open=need.state == "open" and not challenge.private_open,
        models=_model_choices(page) if not poster else [],
        form=form or PageForm(""),
        flash={name: page.query(name) for name in CHALLENGE_FLASHES},
    )


@router.get("/challenges/{challenge_id}")
def challenge_page(page: PageDep, challenge_id: str) -> Response:
    return _challenge_page(page, challenge_id)


def _challenge_form(
    page: PostingPage,
    challenge_id: str,
    form: PageForm,
    body: type[M],
    data: dict[str, Any],
    act: Callable[[Challenge, M], Any],
    **flash: str,
) -> Response:
    """One of the challenge page's forms: its page again, saying what was done or refused."""
    challenge = challenges.get(page.session, page.me.who, challenge_id, now=utcnow())
    try:
        _checked(page, form, body, data, lambda checked: act(challenge, checked))
    except Rejected as refused:
        return _challenge_page(page, challenge.id, form=form, status=refused.status)
    return _to_challenge(challenge, **flash)


@router.post("/challenges/{challenge_id}/join")
def challenge_join(
    page: PostingPage, challenge_id: str, team: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    zone = page.state.settings.site.timezone
    return _challenge_form(
        page,
        challenge_id,
        PageForm("join", {"team": team}),
        JoinIn,
        {"team": team.strip()},
        lambda c, body: challenges.join(
            page.session, page.me.who, c.id, body.team, now=utcnow(), zone=zone
        ),
        joined=team.strip(),
    )


@router.post("/challenges/{challenge_id}/invite")
def challenge_invite(
    page: PostingPage, challenge_id: str, org: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    return _challenge_form(
        page,
        challenge_id,
        PageForm("invite", {"org": org}),
        InviteIn,
        {"org": org.strip()},
        lambda c, body: challenges.invite(page.session, page.me.who, c.id, body.org, now=utcnow()),
        invited=org.strip(),
    )


@router.post("/challenges/{challenge_id}/submissions")
def challenge_submit(
    page: PostingPage, challenge_id: str, model: Annotated[str, Form(max_length=400)] = ""
) -> Response:
    limits = SubmitLimits.of(page.state.settings, local_only=True)
    return _challenge_form(
        page,
        challenge_id,
        PageForm("submit", {"model": model}),
        SubmissionIn,
        {"model": model.strip()},
        lambda c, body: challenges.submit(
            page.session, page.me.who, c.id, body.model, now=utcnow(), limits=limits
        ),
        submitted="1",
    )


class Shares(BaseModel):
    """The award form's rows with an amount, as the API's `AwardIn` reads each; none at all is
    the service's to refuse (it says what to give)."""

    awards: list[ShareIn] = Field(max_length=100)


@router.post("/challenges/{challenge_id}/award")
def challenge_award(
    page: PostingPage,
    challenge_id: str,
    team: Annotated[list[str] | None, Form(max_length=100)] = None,
    amount: Annotated[list[str] | None, Form(max_length=40)] = None,
) -> Response:
    """The teams' shares: a row a team, those with an amount given."""
    teams, amounts = team or [], amount or []
    rows = [
        {"team": name.strip(), "amount": value.strip()}
        for name, value in zip(teams, amounts, strict=False)
        if value.strip()
    ]
    typed = {f"amount-{name}": value for name, value in zip(teams, amounts, strict=False)}
    zone = page.state.settings.site.timezone

    def award(c: Challenge, body: Shares) -> Any:
        shares = [awards.Share(team=s.team, amount=s.amount) for s in body.awards]
        return awards.award(
            page.session, page.me.who, page.state.chunks, c.id, shares, now=utcnow(), zone=zone
        )

    return _challenge_form(
        page,
        challenge_id,
        PageForm("award", typed),
        Shares,
        {"awards": rows},
        award,
        awarded=str(len(rows)),
    )
