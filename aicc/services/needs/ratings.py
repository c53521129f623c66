"""Ratings and reviews of needs (issue 41), so that the catalog of needs ranks by rating and
use as the catalogs of templates, models and data sets do.

A review of a need is a review as services/models/reviews.py keeps them (1 to 5 and a text,
one per person, a second replacing the first), about the need's id. Only people of an
organization that took part in the need (services/needs/takers.py: it asked, joined a team of
its challenge, or made an offer) rate it: they know how the poster answered, scored and paid.
The poster's organization does not rate its own need. Everyone signed in reads the reviews.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.common import Conflict, Forbidden
from aicc.services.models import reviews
from aicc.services.models.views import Review, Reviews
from aicc.services.needs import needs, takers
from aicc.store.tables.needs import NeedRow


def refusal(session: Session, who: Principal, row: NeedRow) -> Conflict | Forbidden | None:
    """Why the caller may not rate the need, or None where it may."""
    if who.org_id == row.org_id:
        return Conflict("the poster's organization cannot rate its own need")
    if who.org_id not in takers.participants(session, [row])[row.id]:
        return Forbidden(
            "only organizations that took part in need {name} (asked a question, joined a team "
            "of its challenge or made an offer) may rate it",
            name=row.name,
        )
    return None


def may_rate(session: Session, who: Principal, ref: str) -> bool:
    """Whether the caller may rate need `ref` (the portal shows the form to them alone)."""
    return refusal(session, who, needs._find(session, who, ref)) is None


def review(session: Session, who: Principal, ref: str, rating: int, text: str = "") -> Review:
    """Rate (1 to 5) and review need `ref`, replacing the caller's earlier review: people of
    an organization that took part, not the poster's. Its text is checked where it arrives
    (`ReviewIn`'s `PROSE`, core/text.py): no control character but line breaks and tabs."""
    row = needs._find(session, who, ref)
    refused = refusal(session, who, row)
    if refused is not None:
        raise refused
    return reviews.review(session, who, row.id, rating, text)


def rated(session: Session, who: Principal, ref: str) -> Reviews:
    """Need `ref`'s rating (mean and count) and its reviews, newest first (everyone's to read)."""
    return reviews.rated(session, needs._find(session, who, ref).id)


def own(session: Session, who: Principal, ref: str) -> Review | None:
    """The caller's own review of need `ref`, if they gave one (what the page's form shows)."""
    return reviews.own(session, who, needs._find(session, who, ref).id)
