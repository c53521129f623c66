"""Quotas on the tenancy tree: an organization's share of the center, a project's of its
organization. `guaranteed` is promised; `max` is the ceiling when borrowing idle capacity.

Keys are `cpu_milli`, `memory_mib`, `pflops`, or an accelerator model (catalog name) in milli;
and `storage_gib`, data set storage, a ceiling only (`max`), checked when a push begins and
commits (services/data/storage.py), never by the scheduler.
Quotas only flow down: only center admins set an organization's; the projects of an organization
cannot be promised more than it is (nothing of a resource it has no guarantee of), nor a higher
max than its own. A guarantee is what lets a job preempt another tenant's borrowed work, so one
an organization admin could give itself would let it take any tenant's running jobs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy.orm import Session

from aicc.core import accelerator_names
from aicc.core.tenancy import Principal, Quota, can_manage
from aicc.services.common import Forbidden, Invalid
from aicc.services.data import storage
from aicc.services.jobs import usage
from aicc.services.notify import events
from aicc.services.tenancy import audit, directory, tenancy
from aicc.services.tenancy.directory import Quoted
from aicc.services.tenancy.views import Org, Project

PLAIN_KEYS = ("cpu_milli", "memory_mib", "pflops", storage.KEY)
EPSILON = 1e-9


def canonical_key(key: str) -> str:
    if key in PLAIN_KEYS:
        return key
    try:
        return accelerator_names.lookup(key).name
    except KeyError as err:
        raise ValueError(
            f"{key}: not cpu_milli, memory_mib, pflops, storage_gib or a known model "
            f"({err.args[0]})"
        ) from None


MAX_KEYS = 64  # resources in one quota: the three kinds and the catalog's models fit well within
MAX_AMOUNT = 1e15  # above any center: 10^5 nodes of the largest node the inventory accepts


class QuotaIn(BaseModel):
    """What an operator sets; amounts in stored units (docs/contracts.md §1), models in milli."""

    model_config = ConfigDict(extra="forbid")
    guaranteed: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)

    @field_validator("guaranteed", "max")
    @classmethod
    def _keys(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        if len(value) > MAX_KEYS:
            raise ValueError(f"at most {MAX_KEYS} resources")
        out = {canonical_key(k): v for k, v in value.items()}
        if info.field_name == "guaranteed" and storage.KEY in out:
            raise ValueError(f"{storage.KEY} is a ceiling: set it in max")
        if not all(math.isfinite(v) and 0 <= v <= MAX_AMOUNT for v in out.values()):
            raise ValueError(f"amounts must be numbers from 0 to {MAX_AMOUNT:g}")
        return out

    def quota(self) -> Quota:
        return Quota(guaranteed=self.guaranteed, max=self.max)


def as_dict(quota: Quota) -> dict[str, dict[str, float]]:
    return {"guaranteed": dict(quota.guaranteed), "max": dict(quota.max)}


def of(holder: Org | Project | Quoted) -> Quota:
    if isinstance(holder, Quoted):  # tenancy's directory: its quota parsed already
        return holder.quota
    return Quota(guaranteed=dict(holder.quota.guaranteed), max=dict(holder.quota.max))


def _check(quota: Quota) -> None:
    problems = quota.check()
    if problems:
        raise Invalid("quota: {problems}", problems="; ".join(problems))


def _save(
    session: Session, who: Principal, kind: str, row_id: str, quota: Quota, *, org_id: str
) -> Org | Project:
    """Store the quota of the organization (`kind` "org") or project, found a moment ago in
    this transaction, through tenancy's writer, audit it (`quota.set`), and answer it."""
    row = directory.set_quota(session, kind, row_id, quota)
    stored = as_dict(quota)
    audit.record(session, who, "quota.set", kind, row.id, org_id=org_id, detail=stored)
    events.emit(
        session,
        "quota.changed",
        org_id=org_id,
        project_id=row.id if kind == "project" else None,
        subject=f"quota of {OF[kind]} {{name}} changed",
        body=f"{{who}} set the quota of {OF[kind]} {{name}}: {{quota}}.",
        params={"name": row.name, "who": who.name, "quota": _said(stored)},
        data={"object_type": kind, "object_id": row.id, "quota": stored},
    )
    return row


OF = {"org": "organization", "project": "project"}  # what a quota notice names (its template)


def _said(quota: dict[str, dict[str, float]]) -> str:
    """A quota as a person reads it: `max cpu_milli 16000, guaranteed A100-80GB 2000`."""
    parts = [
        f"{level} {k} {_fmt(v)}"
        for level in ("guaranteed", "max")
        for k, v in quota.get(level, {}).items()
    ]
    return ", ".join(parts) or "no limits"


def set_org(session: Session, who: Principal, org_id: str, body: QuotaIn) -> Org:
    """Center admins share out the center. An organization cannot be cut below what its
    projects were given: the answer names those projects, to be lowered first."""
    org = tenancy.get_org(session, who, org_id)
    if not who.is_admin:
        raise Forbidden("only center admins set an organization's quota")
    quota = body.quota()
    _check(quota)
    projects = directory.project_quotas(session, org_id=org.id)
    problems = []
    for key, promised in _sum_guaranteed(of(p) for p in projects).items():
        if promised > quota.guaranteed.get(key, 0.0) + EPSILON:
            holders = _holders(projects, "guaranteed", key)
            problems.append(
                f"guaranteed {key} {_fmt(quota.guaranteed.get(key, 0.0))} is less than its "
                f"projects hold ({_fmt(promised)}: {holders})"
            )
    for key, ceiling in quota.max.items():
        above = [p for p in projects if of(p).max.get(key, 0.0) > ceiling + EPSILON]
        if above:
            holders = _holders(above, "max", key)
            problems.append(f"max {key} {_fmt(ceiling)} is less than its projects' max ({holders})")
    if problems:
        raise Invalid(
            "quota of organization {org}: {problems}; lower those first",
            org=org.name,
            problems="; ".join(problems),
        )
    saved = _save(session, who, "org", org.id, quota, org_id=org.id)
    assert isinstance(saved, Org)
    return saved


