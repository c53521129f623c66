"""Two tenants' submits committed in one batch (the API's group commit shares reads within a
batch, store/group_commit.py): each lands in its own organization's project and queue of the
same name, a reference to the other's project is a 404 for that submit alone, and neither
tenant lists, counts or is refused by the other's jobs. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal
from aicc.services.common import NotFound, TooMany
from aicc.services.jobs import jobs, waiting
from aicc.services.tenancy import tenancy
from aicc.store.group_commit import Transactions
from aicc.store.tables.tenancy import UserRow
from aicc.testing.tenants import Tenant, make_tenant


def principal(state: AppState, tenant: Tenant) -> Principal:
    with state.db.reader() as session:
        row = session.scalars(select(UserRow).where(UserRow.id == tenant.user_id)).one()
        return tenancy.principal_of(session, row)


def submitting(
    who: Principal, spec: dict[str, Any], most: int = 3, key: str | None = None
) -> Callable[[Session], Any]:
    limits = jobs.SubmitLimits(max_pending_per_user=most)
    job = JobSpec.model_validate({"command": "true", "resources": {"cpu": "100m"}, **spec})
    return lambda session: jobs.submit(session, who, job, idempotency_key=key, limits=limits)


def test_two_tenants_in_one_batch_each_get_only_their_own(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    a, b = make_tenant(api, "batch-a"), make_tenant(api, "batch-b")
    alice, bob = principal(state, a), principal(state, b)
    # One batch that commits whole (its reads shared): both name "default", the same words for
    # another organization's project; each is held to a limit of 3 waiting jobs of its own.
    specs = [{"project": "default"}, {}, {"queue": "default"}]
    works = [submitting(who, spec) for spec in specs for who in (alice, bob)]
    answers = Transactions(state.db).commit(works)
    for k, answer in enumerate(answers):
        assert isinstance(answer, tuple) and answer[1], answer
        mine = a if k % 2 == 0 else b
        assert (answer[0].org_id, answer[0].project_id) == (mine.org_id, mine.project_id)

    # Then Bob names Alice's project by id, and each submits a fourth: every one refused, each
    # by what is its own (her project is a 404 to him; each counts 3 of its own, not 6).
    refused = Transactions(state.db).commit(
        [submitting(bob, {"project": a.project_id}), submitting(alice, {}), submitting(bob, {})]
    )
    assert isinstance(refused[0], NotFound), refused[0]
    assert f"project {a.project_id} not found" in str(refused[0])
    for answer in refused[1:]:
        assert isinstance(answer, TooMany) and "you have 3 jobs waiting" in str(answer), answer

    theirs = {a.org_id: a, b.org_id: b}
    for tenant in theirs.values():
        listed = api.get("/api/v1/jobs", headers=tenant.headers).json()["items"]
        assert {job["org_id"] for job in listed} == {tenant.org_id}
        assert len(listed) == 3
    with state.db.reader() as session:
        assert waiting.drift(session) == {}
        owners = [waiting.of_user(alice.user_id), waiting.of_user(bob.user_id)]
        assert waiting.counts(session, owners) == [3, 3]


def test_another_tenants_idempotency_key_is_no_way_to_their_job(
    server: tuple[TestClient, AppState],
) -> None:
    """A batch leaves the keys to the jobs table's unique key, which is per user: Bob sending
    Alice's key, in her batch or in a later one, gets a job of his own, never hers."""
    api, state = server
    a, b = make_tenant(api, "key-a"), make_tenant(api, "key-b")
    alice, bob = principal(state, a), principal(state, b)
    hers, his = Transactions(state.db).commit(
        [submitting(alice, {}, key="k-1"), submitting(bob, {}, key="k-1")]
    )
    (later,) = Transactions(state.db).commit([submitting(bob, {"command": "id"}, key="k-2")])
    (again,) = Transactions(state.db).commit([submitting(alice, {"command": "id"}, key="k-2")])
    for answer, tenant in ((hers, a), (his, b), (later, b), (again, a)):
        assert isinstance(answer, tuple) and answer[1], answer  # each one made anew
        assert answer[0].org_id == tenant.org_id
    assert len({answer[0].id for answer in (hers, his, later, again)}) == 4
