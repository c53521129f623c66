"""Needs (需求, 供需对接): an organization posts a problem for providers to answer, with the data
it shares (a public data set), the metric an answer is judged by, a reward held in escrow until
it is awarded or the need withdrawn (services/needs/awards.py puts both on the poster's
invoice; or, where the poster names one of its vouchers, held from that voucher instead:
billing/credits.py's `hold` and `release`), a deadline and the terms. Every signed-in
tenant reads the catalog and asks questions; the poster's project members post, answer and
withdraw.

A question is its asker's and the poster's until the poster answers it, then everyone's: the
public Q&A of a tender, not a private thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aicc.core import periods, scoring
from aicc.core.pricing import to_money
from aicc.core.tenancy import Principal, can_write
from aicc.services.billing import credits
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, from_row, new_id, utc
from aicc.services.data import lookups
from aicc.services.models import catalog
from aicc.services.needs import notices, takers
from aicc.services.needs.views import Need, Question, Terms
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.tables.needs import ChallengeRow, NeedQuestionRow, NeedRow

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
OWNERS = ("poster", "provider", "shared")
STATES = ("open", "awarded", "withdrawn")
SORTS = ("newest", "rating", "use")  # the catalog's orders (`listing`)
MAX_TEXT = 20_000
MAX_QUESTION = 4_000
AWARD_WINDOW_DAYS = 30  # a voucher holding a reward lasts this long past the deadline


@dataclass(frozen=True)
class Ask:
    """What a need is posted with."""

    name: str
    title: str
    problem: str
    metric: str
    deadline: datetime
    reward: Decimal = Decimal(0)
    currency: str = "CNY"
    data: str | None = None
    project: str | None = None
    terms: dict[str, object] = field(default_factory=dict)
    voucher: str | None = None  # a voucher of the poster's organization the reward is held from


def create(session: Session, who: Principal, ask: Ask, *, now: datetime, zone: str = "UTC") -> Need:
    """Post a need in the caller's project (members and org admins; viewers may not). Its shared
    data, if any, must be a public data set: providers train on it. With `ask.voucher`, the
    reward is held from that voucher of the poster's organization (valid on the deadline's day
    in the billing `zone`, in the need's currency, with the reward left), not money on the
    invoice."""
    project = tenancy.resolve_project(session, who, ask.project)
    if not can_write(who, org_id=project.org_id, project_id=project.id):
        raise Forbidden("viewers cannot post needs")
    if not NAME.match(ask.name):
        raise Invalid(
            "name: {name!r} must be lowercase letters, digits and '-', 1 to 63 characters",
            name=ask.name,
        )
    taken = select(NeedRow.id).where(NeedRow.org_id == project.org_id, NeedRow.name == ask.name)
    if session.scalar(taken) is not None:
        raise Conflict("need {name!r} exists already in your organization", name=ask.name)
    _check_text(ask.title, ask.problem)
    try:
        scoring.metric(ask.metric)
    except scoring.ScoreError as err:
        raise Invalid("metric: {problem}", problem=str(err)) from None
    if utc(ask.deadline) <= now:
        raise Invalid("deadline: it has passed; give a time in the future")
    reward = to_money(ask.reward)
    if reward < 0:
        raise Invalid("reward: not below 0")
    need_id = new_id("ned")
    if ask.voucher:
        credits.hold(
            session,
            who,
            ask.voucher,
            reward,
            reference=need_id,
            org_id=project.org_id,
            project_id=project.id,
            currency=ask.currency,
            until=award_by(utc(ask.deadline), zone),
        )
    row = NeedRow(
        id=need_id,
        org_id=project.org_id,
        project_id=project.id,
        name=ask.name,
        title=ask.title.strip(),
        problem=ask.problem.strip(),
        data=_shared_data(session, who, ask.data, project.name),
        metric=ask.metric,
        reward=str(reward),
        currency=ask.currency,
        deadline=utc(ask.deadline),
        terms=_terms(ask.terms).model_dump(),
        state="open",
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
        closed_at=None,
        voucher_id=ask.voucher or None,
    )
    session.add(row)
    session.flush()
    detail = {"reward": row.reward, "currency": row.currency, "voucher": row.voucher_id}
    audit.record(session, who, "need.create", "need", row.id, org_id=row.org_id, detail=detail)
    return view(session, who, row)


def deadline_day(deadline: datetime, zone: str) -> date:
    """The deadline's day in the billing `zone` (a voucher's last day is a date there); the
    last day there is for a deadline at the end of time."""
    try:
        return periods.day_of(deadline, zone)
    except OverflowError:
        return date.max


def award_by(deadline: datetime, zone: str) -> date:
    """The last day a voucher-funded reward must still be spendable: the deadline's day and
    `AWARD_WINDOW_DAYS` more, the time a poster has to award, so the teams' vouchers (which
    keep the source's last day) are not dead when they arrive."""
    day = deadline_day(deadline, zone)
    return (
        day
        if day > date.max - timedelta(days=AWARD_WINDOW_DAYS)
        else (day + timedelta(days=AWARD_WINDOW_DAYS))
    )


