"""Creating routes that a client may resend (job submission, template runs, batch predictions):
the `Idempotency-Key` header they take and the one way they answer a retry. The service makes
the thing once per key; a retry gets the first one back with 200 instead of 201."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Header, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.api.state import AppState

T = TypeVar("T")

IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=200)]


def create_once(
    state: AppState, response: Response, create: Callable[[Session], tuple[T, bool]]
) -> T:
    """`create(session)` (the thing, whether it is new) in a transaction of its own; run again
    when a concurrent retry with the same key won the race (its row's unique key), which then
    finds that retry's thing. Not new: the answer's status becomes 200."""

    def attempt() -> tuple[T, bool]:
        with state.db.session() as session:
            return create(session)

    try:
        made, created = attempt()
    except IntegrityError:
        made, created = attempt()
    if not created:
        response.status_code = 200
    return made
