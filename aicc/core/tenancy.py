"""The tenancy tree (center -> organization -> project -> users) and who may do what in it.

Authorization is decided here, from a principal and the owner of an object, so every route and
every portal page asks the same question the same way. Another tenant's object is invisible
(the API answers 404, docs/contracts.md §4), so `can_read` is the test that hides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # the center's operators
    ORG_ADMIN = "org_admin"  # manages one organization: its projects, users, quotas
    MEMBER = "member"  # submits and manages jobs in the projects they belong to
    VIEWER = "viewer"  # reads the projects they belong to

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ORG_ADMIN: 2, Role.ADMIN: 3}


class OrgKind(StrEnum):
    """What kind of tenant an organization is, as a public center reports the users it served
    (the guides name 企业, 高校, 科研院所, 政府部门, 中小初创企业 and 个人开发者)."""

    ENTERPRISE = "enterprise"  # 企业
    UNIVERSITY = "university"  # 高校
    RESEARCH = "research"  # 科研院所 / 科研机构
    GOVERNMENT = "government"  # 政府部门
    STARTUP = "startup"  # 中小初创企业
    INDIVIDUAL = "individual"  # 个人开发者
    OTHER = "other"  # 其他


class Scope(StrEnum):
    """What a token may do on its user's behalf (`aicc token create --scope ...`); the user's
    role still decides what the user may do at all."""

    ALL = "all"  # everything the user may (a token made without scopes)
    READ = "read"  # every read: listings, objects, logs, estimates, metrics
    JOBS = "jobs"  # reads, and jobs, their working directories, notebooks, template runs
    DATA = "data"  # reads, and data sets, models and templates
    DEPLOYMENTS = "deployments"  # reads, and deployments and their API keys


def allows(scopes: frozenset[Scope], needed: Scope) -> bool:
    """Whether a token's scopes cover a request needing `needed`: `all` covers everything,
    every other scope covers reads and its own writes."""
    return Scope.ALL in scopes or needed in scopes or (needed is Scope.READ and bool(scopes))


@dataclass(frozen=True)
class Principal:
    """The caller of a route: who, in which organization, with which role, in which projects."""

    user_id: str
    name: str
    org_id: str
    role: Role
    project_ids: frozenset[str] = field(default_factory=frozenset)
    # what the token it came with may do; a portal session or a job: everything its user may
    scopes: frozenset[Scope] = frozenset({Scope.ALL})
    default_project_id: str | None = None  # where a job without `project` goes

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def can_read(who: Principal, *, org_id: str, project_id: str | None = None) -> bool:
    """Admins read everything; org admins their organization; others their own projects."""
    if who.is_admin:
        return True
    if who.org_id != org_id:
        return False
    if who.role is Role.ORG_ADMIN or project_id is None:
        return True
    return project_id in who.project_ids


def can_write(who: Principal, *, org_id: str, project_id: str | None = None) -> bool:
    """Writing needs read access and at least the member role (viewers only look)."""
    return who.role.rank >= Role.MEMBER.rank and can_read(who, org_id=org_id, project_id=project_id)


def can_manage(who: Principal, *, org_id: str) -> bool:
    """Organization-level administration: projects, users, queues, quotas of that organization."""
    return who.is_admin or (who.role is Role.ORG_ADMIN and who.org_id == org_id)


def can_manage_user(who: Principal, *, user_id: str, org_id: str) -> bool:
    """A user's account and credentials (tokens, S3 keys): their own, or another's for the
    admins of that user's organization and the center's."""
    return user_id == who.user_id or can_manage(who, org_id=org_id)


@dataclass(frozen=True)
class Quota:
    """Guaranteed and maximum (borrowable) amounts per resource name (`cpu_milli`, `memory_mib`,
    `pflops`, or an accelerator model in milli). A missing key means no limit at that level."""

    guaranteed: Mapping[str, float] = field(default_factory=dict)
    max: Mapping[str, float] = field(default_factory=dict)

    def check(self) -> list[str]:
        """Problems a person must fix: negative amounts, a guarantee above its maximum."""
        # Both levels are checked: merging them would let a valid max hide a negative guarantee.
        amounts = [*self.guaranteed.items(), *self.max.items()]
        problems = list(dict.fromkeys(f"{k} must not be negative" for k, v in amounts if v < 0))
        problems += [
            f"guaranteed {k} ({v}) exceeds max ({self.max[k]})"
            for k, v in self.guaranteed.items()
            if k in self.max and v > self.max[k]
        ]
        return problems
