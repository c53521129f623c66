"""Ratings and reviews of the marketplace's templates, models and data sets: one per user and
object (a second one replaces the first), on what the user can read, shown as an average and a
count.

What a review is about is the object's id: `builtin:NAME` for a built-in template, else the
`datasets` id of the published template, the model or the data set, so a review follows the
object across its versions and disappears from view with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.common import Invalid, new_id, utcnow
from aicc.services.data import datasets
from aicc.services.data.datasets import DATA, MODEL
from aicc.services.models import templates
from aicc.services.models.views import Review, Reviews
from aicc.services.tenancy import audit, directory
from aicc.store.tables.models import ReviewRow

MAX_TEXT = 2000  # characters of a review
KINDS = ("template", MODEL, DATA)


@dataclass(frozen=True)
class Rating:
    """What a catalog shows: the mean rating (None before the first) and how many gave one."""

    average: float | None
    count: int


def target(
    session: Session, who: Principal, kind: str, ref: str, *, project: str | None = None
) -> str:
    """The id reviews of `ref` are about; NotFound unless the caller reads it. A model's or a
    data set's `project` is the caller's project or `ORG/PROJECT`, as its routes take it."""
    if kind == "template":
        return templates.get(ref, session, who, project=project).id
    if kind in (MODEL, DATA):
        named, where = datasets.reference(ref, project=project)
        return datasets.resolve(session, who, named, where, kind=kind).id
    raise Invalid("kind {kind!r}: one of template, model, dataset", kind=kind)


def review(session: Session, who: Principal, about: str, rating: int, text: str = "") -> Review:
    """Record the caller's rating (1 to 5) and review of `about`, replacing its earlier one."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise Invalid("rating: a whole number from 1 to 5")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise Invalid("text: at most {max} characters", max=MAX_TEXT)
    if "\x00" in text or not _unicode(text):
        raise Invalid("text: plain Unicode text, without NUL characters or lone surrogates")
    now = utcnow()
    row = session.scalar(
        select(ReviewRow).where(ReviewRow.target == about, ReviewRow.user_id == who.user_id)
    )
    if row is None:
        row = ReviewRow(
            id=new_id("rev"),
            target=about,
            user_id=who.user_id,
            org_id=who.org_id,
            rating=rating,
            text=text,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.rating, row.text, row.updated_at = rating, text, now
    audit.record(session, who, "review.put", "review", about, detail={"rating": rating})
    session.flush()
    return Review(user=_name(session, who.user_id), rating=rating, text=text, updated_at=now)


def reviews(session: Session, about: str) -> list[Review]:
    """The reviews of `about`, newest first."""
    rows = session.scalars(
        select(ReviewRow).where(ReviewRow.target == about).order_by(ReviewRow.updated_at.desc())
    )
    return [
        Review(
            user=_name(session, r.user_id), rating=r.rating, text=r.text, updated_at=r.updated_at
        )
        for r in rows
    ]


def own(session: Session, who: Principal, about: str) -> Review | None:
    """The caller's own review of `about`, if they gave one (what a page's form shows again)."""
    row = session.scalar(
        select(ReviewRow).where(ReviewRow.target == about, ReviewRow.user_id == who.user_id)
    )
    if row is None:
        return None
    return Review(
        user=_name(session, row.user_id),
        rating=row.rating,
        text=row.text,
        updated_at=row.updated_at,
    )


def rated(session: Session, about: str) -> Reviews:
    """`about`'s rating (mean and count) and its reviews, newest first (the review routes and
    the data set's page)."""
    rating = ratings(session, [about]).get(about, Rating(None, 0))
    return Reviews(rating=rating.average, ratings=rating.count, reviews=reviews(session, about))


def ratings(session: Session, targets: Iterable[str]) -> dict[str, Rating]:
    """The rating of each of `targets` (those without a review are left out)."""
    query = (
        select(ReviewRow.target, func.avg(ReviewRow.rating), func.count())
        .where(ReviewRow.target.in_(list(targets)))
        .group_by(ReviewRow.target)
    )
    return {t: Rating(round(float(avg), 2), int(n)) for t, avg, n in session.execute(query)}


def _unicode(text: str) -> bool:
    """Whether `text` is Unicode a database stores (no lone surrogate, `\\ud800`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name(session: Session, user_id: str) -> str:
    user = directory.user(session, user_id)
    return user.name if user is not None else user_id
