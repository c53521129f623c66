"""A deployment's requests by service tier (gateway/tiers.py) over a recent window, from the
request log: how many, how many were refused 429 (a tier's line full or its wait over), and
the p95 latency its objective is held against (the deployment's page)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.serving import deployments
from aicc.store.tables.serving import GatewayRequestRow


@dataclass(frozen=True)
class TierLine:
    tier: int
    requests: int
    refused: int  # 429s
    p95_ms: float | None  # of the requests answered (not refused)
    objective_ms: float | None
    met: bool | None  # p95 within the objective; None without answered requests


def by_tier(
    session: Session,
    who: Principal,
    *,
    project: str | None,
    deployment: str,
    objectives_ms: dict[int, float],
    now: datetime,
    minutes: int = 30,
) -> list[TierLine]:
    """The last `minutes` of a deployment's requests, a line per tier that had any (tiers
    with an objective always); authorized as the deployment is (another tenant's: 404)."""
    deployment_id = deployments.get(session, who, deployment, project=project).id
    rows = session.execute(
        select(
            GatewayRequestRow.tier, GatewayRequestRow.status, GatewayRequestRow.latency_us
        ).where(
            GatewayRequestRow.deployment_id == deployment_id,
            GatewayRequestRow.at >= now - timedelta(minutes=minutes),
        )
    )
    seen: dict[int, list[tuple[int, int]]] = {t: [] for t in objectives_ms}
    for tier, status, latency_us in rows:
        seen.setdefault(int(tier), []).append((status, latency_us))
    lines = []
    for tier in sorted(seen):
        answered = sorted(lat for status, lat in seen[tier] if status != 429)
        p95 = _p95(answered)
        objective = objectives_ms.get(tier)
        lines.append(
            TierLine(
                tier=tier,
                requests=len(seen[tier]),
                refused=sum(1 for status, _ in seen[tier] if status == 429),
                p95_ms=p95,
                objective_ms=objective,
                met=None if p95 is None or objective is None else p95 <= objective,
            )
        )
    return lines


def _p95(ordered: list[int]) -> float | None:
    """The nearest-rank 95th percentile of latencies in µs, in ms."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))] / 1000
