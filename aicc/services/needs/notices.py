"""What the people of a need and its challenge are told (issue 41), through the notify
context's outbox (services/notify/events.py): each notice is written in the transaction of its
cause, once (its `key`).

- `need.question`: someone asked on a need; to the poster's project.
- `need.answered`: the poster answered; to the person who asked.
- `need.offer`: a provider offered its template or model API (services/needs/offers.py); to the
  poster's project. `need.offer_accepted`: the poster accepted it; to the provider's project.
- `challenge.joined`: an organization took the challenge in a team (a new team, or one that
  invited it); to the poster's project.
- `challenge.invited`: a team invited an organization; to that organization's admins.
- `challenge.scored`, `challenge.failed`: a submission was scored (its public score: the
  private one waits for the deadline), or failed with why; to the person who submitted it, and
  to the admins of the team's other organizations.
- `challenge.closed`: the deadline passed and the private board opened (the loops'
  `challenges` step, loops/challenges.py); to the poster's project and every team's
  organizations.
- `challenge.awarded`: the poster awarded a team; to each of the team's organizations, with
  the team's share and the organization's part of it.

A team's organizations hear through their admins (an organization's event, as the notify
context addresses one without a project or a user) and the channels those admins keep.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.services.notify import events
from aicc.services.tenancy.tenancy import org_name
from aicc.store.tables.needs import (
    ChallengeRow,
    ChallengeSubmissionRow,
    ChallengeTeamRow,
    NeedOfferRow,
    NeedQuestionRow,
    NeedRow,
)

CLOSED_WITHIN = timedelta(days=7)  # a deadline older than this when first seen is not told


def _joined(team: ChallengeTeamRow) -> list[str]:
    return [str(m["id"]) for m in team.orgs or () if m.get("joined")]


def _need_of(session: Session, challenge_id: str) -> tuple[ChallengeRow, NeedRow] | None:
    challenge = session.get(ChallengeRow, challenge_id)
    need = session.get(NeedRow, challenge.need_id) if challenge is not None else None
    if challenge is None or need is None:
        return None
    return challenge, need


def question(session: Session, need: NeedRow, asked: NeedQuestionRow) -> None:
    """`need.question` to the poster's project."""
    who = org_name(session, asked.org_id)
    events.emit(
        session,
        "need.question",
        org_id=need.org_id,
        project_id=need.project_id,
        subject="A question on need {need}",
        body=(
            "{org} asks on need {need} ({title}):\n\n{text}\n\n"
            "Answer it publicly: `aicc need answer {need} {question_id} TEXT`."
        ),
        params={
            "need": need.name,
            "org": who,
            "title": need.title,
            "text": asked.text,
            "question_id": asked.id,
        },
        data={"need_id": need.id, "question_id": asked.id, "org": who},
        key=f"need.question:{asked.id}",
    )


def answered(session: Session, need: NeedRow, asked: NeedQuestionRow) -> None:
    """`need.answered` to the person who asked (once, at the first answer)."""
    poster = org_name(session, need.org_id)
    events.emit(
        session,
        "need.answered",
        org_id=asked.org_id,
        user_id=asked.user_id,
        subject="{org} answered your question on need {need}",
        body="You asked: {text}\n\n{org} answered: {answer}",
        params={"org": poster, "need": need.name, "text": asked.text, "answer": asked.answer},
        data={"need_id": need.id, "question_id": asked.id},
        key=f"need.answered:{asked.id}",
    )


def _priced(offer: NeedOfferRow) -> str:
    return f"{offer.price} {offer.currency} per {offer.unit.replace('_', ' ')}"


def offered(session: Session, need: NeedRow, offer: NeedOfferRow) -> None:
    """`need.offer` to the poster's project."""
    who = org_name(session, offer.org_id)
    events.emit(
        session,
        "need.offer",
        org_id=need.org_id,
        project_id=need.project_id,
        subject="An offer on need {need}: {kind} {target}",
        body="{org} offers {kind} {target} at {price}.\n\n{message}",
        params={
            "need": need.name,
            "kind": offer.kind,
            "target": offer.target,
            "org": who,
            "price": _priced(offer),
            "message": offer.message,
        },
        data={"need_id": need.id, "offer_id": offer.id, "org": who},
        key=f"need.offer:{offer.id}",
    )


