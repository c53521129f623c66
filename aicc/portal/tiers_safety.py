"""What a deployment's page shows of the gateway's service tiers and content safety
(docs/gateway.md): each tier's requests, 429s and p95 latency of the last half hour against its
objective (`gateway.tiers.objectives_ms`), and what content safety blocked or masked there."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.serving import safety, tiers
from aicc.services.tenancy.sessions import SignedIn

MINUTES = 30


def context(
    session: Session, state: AppState, me: SignedIn, name: str, project: str | None
) -> dict[str, Any]:
    """`tiers` (a line per tier) and `safety_counts` for deployment.html; another tenant's
    deployment is a 404 before this is asked."""
    objectives = dict(state.settings.gateway.tiers.objectives_ms)
    lines = tiers.by_tier(
        session,
        me.who,
        project=project,
        deployment=name,
        objectives_ms=objectives,
        now=utcnow(),
        minutes=MINUTES,
    )
    counts = safety.counts(session, me.who, project=project, deployment=name)
    return {"tiers": lines, "tier_minutes": MINUTES, "safety_counts": counts}
