"""The tenancy tree as the contexts above tenancy read it: organizations, projects and users by
id or name, the projects' organizations and names, and their quotas. Tenancy owns these
tables (`store/tables/tenancy.py`); the others read them only here, and write a quota only through
`set_quota`, so a change of the tables changes this module and its callers' answers stay.

Nothing here checks a caller: each caller has checked, or acts as the server. A lookup by id
goes through the session's identity map (`session.get`), as the callers' own reads did, so a
listing that asks for the same project again reads it once. Where a caller filters or joins
its own table by the tree, it gets a `select` of ids or a subquery to put in its own query,
which stays one query (`project_ids`, `org_ids`, `project_orgs_joined`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Subquery, func, or_, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Quota
from aicc.services.tenancy.tenancy import principal_of
from aicc.services.tenancy.views import Org, Project, User
from aicc.store.tables.tenancy import OrgRow, ProjectRow, UserRow

# --- one by id or by name ---


def project(session: Session, project_id: str) -> Project | None:
    """A project by id; None when there is none."""
    row = session.get(ProjectRow, project_id)
    return None if row is None else Project.model_validate(row, from_attributes=True)


def projects(session: Session, project_ids: Iterable[str]) -> dict[str, Project]:
    """These projects by id, in one query (an unknown id is absent): a listing's projects."""
    wanted = set(project_ids)
    if not wanted:
        return {}
    rows = session.scalars(select(ProjectRow).where(ProjectRow.id.in_(wanted)))
    return {row.id: Project.model_validate(row, from_attributes=True) for row in rows}


def project_named_lower(session: Session, org_name: str, name: str) -> Project | None:
    """The project `name` of organization `org_name`, both compared in lowercase (as image
    references name them); None when there is none."""
    query = (
        select(ProjectRow)
        .join(OrgRow, OrgRow.id == ProjectRow.org_id)
        .where(func.lower(OrgRow.name) == org_name, func.lower(ProjectRow.name) == name)
    )
    row = session.scalars(query).first()
    return None if row is None else Project.model_validate(row, from_attributes=True)


def org(session: Session, org_id: str) -> Org | None:
    """An organization by id; None when there is none."""
    row = session.get(OrgRow, org_id)
    return None if row is None else Org.model_validate(row, from_attributes=True)


def org_by_ref(session: Session, ref: str) -> Org | None:
    """An organization by its name or its id, as a person writes it; None when neither."""
    row = session.scalar(select(OrgRow).where(or_(OrgRow.name == ref, OrgRow.id == ref)))
    return None if row is None else Org.model_validate(row, from_attributes=True)


def user(session: Session, user_id: str) -> User | None:
    """A user by id (never the password's hash); None when there is none."""
    row = session.get(UserRow, user_id)
    return None if row is None else User.model_validate(row, from_attributes=True)


def user_named(session: Session, name: str, *, org_name: str | None = None) -> User | None:
    """The user of this name (user names are unique); with `org_name`, only if they are in the
    organization of that name."""
    query = select(UserRow).where(UserRow.name == name)
    if org_name is not None:
        query = query.join(OrgRow, OrgRow.id == UserRow.org_id).where(OrgRow.name == org_name)
    row = session.scalar(query)
    return None if row is None else User.model_validate(row, from_attributes=True)


def principal_named(session: Session, name: str, *, org_name: str) -> Principal | None:
    """The principal of the user `name` in the organization `org_name`; None when there is no
    such user there."""
    found = user_named(session, name, org_name=org_name)
    return None if found is None else principal_of(session, found)


# --- every project at once ---


def project_orgs(session: Session) -> dict[str, str]:
    """Every project's organization, by project id, in one query (the scheduler's snapshot)."""
    return {p: o for p, o in session.execute(select(ProjectRow.id, ProjectRow.org_id))}


