"""Who took part in a need, and what the catalog ranks needs by (issue 41).

An organization took part in a need when it asked a question, joined a team of its challenge,
or made an offer (`need_offers`, any state); the poster's own organization never counts. A
need's `uses` is how many organizations took part, and its rating is the mean of its reviews
(services/models/reviews.py, about the need's id), which only people of those organizations
give (services/needs/ratings.py). Both are read for many needs at once: a query per kind of
taking part and one for the ratings, whatever the number of needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.services.models import reviews
from aicc.store.tables.needs import (
    ChallengeRow,
    ChallengeTeamRow,
    NeedOfferRow,
    NeedQuestionRow,
    NeedRow,
)


@dataclass(frozen=True)
class Standing:
    """A need as the catalog ranks it: its rating (mean, None before the first; count) and how
    many organizations took part."""

    rating: float | None = None
    ratings: int = 0
    uses: int = 0


def participants(session: Session, needs: Iterable[NeedRow]) -> dict[str, set[str]]:
    """Each need's organizations that took part (ids), the poster's left out."""
    rows = list(needs)
    found: dict[str, set[str]] = {row.id: set() for row in rows}
    if not rows:
        return found
    ids = list(found)
    asked = select(NeedQuestionRow.need_id, NeedQuestionRow.org_id).where(
        NeedQuestionRow.need_id.in_(ids)
    )
    offered = select(NeedOfferRow.need_id, NeedOfferRow.org_id).where(NeedOfferRow.need_id.in_(ids))
    for query in (asked, offered):
        for need_id, org_id in session.execute(query):
            found[need_id].add(org_id)
    teams = (
        select(ChallengeRow.need_id, ChallengeTeamRow.orgs)
        .join(ChallengeTeamRow, ChallengeTeamRow.challenge_id == ChallengeRow.id)
        .where(ChallengeRow.need_id.in_(ids))
    )
    for need_id, members in session.execute(teams):
        found[need_id].update(str(m["id"]) for m in members or () if m.get("joined"))
    for row in rows:
        found[row.id].discard(row.org_id)
    return found


def standings(session: Session, needs: Iterable[NeedRow]) -> dict[str, Standing]:
    """Each need's rating and use count."""
    rows = list(needs)
    took = participants(session, rows)
    rated = reviews.ratings(session, [row.id for row in rows])
    result = {}
    for row in rows:
        rating = rated.get(row.id, reviews.Rating(None, 0))
        result[row.id] = Standing(rating.average, rating.count, len(took[row.id]))
    return result