def offer_accepted(session: Session, need: NeedRow, offer: NeedOfferRow) -> None:
    """`need.offer_accepted` to the provider's project."""
    events.emit(
        session,
        "need.offer_accepted",
        org_id=offer.org_id,
        project_id=offer.project_id,
        subject="Your offer on need {need} was accepted",
        body="{org} accepted your {kind} {target} at {price}.",
        params={
            "need": need.name,
            "org": org_name(session, need.org_id),
            "kind": offer.kind,
            "target": offer.target,
            "price": _priced(offer),
        },
        data={"need_id": need.id, "offer_id": offer.id},
        key=f"need.offer_accepted:{offer.id}",
    )


def joined(session: Session, challenge: ChallengeRow, team: ChallengeTeamRow, org_id: str) -> None:
    """`challenge.joined` to the poster's project: organization `org_id` is in `team` now."""
    found = _need_of(session, challenge.id)
    if found is None:
        return
    _, need = found
    who = org_name(session, org_id)
    events.emit(
        session,
        "challenge.joined",
        org_id=need.org_id,
        project_id=need.project_id,
        subject="{org} took challenge {need} as team {team}",
        body="{org} is in team {team} of your challenge {need} ({title}).",
        params={"org": who, "need": need.name, "team": team.name, "title": need.title},
        data={"challenge_id": challenge.id, "need_id": need.id, "team": team.name, "org": who},
        key=f"challenge.joined:{team.id}:{org_id}",
    )


def invited(
    session: Session, challenge: ChallengeRow, team: ChallengeTeamRow, guest_id: str
) -> None:
    """`challenge.invited` to the invited organization's admins."""
    found = _need_of(session, challenge.id)
    if found is None:
        return
    _, need = found
    poster = org_name(session, need.org_id)
    members = ", ".join(org_name(session, o) for o in _joined(team))
    events.emit(
        session,
        "challenge.invited",
        org_id=guest_id,
        subject="Team {team} invites you to challenge {need}",
        body=(
            "Team {team} ({members}) invites your organization to take {org}'s challenge "
            "{need} ({title}) with it: `aicc challenge join {need} --org {org} --team {team}`."
        ),
        params={
            "team": team.name,
            "need": need.name,
            "members": members,
            "org": poster,
            "title": need.title,
        },
        data={"challenge_id": challenge.id, "need_id": need.id, "team": team.name},
        key=f"challenge.invited:{team.id}:{guest_id}",
    )


def scored(session: Session, submission: ChallengeSubmissionRow) -> None:
    """`challenge.scored` (its public score) or `challenge.failed` (why), to the person who
    submitted it and the admins of the team's other organizations."""
    found = _need_of(session, submission.challenge_id)
    team = session.get(ChallengeTeamRow, submission.team_id)
    if found is None or team is None:
        return
    challenge, need = found
    params = {
        "team": team.name,
        "submission_id": submission.id,
        "model": submission.model,
        "need": need.name,
        "metric": need.metric,
        "deadline": f"{need.deadline:%Y-%m-%d %H:%M}",
        "score": f"{submission.public_score:.6g}" if submission.public_score is not None else "",
        "message": submission.error or "",
    }
    if submission.state == "scored":
        kind = "challenge.scored"
        subject = "{model} scored on challenge {need}"
        what = "scored {score} on the public board ({metric})"
        if submission.public_score is None:
            what = "was scored"
    else:
        kind = "challenge.failed"
        subject = "{model} failed on challenge {need}"
        what = "failed: {message}"
    body = (
        "Team {team}'s submission {submission_id} ({model}) to challenge {need} "
        + what
        + ". The private board opens at the deadline, {deadline} UTC."
    )
    data = {
        "challenge_id": challenge.id,
        "need_id": need.id,
        "submission_id": submission.id,
        "team": team.name,
        "state": submission.state,
        "public_score": submission.public_score,
    }
    events.emit(
        session,
        kind,
        org_id=submission.org_id,
        user_id=submission.user_id,
        subject=subject,
        body=body,
        params=params,
        data=data,
        key=f"{kind}:{submission.id}",
    )
    for org_id in _joined(team):
        if org_id != submission.org_id:
            events.emit(
                session,
                kind,
                org_id=org_id,
                subject=subject,
                body=body,
                params=params,
                data=data,
                key=f"{kind}:{submission.id}:{org_id}",
            )


