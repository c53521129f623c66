"""What serving hands billing about the gateway's requests: billing sits below serving and
never reads the request log, so serving reads the answered requests not yet on a usage record
(`RequestUse`, billing's read model) and writes back the record each one is on (`usage_id`),
which stays serving's column.

`meter` is one requests pass of the meter in the caller's transaction: the records and the
requests' `usage_id` commit together or not at all, so a crash loses no request and a second
pass puts none on a second record (services/billing/meter.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aicc.services.billing.meter import Meter, requests_closed
from aicc.services.billing.views import RequestUse
from aicc.store.tables.serving import GatewayRequestRow

BATCH = 500  # ids per UPDATE: SQLite's and PostgreSQL's limits on bound parameters


def unbilled(session: Session, before: datetime, *, limit: int = 100_000) -> list[RequestUse]:
    """The answered (billable) requests before `before` not yet on a usage record, oldest
    first: what a requests pass of the meter rolls up."""
    query = (
        select(
            GatewayRequestRow.id,
            GatewayRequestRow.org_id,
            GatewayRequestRow.project_id,
            GatewayRequestRow.deployment_id,
            GatewayRequestRow.adapter,
            GatewayRequestRow.at,
            GatewayRequestRow.prompt_tokens,
            GatewayRequestRow.completion_tokens,
            GatewayRequestRow.route,
        )
        .where(
            GatewayRequestRow.usage_id.is_(None),
            GatewayRequestRow.billable.is_(True),
            GatewayRequestRow.at < before,
        )
        .order_by(GatewayRequestRow.at, GatewayRequestRow.id)
        .limit(limit)
    )
    return [
        RequestUse(
            id=id_,
            org_id=org_id,
            project_id=project_id,
            deployment_id=deployment_id,
            adapter=adapter,
            at=at,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            route=route,
        )
        for (
            id_,
            org_id,
            project_id,
            deployment_id,
            adapter,
            at,
            prompt_tokens,
            completion_tokens,
            route,
        ) in session.execute(query)
    ]


def record_billed(session: Session, usage_of: Mapping[int, Sequence[str]]) -> None:
    """Write the usage record each request is on (record id -> request ids), in the caller's
    transaction, the one that holds the records."""
    for usage_id, ids in usage_of.items():
        for at in range(0, len(ids), BATCH):
            session.execute(
                update(GatewayRequestRow)
                .where(GatewayRequestRow.id.in_(list(ids[at : at + BATCH])))
                .values(usage_id=usage_id)
            )


def meter(session: Session, books: Meter, now: datetime, *, limit: int = 100_000) -> int:
    """One requests pass: roll the closed hours' unbilled requests into usage records
    (`Meter.requests`) and write their `usage_id` in the same transaction. Returns the number
    of records rolled."""
    rolled = books.requests(now, unbilled(session, requests_closed(now), limit=limit))
    record_billed(session, rolled.usage_of)
    return rolled.records
