"""Pages of the list routes whose whole list comes from one service call (organizations, nodes,
vouchers...): `limit` items at most (`MAX_PAGE`; more is a 422) from `cursor`, an opaque
position that the previous page's `next_cursor` gives. Bounds every answer's size; the lists
themselves are of administrative size, so they are read whole and cut here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

T = TypeVar("T")
MAX_PAGE = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"items per page, at most {MAX_PAGE}")]
Cursor = Annotated[
    str | None,
    Query(max_length=20, pattern=r"^[0-9]*$", description="`next_cursor` of the previous page"),
]


def page(items: Sequence[T], limit: int, cursor: str | None) -> dict[str, Any]:
    """`{"items": ..., "next_cursor": ...}`: the page at `cursor`; `next_cursor` is null on the
    last page."""
    start = int(cursor or 0)
    end = start + limit
    return {"items": list(items[start:end]), "next_cursor": str(end) if end < len(items) else None}


@dataclass(frozen=True)
class Paging:
    """A list route's `limit` and `cursor` query parameters, taken as one (`PageArgs`)."""

    limit: int
    cursor: str | None

    def cut(self, items: Sequence[T]) -> dict[str, Any]:
        """The page of `items` these parameters ask for (`page`)."""
        return page(items, self.limit, self.cursor)


def _paging(limit: Limit = MAX_PAGE, cursor: Cursor = None) -> Paging:
    return Paging(limit, cursor)


PageArgs = Annotated[Paging, Depends(_paging)]