def due(session: Session, now: datetime) -> list[str]:
    """Challenges whose deadline passed (in the last `CLOSED_WITHIN`) on an open need, not told
    yet: their ids."""
    told = events.told("challenge.closed:" + ChallengeRow.id)
    query = (
        select(ChallengeRow.id)
        .join(NeedRow, NeedRow.id == ChallengeRow.need_id)
        .where(
            NeedRow.state == "open",
            NeedRow.deadline <= now,
            NeedRow.deadline > now - CLOSED_WITHIN,
            ~told,
        )
        .order_by(NeedRow.deadline)
    )
    return list(session.scalars(query))


def closed(session: Session, challenge_id: str) -> None:
    """`challenge.closed` to each team's organizations, then to the poster's project (whose
    key, `challenge.closed:<id>`, marks the challenge told)."""
    found = _need_of(session, challenge_id)
    if found is None:
        return
    challenge, need = found
    teams = list(
        session.scalars(
            select(ChallengeTeamRow)
            .where(ChallengeTeamRow.challenge_id == challenge.id)
            .order_by(ChallengeTeamRow.created_at)
        )
    )
    data = {"challenge_id": challenge.id, "need_id": need.id, "teams": [t.name for t in teams]}
    subject = "Challenge {need} closed: the private board is open"
    poster = org_name(session, need.org_id)
    for team in teams:
        for org_id in _joined(team):
            events.emit(
                session,
                "challenge.closed",
                org_id=org_id,
                subject=subject,
                body=(
                    "The deadline of challenge {need} ({title}) passed: it takes no more "
                    "submissions, and the private board ranks team {team} with the others: "
                    "`aicc challenge board {need} --org {org} --private`."
                ),
                params={"need": need.name, "title": need.title, "team": team.name, "org": poster},
                data=data,
                key=f"challenge.closed:{challenge.id}:{org_id}",
            )
    events.emit(
        session,
        "challenge.closed",
        org_id=need.org_id,
        project_id=need.project_id,
        subject=subject,
        body=(
            "The deadline of your challenge {need} ({title}) passed: the private board is open "
            "({teams} teams), and you may award the reward: "
            "`aicc challenge award {need} --team TEAM=AMOUNT`."
        ),
        params={"need": need.name, "title": need.title, "teams": len(teams)},
        data=data,
        key=f"challenge.closed:{challenge.id}",
    )


def awarded(
    session: Session,
    need: NeedRow,
    challenge: ChallengeRow,
    team: ChallengeTeamRow,
    parts: list[tuple[str, Decimal]],
) -> None:
    """`challenge.awarded` to each organization of an awarded team: the team's share and the
    organization's part of it (`parts`: org id and amount), as vouchers."""
    share = sum((amount for _, amount in parts), Decimal(0))
    poster = org_name(session, need.org_id)
    for org_id, amount in parts:
        events.emit(
            session,
            "challenge.awarded",
            org_id=org_id,
            subject="Team {team} won {share} {currency} on challenge {need}",
            body=(
                "{org} awarded team {team} {share} {currency} of challenge {need}'s reward; "
                "your organization's part, {part} {currency}, is a voucher your invoices spend."
            ),
            params={
                "team": team.name,
                "share": share,
                "currency": need.currency,
                "need": need.name,
                "org": poster,
                "part": amount,
            },
            data={
                "challenge_id": challenge.id,
                "need_id": need.id,
                "team": team.name,
                "amount": str(share),
                "part": str(amount),
                "currency": need.currency,
            },
            key=f"challenge.awarded:{challenge.id}:{team.id}:{org_id}",
        )
