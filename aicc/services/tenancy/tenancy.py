"""Organizations, projects, users, memberships and queues: the tenancy tree and its lanes.

Every function takes the acting principal and refuses what its role may not do; objects of another
tenant raise NotFound, so their existence does not leak.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import OrgKind, Principal, Role, can_manage, can_manage_user, can_read
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.tenancy import audit
from aicc.services.tenancy.passwords import check_password, hash_password
from aicc.services.tenancy.views import Me, Org, Project, Queue, User
from aicc.store import group_commit
from aicc.store.tables.base import table
from aicc.store.tables.tenancy import (
    MembershipRow,
    OrgRow,
    PortalSessionRow,
    ProjectRow,
    QueueRow,
    UserRow,
)

DEFAULT = "default"


def principal_of(session: Session, user: User | UserRow) -> Principal:
    projects = session.scalars(
        select(MembershipRow.project_id).where(MembershipRow.user_id == user.id)
    )
    return Principal(
        user_id=user.id,
        name=user.name,
        org_id=user.org_id,
        role=Role(user.role),
        project_ids=frozenset(projects),
        default_project_id=user.default_project_id,
    )


# --- organizations ---


def _kind(kind: str) -> str:
    if kind not in {k.value for k in OrgKind}:
        raise Invalid(
            "kind: {kind!r} is not a kind of organization; use one of {kinds}",
            kind=kind,
            kinds=", ".join(k.value for k in OrgKind),
        )
    return kind


def create_org(
    session: Session,
    who: Principal | None,
    *,
    name: str,
    display_name: str = "",
    kind: str = OrgKind.OTHER.value,
) -> Org:
    if who is not None and not who.is_admin:
        raise Forbidden("only center admins create organizations")
    if session.scalar(select(OrgRow).where(OrgRow.name == name)):
        raise Conflict("organization {name!r} exists already", name=name)
    org = OrgRow(
        id=new_id("org"),
        name=name,
        display_name=display_name or name,
        kind=_kind(kind),
        created_at=utcnow(),
    )
    session.add(org)
    session.flush()
    create_project(session, None, name=DEFAULT, org_id=org.id)
    detail = {"name": name, "kind": org.kind}
    audit.record(session, who, "org.create", "org", org.id, org_id=org.id, detail=detail)
    return Org.model_validate(org, from_attributes=True)


def update_org(
    session: Session,
    who: Principal,
    org_id: str,
    *,
    kind: str | None = None,
    display_name: str | None = None,
) -> Org:
    """Change what kind of tenant an organization is, or its display name (center admins: the
    kind decides how the center's reports count it). Another tenant's is a 404."""
    get_org(session, who, org_id)
    if not who.is_admin:
        raise Forbidden("only center admins change an organization's kind and name")
    org = session.get(OrgRow, org_id)
    assert org is not None
    changed: dict[str, str] = {}
    if kind is not None and kind != org.kind:
        org.kind = changed["kind"] = _kind(kind)
    if display_name is not None and display_name != org.display_name:
        org.display_name = changed["display_name"] = display_name
    if changed:
        audit.record(session, who, "org.update", "org", org.id, org_id=org.id, detail=changed)
        session.flush()
    return Org.model_validate(org, from_attributes=True)


def get_org(session: Session, who: Principal, org_id: str) -> Org:
    org = session.get(OrgRow, org_id)
    if org is None or not can_read(who, org_id=org.id):
        raise NotFound("organization {org_id} not found", org_id=org_id)
    return Org.model_validate(org, from_attributes=True)


def org_name(session: Session, org_id: str) -> str:
    """An organization's name, or its id where it is gone, for the contexts above tenancy that
    show whose something is; it checks no caller, as those contexts have."""
    org = session.get(OrgRow, org_id)
    return org.name if org is not None else org_id


def org_names(session: Session, org_ids: Iterable[str]) -> dict[str, str]:
    """The names of these organizations (an unknown id is absent), for the contexts above
    tenancy that show whose something is; it checks no caller, as those contexts have."""
    wanted = set(org_ids)
    query = select(OrgRow.id, OrgRow.name).where(OrgRow.id.in_(wanted))
    return {org_id: name for org_id, name in session.execute(query)} if wanted else {}


def user_names(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """The names of these users (an unknown id is absent), as `org_names`."""
    wanted = set(user_ids)
    query = select(UserRow.id, UserRow.name).where(UserRow.id.in_(wanted))
    return {user_id: name for user_id, name in session.execute(query)} if wanted else {}


def principal_by_id(session: Session, user_id: str) -> Principal | None:
    """The principal of a user, for acting as them (a job's user); None for an unknown id."""
    row = session.get(UserRow, user_id)
    return None if row is None else principal_of(session, row)


def counts(session: Session) -> tuple[int, int]:
    """How many organizations and users the center has (a backup's manifest)."""
    orgs = session.scalar(select(func.count()).select_from(OrgRow)) or 0
    return int(orgs), int(session.scalar(select(func.count()).select_from(UserRow)) or 0)


def first_admin(session: Session, *, enabled: bool = False) -> Principal | None:
    """The center's oldest admin (`enabled`: of those not disabled), as whom the center's own
    jobs run (scoring, burn-in); None when it has none."""
    query = select(UserRow).where(UserRow.role == Role.ADMIN.value)
    if enabled:
        query = query.where(UserRow.disabled.is_(False))
    row = session.scalar(query.order_by(UserRow.created_at, UserRow.id).limit(1))
    return None if row is None else principal_of(session, row)


def project_named(session: Session, org: str, project: str) -> tuple[str, str] | None:
    """(organization id, project id) of ORG/PROJECT by their names; None when either is missing."""
    query = (
        select(OrgRow.id, ProjectRow.id)
        .join(ProjectRow, ProjectRow.org_id == OrgRow.id)
        .where(OrgRow.name == org, ProjectRow.name == project)
    )
    found = session.execute(query).first()
    return None if found is None else (found[0], found[1])


def queue_lanes(session: Session) -> list[tuple[str, int | None]]:
    """Every queue's id and how many of its jobs may run at once (None: no limit)."""
    return [(q.id, q.max_running) for q in session.scalars(select(QueueRow))]


def member_ids(session: Session, project_id: str) -> set[str]:
    """The ids of a project's members (the notifications' recipients of its events)."""
    query = select(MembershipRow.user_id).where(MembershipRow.project_id == project_id)
    return set(session.scalars(query))


def org_admin_ids(session: Session, org_id: str) -> set[str]:
    """The ids of an organization's admins."""
    query = select(UserRow.id).where(UserRow.org_id == org_id, UserRow.role == Role.ORG_ADMIN.value)
    return set(session.scalars(query))


def project_ids_of(session: Session, user_id: str) -> list[str]:
    """The ids of the projects a user is a member of."""
    query = select(MembershipRow.project_id).where(MembershipRow.user_id == user_id)
    return list(session.scalars(query))


def list_orgs(session: Session, who: Principal) -> list[Org]:
    query = select(OrgRow).order_by(OrgRow.created_at)
    if not who.is_admin:
        query = query.where(OrgRow.id == who.org_id)
    return [Org.model_validate(row, from_attributes=True) for row in session.scalars(query)]


def _org_of_new(
    session: Session,
    who: Principal | None,
    org_id: str | None,
    *,
    unnamed: Invalid,
    refused: Forbidden,
) -> str:
    """The organization a new project or user goes in: `org_id`, or the caller's own (`unnamed`
    when neither is known); a caller who does not manage it is `refused` (another tenant's: a
    404). `who` None: the server itself, which may."""
    org_id = org_id or (who.org_id if who else None)
    if org_id is None:
        raise unnamed
    if who is not None:
        get_org(session, who, org_id)
        if not can_manage(who, org_id=org_id):
            raise refused
    return org_id


# --- projects and queues ---


def create_project(
    session: Session, who: Principal | None, *, name: str, org_id: str | None = None
) -> Project:
    org_id = _org_of_new(
        session,
        who,
        org_id,
        unnamed=Invalid("org_id: name the organization of the project"),
        refused=Forbidden("only organization admins create projects"),
    )
    exists = select(ProjectRow).where(ProjectRow.org_id == org_id, ProjectRow.name == name)
    if session.scalar(exists):
        raise Conflict("project {name!r} exists already in this organization", name=name)
    row = ProjectRow(id=new_id("prj"), org_id=org_id, name=name, created_at=utcnow())
    session.add(row)
    session.flush()
    project = Project.model_validate(row, from_attributes=True)
    create_queue(session, None, project=project, name=DEFAULT)
    audit.record(session, who, "project.create", "project", project.id, org_id=org_id)
    return project


# Each submit resolves its project and queue: read as plain rows, statements built once (the
# ORM's identity map and a statement's cache key cost more than the query on SQLite).
_PROJECTS, _QUEUES = table(ProjectRow), table(QueueRow)
_PROJECT_BY_ID = select(_PROJECTS).where(_PROJECTS.c.id == bindparam("id"))
_PROJECT_BY_NAME = select(_PROJECTS).where(
    _PROJECTS.c.org_id == bindparam("org_id"), _PROJECTS.c.name == bindparam("name")
)
_QUEUE = select(_QUEUES).where(
    _QUEUES.c.project_id == bindparam("project_id"), _QUEUES.c.name == bindparam("name")
)


def visible_project(session: Session, who: Principal, project_id: str) -> Project:
    project = _project(session, _PROJECT_BY_ID, {"id": project_id})
    if project is None or not can_read(who, org_id=project.org_id, project_id=project.id):
        raise NotFound("project {project_id} not found", project_id=project_id)
    return project


def resolve_project(session: Session, who: Principal, ref: str | None) -> Project:
    """A project by id or by name in the caller's organization; None means the caller's default."""
    if ref is None:
        if who.default_project_id:
            return visible_project(session, who, who.default_project_id)
        ref = DEFAULT
    if ref.startswith("prj_"):
        return visible_project(session, who, ref)
    project = _project(session, _PROJECT_BY_NAME, {"org_id": who.org_id, "name": ref})
    if project is None or not can_read(who, org_id=project.org_id, project_id=project.id):
        raise NotFound("project {ref!r} not found; `aicc project list` shows yours", ref=ref)
    return project


def _project(session: Session, query: Select[Any], params: dict[str, str]) -> Project | None:
    """The project `query` finds, read once per batch of submits (`group_commit.shared`: no
    submit changes a project); who may see it, each caller checks."""

    def read() -> Project | None:
        row = session.execute(query, params).first()
        return None if row is None else Project.model_validate(row, from_attributes=True)

    return group_commit.shared(session, (query, *params.values()), read)


def list_projects(session: Session, who: Principal) -> list[Project]:
    rows = session.scalars(select(ProjectRow).order_by(ProjectRow.created_at))
    return [
        Project.model_validate(p, from_attributes=True)
        for p in rows
        if can_read(who, org_id=p.org_id, project_id=p.id)
    ]


def add_member(session: Session, who: Principal, *, project_id: str, user_id: str) -> Project:
    project = visible_project(session, who, project_id)
    if not can_manage(who, org_id=project.org_id):
        raise Forbidden("only organization admins manage project members")
    user = session.get(UserRow, user_id)
    if user is None or user.org_id != project.org_id:
        raise NotFound("user {user_id} not found in this organization", user_id=user_id)
    if session.get(MembershipRow, (user_id, project_id)) is None:
        session.add(MembershipRow(user_id=user_id, project_id=project_id))
        audit.record(
            session, who, "project.add_member", "project", project_id, detail={"user_id": user_id}
        )
    return project


def create_queue(
    session: Session,
    who: Principal | None,
    *,
    project: Project,
    name: str,
    priority: int = 100,
    max_runtime_s: int | None = None,
    max_pending: int | None = None,
    max_running: int | None = None,
    max_replicas_per_job: int | None = None,
) -> Queue:
    if who is not None and not can_manage(who, org_id=project.org_id):
        raise Forbidden("only organization admins create queues")
    exists = select(QueueRow).where(QueueRow.project_id == project.id, QueueRow.name == name)
    if session.scalar(exists):
        raise Conflict(
            "queue {name!r} exists already in project {project}", name=name, project=project.name
        )
    queue = QueueRow(
        id=new_id("que"),
        project_id=project.id,
        name=name,
        priority=priority,
        max_runtime_s=max_runtime_s,
        max_pending=max_pending,
        max_running=max_running,
        max_replicas_per_job=max_replicas_per_job,
        created_at=utcnow(),
    )
    session.add(queue)
    session.flush()
    if who is not None:
        audit.record(session, who, "queue.create", "queue", queue.id, org_id=project.org_id)
    return Queue.model_validate(queue, from_attributes=True)


def resolve_queue(session: Session, project: Project, name: str | None) -> Queue:
    params = {"project_id": project.id, "name": name or DEFAULT}

    def read() -> Queue | None:  # once per batch of submits: no submit changes a queue
        row = session.execute(_QUEUE, params).first()
        return None if row is None else Queue.model_validate(row, from_attributes=True)

    queue = group_commit.shared(session, (_QUEUE, project.id, params["name"]), read)
    if queue is None:
        raise NotFound(
            "queue {name!r} not found in project {project}", name=name, project=project.name
        )
    return queue


def list_queues(session: Session, who: Principal, project_ref: str | None) -> list[Queue]:
    if project_ref is not None:
        projects = [resolve_project(session, who, project_ref)]
    else:
        projects = list_projects(session, who)
    ids = [p.id for p in projects]
    rows = session.scalars(select(QueueRow).where(QueueRow.project_id.in_(ids)))
    return [Queue.model_validate(row, from_attributes=True) for row in rows]


# --- users ---


def create_user(
    session: Session,
    who: Principal | None,
    *,
    name: str,
    role: Role,
    org_id: str | None = None,
    project_ids: list[str] | None = None,
    password: str | None = None,
    email: str | None = None,
) -> User:
    org_id = _org_of_new(
        session,
        who,
        org_id,
        unnamed=Invalid("org_id: name the organization of the user"),
        refused=Forbidden("only organization admins create users"),
    )
    if who is not None and role is Role.ADMIN and not who.is_admin:
        raise Forbidden("only center admins create center admins")
    if session.scalar(select(UserRow).where(UserRow.name == name)):
        raise Conflict("user {name!r} exists already", name=name)
    if password is not None and len(password) < 8:
        raise Invalid("password: use at least 8 characters")
    default_project = session.scalar(
        select(ProjectRow).where(ProjectRow.org_id == org_id, ProjectRow.name == DEFAULT)
    )
    user = UserRow(
        id=new_id("usr"),
        name=name,
        org_id=org_id,
        role=role.value,
        email=email,
        password_hash=hash_password(password) if password else None,
        default_project_id=default_project.id if default_project else None,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    members = list(project_ids or ([default_project.id] if default_project else []))
    for project_id in members:
        project = session.get(ProjectRow, project_id)
        if project is None or project.org_id != org_id:
            raise NotFound(
                "project {project_id} not found in this organization", project_id=project_id
            )
        session.add(MembershipRow(user_id=user.id, project_id=project_id))
    audit.record(session, who, "user.create", "user", user.id, org_id=org_id, detail={"role": role})
    return User.model_validate(user, from_attributes=True)


def get_user(session: Session, who: Principal, user_id: str) -> User:
    user = session.get(UserRow, user_id)
    if user is None or not can_manage_user(who, user_id=user.id, org_id=user.org_id):
        if user is not None and can_read(who, org_id=user.org_id):
            raise Forbidden("only organization admins read other users")
        raise NotFound("user {user_id} not found", user_id=user_id)
    return User.model_validate(user, from_attributes=True)


def set_disabled(session: Session, who: Principal, user_id: str, disabled: bool) -> User:
    """Disable or re-enable a user. Center admins may change anyone, organization admins the
    users of their organization who are not center admins; nobody themselves, and the last
    enabled center admin stays enabled, so the center is never locked out.

    A disabled user's tokens and portal sessions are refused on every request
    (`tokens.find`, `sessions.resolve`); disabling also deletes the sessions, so re-enabling
    does not revive them: the person signs in again. Their tokens work again once re-enabled."""
    user = session.get(UserRow, user_id)
    if user is None or not can_read(who, org_id=user.org_id):
        raise NotFound("user {user_id} not found", user_id=user_id)
    verb = "disable" if disabled else "enable"
    if user.id == who.user_id:
        if disabled:
            raise Conflict("you cannot disable yourself; another administrator must")
        raise Conflict("you cannot enable yourself; another administrator must")
    if not can_manage(who, org_id=user.org_id):
        if disabled:
            raise Forbidden("only organization admins disable users")
        raise Forbidden("only organization admins enable users")
    if user.role == Role.ADMIN.value and not who.is_admin:
        if disabled:
            raise Forbidden("only center admins disable center admins")
        raise Forbidden("only center admins enable center admins")
    if user.disabled == disabled:
        return User.model_validate(user, from_attributes=True)
    if disabled and user.role == Role.ADMIN.value:
        # Locked in one order, so two admins disabling each other at once cannot both succeed
        # (PostgreSQL; SQLite's writers are serialized anyway).
        admins = session.scalars(
            select(UserRow.id)
            .where(UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False))
            .order_by(UserRow.id)
            .with_for_update()
        )
        if not [a for a in admins if a != user.id]:
            raise Conflict(
                "{name} is the last enabled center admin; enable another first", name=user.name
            )
    user.disabled = disabled
    if disabled:
        session.execute(delete(PortalSessionRow).where(PortalSessionRow.user_id == user.id))
    audit.record(
        session,
        who,
        f"user.{verb}",
        "user",
        user.id,
        org_id=user.org_id,
        detail={"name": user.name},
    )
    return User.model_validate(user, from_attributes=True)


MIN_PASSWORD = 8


def set_password(
    session: Session,
    who: Principal,
    user_id: str,
    *,
    password: str,
    old_password: str | None = None,
) -> User:
    """A user's new password. Your own needs the one you have now (none asked where you have
    none yet: a user made without one, the first admin), so a token or a session left open is
    not enough to take over the account; an organization admin sets (resets) one of their
    organization's users' without it, a center admin anyone's, and then the user's portal
    sessions end. Another organization's user is a 404; the audit entry names who, never the
    password."""
    user = session.get(UserRow, user_id)
    if user is None or not can_read(who, org_id=user.org_id):
        raise NotFound("user {user_id} not found", user_id=user_id)
    own = user.id == who.user_id
    if not own and not can_manage(who, org_id=user.org_id):
        raise Forbidden("only organization admins set other users' passwords")
    if not own and user.role == Role.ADMIN.value and not who.is_admin:
        raise Forbidden("only center admins set center admins' passwords")
    if len(password) < MIN_PASSWORD:
        raise Invalid("password: use at least 8 characters")
    if own and user.password_hash and not check_password(old_password or "", user.password_hash):
        raise Invalid("old_password: that is not your current password")
    user.password_hash = hash_password(password)
    if not own:  # a reset: whoever holds a session of theirs signs in again
        session.execute(delete(PortalSessionRow).where(PortalSessionRow.user_id == user.id))
    audit.record(
        session,
        who,
        "user.password",
        "user",
        user.id,
        org_id=user.org_id,
        detail={"name": user.name, "by": "self" if own else "admin"},
    )
    return User.model_validate(user, from_attributes=True)


def list_users(session: Session, who: Principal) -> list[User]:
    query = select(UserRow).order_by(UserRow.created_at)
    if who.role is Role.ORG_ADMIN:
        query = query.where(UserRow.org_id == who.org_id)
    elif not who.is_admin:
        query = query.where(UserRow.id == who.user_id)
    return [User.model_validate(row, from_attributes=True) for row in session.scalars(query)]


def me(session: Session, who: Principal) -> Me:
    """The caller as `GET /me` shows them."""
    return Me(
        user=get_user(session, who, who.user_id),
        org=get_org(session, who, who.org_id),
        projects=list_projects(session, who),
    )


def bootstrap(session: Session) -> User | None:
    """First start: org, project and queue `default`, and an admin. None if already done."""
    if session.scalar(select(OrgRow).limit(1)) is not None:
        return None
    org = create_org(session, None, name=DEFAULT, display_name="Default organization")
    return create_user(session, None, name="admin", role=Role.ADMIN, org_id=org.id)


def write_secret_file(path: Path, content: str) -> None:
    """Create the file with mode 0600 before any byte of the secret is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.chmod(path, 0o600)
