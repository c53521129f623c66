"""Quotas only flow down, as the scheduler sees them: what an organization admin tries to give
itself never reaches the quota tree the scheduler preempts by (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core.tenancy import Role
from aicc.scheduler.quota import QuotaTree
from aicc.services.common import Invalid
from aicc.services.jobs import quotas, snapshots
from aicc.services.tenancy import tenancy


def test_a_self_granted_guarantee_never_reaches_the_schedulers_quota_tree(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    with state.db.session() as session:
        org = tenancy.create_org(session, None, name="acme")
        admin = tenancy.create_user(
            session, None, name="acme-admin", role=Role.ORG_ADMIN, org_id=org.id
        )
        who = tenancy.principal_of(session, admin)
        project = tenancy.create_project(session, who, name="vision")
        for grab in ({"cpu_milli": 2000}, {"A100-80GB": 0}, {"pflops": 1}):
            with pytest.raises(Invalid) as refused:
                quotas.set_project(session, who, project.id, quotas.QuotaIn(guaranteed=grab))
            assert refused.value.status == 422
            (key,) = quotas.QuotaIn(guaranteed=grab).guaranteed
            assert f"guaranteed {key}: the organization has none to give (0 available" in str(
                refused.value
            )
    with state.db.reader() as session:
        tree = QuotaTree(snapshots.tenants(session))
    assert tree.governed == frozenset()  # nothing guaranteed: no job of anyone is "borrowed"
    assert tree.by_id[project.id].quota.guaranteed == {}
