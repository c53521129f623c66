"""A deployment's traffic a minute (`services.gateway.traffic`, the portal's live charts) from
request log rows as the gateway writes them, on SQLite and PostgreSQL; another tenant's
deployment is not found."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core.tenancy import Principal, Role
from aicc.services.common import NotFound, utcnow
from aicc.services.serving import gateway as gw
from aicc.testing.tenants import Tenant, make_tenant


def test_requests_are_counted_a_minute_with_errors_percentiles_and_tokens(
    server: tuple[TestClient, AppState], tenant_b: Tenant
) -> None:
    api, state = server
    made = api.post(
        "/api/v1/deployments",
        json={"name": "quiet", "command": "sleep 600"},
        headers=tenant_b.headers,
    ).json()
    now = utcnow().replace(second=30, microsecond=0)
    records = [
        gw.RequestRecord(
            id=f"req_t{i}",
            org_id=tenant_b.org_id,
            project_id=tenant_b.project_id,
            deployment_id=made["id"],
            key_id="key_x",
            route="chat",
            status=503 if i == 9 else 200,
            stream=False,
            billable=i != 9,
            prompt_tokens=1,
            completion_tokens=2,
            latency_us=(i + 1) * 1000,
            attempts=1,
            replica=None,
            at=now - timedelta(minutes=45 if i == 10 else 2),  # one past the span
        )
        for i in range(11)
    ]
    gw.record(state.db, records)
    who = Principal(
        tenant_b.user_id,
        "tenant-b-user",
        tenant_b.org_id,
        Role.MEMBER,
        frozenset({tenant_b.project_id}),
    )
    with state.db.reader() as session:
        minutes = gw.traffic(
            session, who, project=tenant_b.project_id, deployment="quiet", minutes=30, now=now
        )
    assert len(minutes) == 31 and minutes[-1].at == now.replace(second=0)
    busy = [m for m in minutes if m.requests]
    assert [m.at for m in busy] == [now.replace(second=0) - timedelta(minutes=2)]
    assert (busy[0].requests, busy[0].errors, busy[0].tokens) == (10, 1, 30)
    assert (busy[0].p50_ms, busy[0].p95_ms) == (5.0, 10.0)  # nearest rank of 1..10 ms
    assert all(m.p50_ms is None for m in minutes if not m.requests)

    other = make_tenant(api, "tenant-c")
    stranger = Principal(
        other.user_id, "tenant-c-user", other.org_id, Role.MEMBER, frozenset({other.project_id})
    )
    with state.db.reader() as session, pytest.raises(NotFound):
        gw.traffic(session, stranger, project=tenant_b.project_id, deployment="quiet", now=now)