def _check_text(title: str, problem: str) -> None:
    if not title.strip() or len(title) > 200:
        raise Invalid("title: 1 to 200 characters")
    if not problem.strip() or len(problem) > MAX_TEXT:
        raise Invalid("problem: 1 to {max} characters", max=MAX_TEXT)


def _terms(given: dict[str, object]) -> Terms:
    unknown = set(given) - set(Terms.model_fields)
    if unknown:
        raise Invalid(
            "terms: {names} unknown; results_owner and data_may_leave are",
            names=", ".join(sorted(unknown)),
        )
    owner = given.get("results_owner", "poster")
    if owner not in OWNERS:
        raise Invalid("terms.results_owner: one of poster, provider, shared")
    leave = given.get("data_may_leave", False)
    if not isinstance(leave, bool):
        raise Invalid("terms.data_may_leave: true or false")
    return Terms(results_owner=str(owner), data_may_leave=leave)


def _shared_data(session: Session, who: Principal, ref: str | None, project: str) -> str | None:
    """The need's data as every provider names it (ORG/PROJECT/NAME@N), public, else a 422."""
    if not ref:
        return None
    row, version = lookups.find(session, who, ref, project=project)
    if row.visibility != "public":
        raise Invalid(
            "data: {name} is not public, so providers could not read it; publish it first "
            "(`aicc data update {name} --visibility public`) or post the need without data",
            name=row.name,
        )
    return f"{row.project}/{row.name}@{version.number}"


def _find(session: Session, who: Principal, ref: str) -> NeedRow:
    """A need by id, by ORG/NAME (the organization's name or id), or by NAME in the caller's
    organization; any signed-in tenant reads the catalog."""
    row = session.get(NeedRow, ref.rpartition("/")[2])
    if row is None:
        org_name, _, name = ref.rpartition("/")
        query = select(NeedRow).where(NeedRow.name == name)
        if org_name:
            query = query.where(NeedRow.org_id.in_(directory.org_ids(org_name)))
        else:
            query = query.where(NeedRow.org_id == who.org_id)
        row = session.scalar(query)
    if row is None:
        raise NotFound("need {ref} not found; `aicc need list` shows them", ref=ref)
    return row


def posts(who: Principal, row: NeedRow) -> bool:
    """Whether the caller speaks for the need's poster (its project's members, org admins)."""
    return can_write(who, org_id=row.org_id, project_id=row.project_id)


def poster_only(who: Principal, row: NeedRow, refused: Forbidden) -> None:
    """Raise `refused` (what the caller may not do, in words the portal translates) unless the
    caller speaks for the need's poster."""
    if not posts(who, row):
        raise refused


def poster(session: Session, who: Principal, ref: str) -> bool:
    """Whether the caller speaks for the poster of need `ref` (the portal shows the poster's
    forms and lineage to them alone; the service functions check it again)."""
    return posts(who, _find(session, who, ref))


def get(session: Session, who: Principal, ref: str) -> Need:
    return view(session, who, _find(session, who, ref))


def listing(
    session: Session,
    who: Principal,
    *,
    text: str | None = None,
    state: str | None = None,
    sort: str | None = None,
) -> list[Need]:
    """The catalog: every need, or those whose name, title or problem holds `text` (any case),
    or in `state`; newest first, or by `sort`: `rating` (the best rated first, the unrated
    last) or `use` (the most organizations taking part first), as the other catalogs rank
    (`catalog.rank`); ties stay newest first."""
    if sort not in (None, *SORTS):
        raise Invalid("sort: one of newest, rating, use")
    query = select(NeedRow).order_by(NeedRow.created_at.desc(), NeedRow.id.desc())
    if state is not None:
        if state not in STATES:
            raise Invalid("state: one of open, awarded, withdrawn")
        query = query.where(NeedRow.state == state)
    if text:
        like = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(NeedRow.name).like(like),
                func.lower(NeedRow.title).like(like),
                func.lower(NeedRow.problem).like(like),
            )
        )
    rows = list(session.scalars(query))
    standings = takers.standings(session, rows)
    found = [view(session, who, row, standings[row.id]) for row in rows]
    return catalog.rank(found, None if sort in (None, "newest") else sort)


