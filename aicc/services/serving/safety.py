"""What the gateway's content safety found (`gateway/safety.py`): each block or mask as a row of
`safety_events` (the rule, where, never the text unless the policy says `store_text`), and the
counts a deployment's page shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.serving import deployments
from aicc.store.db import Database
from aicc.store.tables.serving import SafetyEventRow


@dataclass(frozen=True)
class Event:
    """One prompt or completion blocked or masked."""

    org_id: str
    project_id: str
    deployment_id: str
    key_id: str
    request_id: str
    stage: str  # prompt | completion
    rule: str
    action: str  # block | mask
    text: str | None
    at: datetime


@dataclass(frozen=True)
class Count:
    stage: str
    action: str
    rule: str
    events: int


def record(db: Database, events: list[Event]) -> None:
    """Append events (rare: a statement of their own, off the request's path)."""
    if events:
        with db.engine.begin() as connection:
            connection.execute(insert(SafetyEventRow), [e.__dict__ for e in events])


def counts(
    session: Session, who: Principal, *, project: str | None, deployment: str
) -> list[Count]:
    """A deployment's blocks and masks by stage, action and rule (most first); authorized as
    the deployment is (another tenant's: 404)."""
    deployment_id = deployments.get(session, who, deployment, project=project).id
    rows = session.execute(
        select(SafetyEventRow.stage, SafetyEventRow.action, SafetyEventRow.rule, func.count())
        .where(SafetyEventRow.deployment_id == deployment_id)
        .group_by(SafetyEventRow.stage, SafetyEventRow.action, SafetyEventRow.rule)
    )
    found = [Count(stage, action, rule, int(n)) for stage, action, rule, n in rows]
    return sorted(found, key=lambda c: (-c.events, c.stage, c.action, c.rule))
