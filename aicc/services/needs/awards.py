"""Awarding (挂帅): after the deadline, the poster shares the need's reward among teams; each
team's share moves from the escrow to its organizations as vouchers (credit their invoices
spend), once.

The escrow is on the poster's invoices (billing's extra lines): the reward is charged in the
month the need is posted (`need_escrow`), and what was not awarded comes back as a credit in
the month it closes, awarded or withdrawn (`need_escrow_returned`). An award is made once: the
need's row is locked, its state checked and set to `awarded` in one transaction, and each team
has one award row (its key), so a repeat is a 409 and no second voucher is made.

A reward held from the poster's voucher (billing/credits.py's `hold`) is on no invoice: the
teams' vouchers inherit that voucher's restrictions (the models it pays, its last day), and what
was not awarded goes back to it (`release`) in the award's transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core import scoring as core_scoring
from aicc.core.pricing import PricePlan, to_money
from aicc.core.tenancy import Principal
from aicc.services.billing import credits, extra_lines
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, utc
from aicc.services.data import datasets, lookups
from aicc.services.models import models
from aicc.services.needs import challenges, needs, notices
from aicc.services.needs.views import Award
from aicc.services.tenancy import audit, directory
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.needs import (
    ChallengeAwardRow,
    ChallengeRow,
    ChallengeSubmissionRow,
    ChallengeTeamRow,
    NeedRow,
)


@dataclass(frozen=True)
class Share:
    team: str
    amount: Decimal


def award(
    session: Session,
    who: Principal,
    store: ChunkStore,
    ref: str,
    shares: Sequence[Share],
    *,
    now: datetime,
    zone: str,
) -> list[Award]:
    """Award the teams their shares (the poster, after the deadline); their sum is at most the
    reward, and each team has a scored submission. Where the terms give the poster the results
    (`results_owner` poster or shared), each awarded team's best model is the poster's too
    (`deliver`), ready to deploy."""
    row, need = challenges._find(session, who, ref)
    needs.poster_only(who, need, Forbidden("only the need's poster may award it"))
    locked = needs._locked(session, need.id)
    if locked.state != "open":
        raise Conflict("need {name} is {state} already", name=locked.name, state=locked.state)
    if utc(locked.deadline) > now:
        raise Conflict(
            "award after the deadline ({at}), when the private board opens",
            at=utc(locked.deadline).isoformat(),
        )
    if not shares:
        raise Invalid("awards: name at least one team and its share")
    total = sum((to_money(s.amount) for s in shares), Decimal(0))
    if any(to_money(s.amount) <= 0 for s in shares):
        raise Invalid("awards: each share is above 0")
    if total > Decimal(locked.reward):
        raise Invalid(
            "awards: {total} is more than the reward, {reward}", total=total, reward=locked.reward
        )
    if len({s.team for s in shares}) != len(shares):
        raise Invalid("awards: each team once")
    made = []
    for share in shares:
        team = session.scalar(
            select(ChallengeTeamRow).where(
                ChallengeTeamRow.challenge_id == row.id, ChallengeTeamRow.name == share.team
            )
        )
        if team is None:
            raise NotFound("team {team} not found in this challenge", team=share.team)
        scored = session.scalar(
            select(ChallengeSubmissionRow.id).where(
                ChallengeSubmissionRow.team_id == team.id, ChallengeSubmissionRow.state == "scored"
            )
        )
        if scored is None:
            raise Invalid("team {team} has no scored submission", team=share.team)
        orgs = [m["id"] for m in team.orgs or () if m.get("joined")]
        vouchers = [
            credits.reward_voucher(
                session,
                who,
                org_id=org_id,
                name=f"Reward: {locked.name} ({team.name})",
                amount=part,
                currency=locked.currency,
                zone=zone,
                source=locked.voucher_id,
            )
            for org_id, part in zip(orgs, _split(to_money(share.amount), len(orgs)), strict=True)
        ]
        award_row = ChallengeAwardRow(
            challenge_id=row.id,
            team_id=team.id,
            amount=str(to_money(share.amount)),
            vouchers=vouchers,
            created_by=who.user_id,
            created_at=now,
            model=deliver(session, who, store, locked, row, team),
        )
        session.add(award_row)
        parts = zip(orgs, _split(to_money(share.amount), len(orgs)), strict=True)
        notices.awarded(session, locked, row, team, list(parts))
        made.append(_award(award_row, team.name, locked.currency))
    if locked.voucher_id:
        unawarded = Decimal(locked.reward) - total
        credits.release(session, who, locked.voucher_id, unawarded, reference=locked.id)
    locked.state, locked.closed_at, locked.updated_at = "awarded", now, now
    detail = {"total": str(total), "teams": [s.team for s in shares]}
    audit.record(session, who, "need.award", "need", locked.id, org_id=locked.org_id, detail=detail)
    session.flush()
    return made


def deliver(
    session: Session,
    who: Principal,
    store: ChunkStore,
    need: NeedRow,
    challenge: ChallengeRow,
    team: ChallengeTeamRow,
) -> str | None:
    """The team's best model (by the private board, then the public), given to the poster as
    model NEED-TEAM of the need's project, where the terms give the poster the results; its
    ref, or None."""
    if (need.terms or {}).get("results_owner", "poster") not in ("poster", "shared"):
        return None
    scored = list(
        session.scalars(
            select(ChallengeSubmissionRow).where(
                ChallengeSubmissionRow.team_id == team.id, ChallengeSubmissionRow.state == "scored"
            )
        )
    )

    def rank(sub: ChallengeSubmissionRow) -> float:
        value = sub.private_score if sub.private_score is not None else sub.public_score
        higher = core_scoring.metric(need.metric).higher_is_better
        return -math.inf if value is None else (value if higher else -value)

    best = max(scored, key=rank)
    project = directory.project(session, need.project_id)
    assert project is not None
    source = lookups.versions(session, [best.model_version_id]).get(best.model_version_id)
    lineage = {
        **(source.lineage if source else {}),
        "from": best.model,
        "challenge": challenge.id,
        "team": team.name,
        "submission": best.id,
    }
    name = f"{need.name}-{team.name}"[:63].rstrip("-")
    given = models.give(
        session, who, store, best.model_version_id, name, project=project.name, lineage=lineage
    )
    return f"{datasets.qualified(session, project)}/{name}@{given.number}"


def _split(amount: Decimal, parts: int) -> list[Decimal]:
    """`amount` in `parts` equal shares to the cent, the first taking what rounding leaves."""
    each = to_money(amount / parts)
    return [amount - each * (parts - 1), *[each] * (parts - 1)]


def awards(session: Session, who: Principal, ref: str) -> list[Award]:
    """A challenge's awards (everyone's to read once made)."""
    row, need = challenges._find(session, who, ref)
    found = []
    query = select(ChallengeAwardRow).where(ChallengeAwardRow.challenge_id == row.id)
    for award_row in session.scalars(query.order_by(ChallengeAwardRow.created_at)):
        team = session.get(ChallengeTeamRow, award_row.team_id)
        found.append(_award(award_row, team.name if team else award_row.team_id, need.currency))
    return found


def _award(row: ChallengeAwardRow, team: str, currency: str) -> Award:
    return Award(
        challenge_id=row.challenge_id,
        team=team,
        amount=row.amount,
        currency=currency,
        vouchers=list(row.vouchers or ()),
        model=row.model,
        created_at=utc(row.created_at),
    )


def invoice_lines(
    session: Session, org_id: str, month: str, zone: str, default: PricePlan
) -> list[extra_lines.Line]:
    """The poster's escrow on its invoice of `month`: rewards held for needs posted then, and
    what was not awarded returned for needs closed then (a reward held from a voucher is on
    no invoice)."""
    found = []
    query = select(NeedRow).where(
        NeedRow.org_id == org_id, NeedRow.reward != "0.00", NeedRow.voucher_id.is_(None)
    )
    for need in session.scalars(query.order_by(NeedRow.created_at)):
        reward = Decimal(need.reward)
        if reward <= 0:
            continue
        if periods.month_of(utc(need.created_at), zone) == month:
            found.append(_line(need, "need_escrow", reward, "held in escrow"))
        if need.closed_at is not None and periods.month_of(utc(need.closed_at), zone) == month:
            given = _awarded(session, need.id)
            if reward - given > 0:
                found.append(
                    _line(need, "need_escrow_returned", given - reward, "returned from escrow")
                )
    return found


def _awarded(session: Session, need_id: str) -> Decimal:
    query = (
        select(ChallengeAwardRow.amount)
        .join(ChallengeRow, ChallengeRow.id == ChallengeAwardRow.challenge_id)
        .where(ChallengeRow.need_id == need_id)
    )
    return sum((Decimal(a) for a in session.scalars(query)), Decimal(0))


def _line(need: NeedRow, kind: str, amount: Decimal, what: str) -> extra_lines.Line:
    return extra_lines.Line(
        kind=kind,
        item=f"need {need.name}",
        unit="reward",
        quantity=Decimal(1),
        unit_price=amount,
        amount=to_money(amount),
        currency=need.currency,
        description=f"Reward of need {need.name}, {what}",
        reference=need.id,
    )


extra_lines.register(invoice_lines)
