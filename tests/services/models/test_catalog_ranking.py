"""How a catalog ranks its entries (services/models/catalog.py `rank`, issue 41): by name, by
rating (the unrated last, more ratings first among equals) and by use, ties kept in the
listing's order; an unknown order is a 422 saying which there are."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aicc.services.common import Invalid
from aicc.services.models import catalog


@dataclass(frozen=True)
class Entry:
    name: str
    rating: float | None = None
    ratings: int = 0
    uses: int = 0


LISTED = [
    Entry("census", 4.0, 1, 7),
    Entry("alpha", None, 0, 7),
    Entry("books", 4.0, 3, 0),
    Entry("drift", 2.5, 2, 12),
    Entry("echo", None, 0, 0),
]


def names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


def test_none_keeps_the_listings_order_and_name_sorts_by_name() -> None:
    assert names(catalog.rank(LISTED, None)) == ["census", "alpha", "books", "drift", "echo"]
    assert names(catalog.rank(LISTED, "name")) == ["alpha", "books", "census", "drift", "echo"]


def test_rating_puts_the_best_rated_first_and_the_unrated_last() -> None:
    # books and census share 4.0: books has more ratings; alpha and echo keep their order
    assert names(catalog.rank(LISTED, "rating")) == ["books", "census", "drift", "alpha", "echo"]


def test_use_puts_the_most_used_first_then_the_better_rated() -> None:
    # census and alpha were each mounted 7 times: census is rated
    assert names(catalog.rank(LISTED, "use")) == ["drift", "census", "alpha", "books", "echo"]


def test_an_unknown_order_is_refused_naming_the_choices() -> None:
    with pytest.raises(Invalid, match="one of name, rating, use"):
        catalog.rank(LISTED, "stars")
    assert catalog.SORTS == ("name", "rating", "use")