def withdraw(session: Session, who: Principal, ref: str, *, now: datetime) -> Need:
    """Withdraw an open need: its escrow goes back to the poster (awards.py's lines), or the
    whole reward to the voucher it was held from, in this transaction, once (the need's row
    locked as an award locks it); its challenge, if any, takes no more submissions."""
    row = _locked(session, _find(session, who, ref).id)
    poster_only(who, row, Forbidden("only the need's poster may withdraw it"))
    if row.state != "open":
        raise Conflict("need {name} is {state} already", name=row.name, state=row.state)
    if row.voucher_id:
        credits.release(session, who, row.voucher_id, Decimal(row.reward), reference=row.id)
    row.state, row.closed_at, row.updated_at = "withdrawn", now, now
    audit.record(session, who, "need.withdraw", "need", row.id, org_id=row.org_id)
    return view(session, who, row)


def _locked(session: Session, need_id: str) -> NeedRow:
    """The need's row, locked until the transaction ends and read afresh: an award and a
    withdrawal see each other's state, and each happens once."""
    row = session.scalar(
        select(NeedRow)
        .where(NeedRow.id == need_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def view(
    session: Session, who: Principal, row: NeedRow, standing: takers.Standing | None = None
) -> Need:
    """The need as the catalog shows `who` (`standing`: its rating and use, when the caller
    read them for many needs at once); which voucher holds the reward, its poster alone sees."""
    if standing is None:
        standing = takers.standings(session, [row])[row.id]
    prj = directory.project(session, row.project_id)
    challenge = session.scalar(select(ChallengeRow.id).where(ChallengeRow.need_id == row.id))
    answered = select(func.count()).where(
        NeedQuestionRow.need_id == row.id, NeedQuestionRow.answered_at.is_not(None)
    )
    return from_row(
        Need,
        row,
        org=tenancy.org_name(session, row.org_id),
        project=prj.name if prj else row.project_id,
        voucher=row.voucher_id if posts(who, row) else None,
        from_voucher=row.voucher_id is not None,
        deadline=utc(row.deadline),
        terms=Terms.model_validate(row.terms or {}),
        challenge=challenge is not None,
        questions=int(session.scalar(answered) or 0),
        rating=standing.rating,
        ratings=standing.ratings,
        uses=standing.uses,
        created_at=utc(row.created_at),
        closed_at=utc(row.closed_at) if row.closed_at else None,
    )


# --- questions and answers ---


def ask(session: Session, who: Principal, ref: str, text: str, *, now: datetime) -> Question:
    """A provider's question on an open need."""
    row = _find(session, who, ref)
    if row.state != "open":
        raise Conflict(
            "need {name} is {state}: it takes no questions", name=row.name, state=row.state
        )
    text = text.strip()
    if not text or len(text) > MAX_QUESTION:
        raise Invalid("text: 1 to {max} characters", max=MAX_QUESTION)
    question = NeedQuestionRow(
        id=new_id("nqa"),
        need_id=row.id,
        org_id=who.org_id,
        user_id=who.user_id,
        text=text,
        answer="",
        answered_by=None,
        answered_at=None,
        created_at=now,
    )
    session.add(question)
    session.flush()
    audit.record(session, who, "need.ask", "need", row.id, org_id=who.org_id)
    notices.question(session, row, question)
    return _question(session, question)


def answer(
    session: Session, who: Principal, ref: str, question_id: str, text: str, *, now: datetime
) -> Question:
    """The poster's answer, public from now on (answering again replaces it)."""
    row = _find(session, who, ref)
    question = session.get(NeedQuestionRow, question_id)
    if question is None or question.need_id != row.id or not _sees(who, row, question):
        raise NotFound("question {question_id} not found", question_id=question_id)
    poster_only(who, row, Forbidden("only the need's poster may answer its questions"))
    text = text.strip()
    if not text or len(text) > MAX_QUESTION:
        raise Invalid("text: 1 to {max} characters", max=MAX_QUESTION)
    question.answer, question.answered_by, question.answered_at = text, who.user_id, now
    audit.record(session, who, "need.answer", "need", row.id, org_id=row.org_id)
    notices.answered(session, row, question)
    return _question(session, question)


def questions(session: Session, who: Principal, ref: str) -> list[Question]:
    """The need's answered questions, and the caller's own (the poster sees all), oldest first."""
    row = _find(session, who, ref)
    query = (
        select(NeedQuestionRow)
        .where(NeedQuestionRow.need_id == row.id)
        .order_by(NeedQuestionRow.created_at, NeedQuestionRow.id)
    )
    return [_question(session, q) for q in session.scalars(query) if _sees(who, row, q)]


def _sees(who: Principal, row: NeedRow, question: NeedQuestionRow) -> bool:
    return question.answered_at is not None or question.user_id == who.user_id or posts(who, row)


def _question(session: Session, row: NeedQuestionRow) -> Question:
    return from_row(
        Question,
        row,
        org=tenancy.org_name(session, row.org_id),
        answered_at=utc(row.answered_at) if row.answered_at else None,
        created_at=utc(row.created_at),
    )