def project_names(session: Session) -> dict[str, str]:
    """Every project's name, by project id, in one query (the metrics' labels)."""
    return {p: n for p, n in session.execute(select(ProjectRow.id, ProjectRow.name))}


# --- to filter or join in the caller's own query ---


def project_ids(
    *, org_id: str | None = None, org_name: str | None = None, name: str | None = None
) -> Select[Any]:
    """A `select` of the ids of the projects of organization `org_id` (or the one named
    `org_name`) and of name `name`, whichever are given, for the caller's `in_`."""
    query = select(ProjectRow.id)
    if org_id is not None:
        query = query.where(ProjectRow.org_id == org_id)
    if org_name is not None:
        query = query.join(OrgRow, OrgRow.id == ProjectRow.org_id).where(OrgRow.name == org_name)
    if name is not None:
        query = query.where(ProjectRow.name == name)
    return query


def org_ids(ref: str) -> Select[Any]:
    """A `select` of the id of the organization named or identified by `ref`, for the caller's
    `in_`."""
    return select(OrgRow.id).where(or_(OrgRow.name == ref, OrgRow.id == ref))


def project_orgs_joined() -> Subquery:
    """Every project's `id`, `org_id` and `org_name` as a subquery the caller joins in its own
    query (an inner join: rows of a project that is gone drop out, as a join on the tables)."""
    return (
        select(ProjectRow.id, ProjectRow.org_id, OrgRow.name.label("org_name"))
        .join(OrgRow, OrgRow.id == ProjectRow.org_id)
        .subquery("project_orgs")
    )


# --- quotas: stored on the tree, ruled by jobs (services/jobs/quotas.py) ---


@dataclass(frozen=True)
class Quoted:
    """An organization or a project with its stored quota: `org_id` is an organization's own
    id, a project's organization's."""

    id: str
    name: str
    org_id: str
    quota: Quota


def _quota(stored: dict[str, Any] | None) -> Quota:
    stored = stored or {}
    return Quota(guaranteed=stored.get("guaranteed", {}), max=stored.get("max", {}))


def org_quotas(session: Session) -> list[Quoted]:
    """Every organization's quota, in one query."""
    query = select(OrgRow.id, OrgRow.name, OrgRow.quota)
    return [Quoted(i, n, i, _quota(q)) for i, n, q in session.execute(query)]


def project_quotas(session: Session, *, org_id: str | None = None) -> list[Quoted]:
    """Every project's quota (`org_id`: of that organization's projects), in one query."""
    query = select(ProjectRow.id, ProjectRow.name, ProjectRow.org_id, ProjectRow.quota)
    if org_id is not None:
        query = query.where(ProjectRow.org_id == org_id)
    return [Quoted(i, n, o, _quota(q)) for i, n, o, q in session.execute(query)]


def set_quota(session: Session, kind: str, object_id: str, quota: Quota) -> Org | Project:
    """Store the quota of organization (`kind` "org") or project `object_id`, which exists; the
    rules of who may set what are the caller's (jobs' quotas), as its audit and notice."""
    stored = {"guaranteed": dict(quota.guaranteed), "max": dict(quota.max)}
    if kind == "org":
        org_row = session.get(OrgRow, object_id)
        assert org_row is not None
        org_row.quota = stored
        return Org.model_validate(org_row, from_attributes=True)
    project_row = session.get(ProjectRow, object_id)
    assert project_row is not None
    project_row.quota = stored
    return Project.model_validate(project_row, from_attributes=True)


def hold(session: Session, org_id: str, project_id: str) -> None:
    """Lock the organization's row, then the project's, until the transaction ends: the next
    holder of either waits for what this transaction adds (PostgreSQL; SQLite has no row locks
    and needs none, its writers taking the database's lock first)."""
    session.execute(select(OrgRow.id).where(OrgRow.id == org_id).with_for_update())
    session.execute(select(ProjectRow.id).where(ProjectRow.id == project_id).with_for_update())