def set_project(session: Session, who: Principal, project_id: str, body: QuotaIn) -> Project:
    """Organization admins share out what the center gave their organization: a project's
    guarantees come out of the organization's (none of a resource the organization has no
    guarantee of), and a project's max is at most the organization's."""
    project = tenancy.visible_project(session, who, project_id)
    if not can_manage(who, org_id=project.org_id):
        raise Forbidden("only organization admins set a project's quota")
    quota = body.quota()
    _check(quota)
    org = directory.org(session, project.org_id)
    assert org is not None
    siblings = directory.project_quotas(session, org_id=org.id)
    given = _sum_guaranteed(of(p) for p in siblings if p.id != project.id)
    granted = of(org)
    problems = []
    for key, want in quota.guaranteed.items():
        available = max(0.0, granted.guaranteed.get(key, 0.0) - given.get(key, 0.0))
        if key not in granted.guaranteed:
            # Even a guarantee of 0 would make `key` governed, and jobs of every tenant using
            # it would lose their protection from other tenants' priority (scheduler/quota.py).
            problems.append(
                f"guaranteed {key}: the organization has none to give (0 available: the "
                f"center gave it no guarantee of {key})"
            )
        elif want > available + EPSILON:
            problems.append(
                f"guaranteed {key} {_fmt(want)} is more than the organization has left to give "
                f"({_fmt(available)} available of its {_fmt(granted.guaranteed.get(key, 0.0))})"
            )
    for key, want in quota.max.items():
        if key in granted.max and want > granted.max[key] + EPSILON:
            problems.append(
                f"max {key} {_fmt(want)} exceeds the organization's max ({_fmt(granted.max[key])})"
            )
    if problems:
        raise Invalid(
            "quota of project {project}: {problems}",
            project=project.name,
            problems="; ".join(problems),
        )
    saved = _save(session, who, "project", project.id, quota, org_id=org.id)
    assert isinstance(saved, Project)
    return saved


def _sum_guaranteed(quotas: Iterable[Quota]) -> dict[str, float]:
    total: dict[str, float] = {}
    for quota in quotas:
        for key, value in quota.guaranteed.items():
            total[key] = total.get(key, 0) + value
    return total


def _holders(projects: Iterable[Quoted], level: str, key: str) -> str:
    """`vision 2000, nlp 1000`: the projects whose `level` (guaranteed or max) holds some of
    `key`, and how much."""
    held = [(p.name, getattr(p.quota, level).get(key, 0.0)) for p in projects]
    return ", ".join(f"{name} {_fmt(value)}" for name, value in held if value > EPSILON)


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Standing:
    """A tenant's quota next to what it holds now, per resource key (quota keys and units)."""

    kind: str  # "org" or "project"
    id: str
    name: str
    org_id: str
    guaranteed: dict[str, float]
    max: dict[str, float]
    used: dict[str, float]
    borrowed: dict[str, float]

    @property
    def keys(self) -> list[str]:
        return sorted({*self.guaranteed, *self.max, *self.used}, key=key_order)


def standings(session: Session, who: Principal) -> list[Standing]:
    """Every organization and project `who` may read, each organization followed by its projects.

    Borrowing is use beyond the guarantee of a governed resource (one that some tenant
    guarantees), as `scheduler.quota.QuotaTree.borrows` decides it when placing a job."""
    held = usage.held_now(session)
    for project_id, stored in storage.bytes_by_project(session).items():
        held.setdefault(project_id, {})[storage.KEY] = stored / storage.GIB
    orgs = tenancy.list_orgs(session, who)
    projects = tenancy.list_projects(session, who)
    every_project = directory.project_quotas(session)
    governed = {
        k for q in [*directory.org_quotas(session), *every_project] for k in q.quota.guaranteed
    }
    org_used: dict[str, dict[str, float]] = {}
    for project in every_project:
        total = org_used.setdefault(project.org_id, {})
        for key, value in held.get(project.id, {}).items():
            total[key] = total.get(key, 0.0) + value

    def standing(kind: str, row: Org | Project, org_id: str, used: dict[str, float]) -> Standing:
        quota = of(row)
        borrowed = {
            k: v - quota.guaranteed.get(k, 0.0)
            for k, v in used.items()
            if k in governed and v > quota.guaranteed.get(k, 0.0) + 1e-9
        }
        return Standing(
            kind, row.id, row.name, org_id, dict(quota.guaranteed), dict(quota.max), used, borrowed
        )

    out = []
    for org in orgs:
        out.append(standing("org", org, org.id, org_used.get(org.id, {})))
        out += [
            standing("project", p, org.id, held.get(p.id, {}))
            for p in projects
            if p.org_id == org.id
        ]
    return out


def key_order(key: str) -> tuple[int, str]:
    """Accelerator models first, then PFLOPS, CPU and memory."""
    return (PLAIN_KEYS.index(key) + 1 if key in PLAIN_KEYS else 0, key)
