"""Quotas on the tenancy tree: an organization's share of the center, a project's of its
organization. `guaranteed` is promised; `max` is the ceiling when borrowing idle capacity.

Keys are `cpu_milli`, `memory_mib`, `pflops`, or an accelerator model (catalog name) in milli.
Guarantees must add up: the projects of an organization cannot be promised more than it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import catalog
from aicc.core.tenancy import Principal, Quota, can_manage
from aicc.services import audit, tenancy, usage
from aicc.services.common import Forbidden, Invalid
from aicc.store.tables import OrgRow, ProjectRow

PLAIN_KEYS = ("cpu_milli", "memory_mib", "pflops")


def canonical_key(key: str) -> str:
    if key in PLAIN_KEYS:
        return key
    try:
        return catalog.lookup(key).name
    except KeyError as err:
        raise ValueError(
            f"{key}: not cpu_milli, memory_mib, pflops or a known model ({err.args[0]})"
        ) from None


class QuotaIn(BaseModel):
    """What an operator sets; amounts in stored units (CONTRACTS §1), models in milli."""

    model_config = ConfigDict(extra="forbid")
    guaranteed: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)

    @field_validator("guaranteed", "max")
    @classmethod
    def _keys(cls, value: dict[str, float]) -> dict[str, float]:
        out = {canonical_key(k): v for k, v in value.items()}
        if any(v < 0 for v in out.values()):
            raise ValueError("amounts must not be negative")
        return out

    def quota(self) -> Quota:
        return Quota(guaranteed=self.guaranteed, max=self.max)


def as_dict(quota: Quota) -> dict[str, dict[str, float]]:
    return {"guaranteed": dict(quota.guaranteed), "max": dict(quota.max)}


def of(row: OrgRow | ProjectRow) -> Quota:
    stored = row.quota or {}
    return Quota(guaranteed=stored.get("guaranteed", {}), max=stored.get("max", {}))


def _check(quota: Quota) -> None:
    problems = quota.check()
    if problems:
        raise Invalid("quota: " + "; ".join(problems))


def set_org(session: Session, who: Principal, org_id: str, body: QuotaIn) -> OrgRow:
    """Center admins share out the center."""
    org = tenancy.get_org(session, who, org_id)
    if not who.is_admin:
        raise Forbidden("only center admins set an organization's quota")
    quota = body.quota()
    _check(quota)
    projects = session.scalars(select(ProjectRow).where(ProjectRow.org_id == org.id))
    promised = _sum_guaranteed(of(p) for p in projects)
    _fits_under(promised, quota.guaranteed, "its projects are already promised")
    org.quota = as_dict(quota)
    audit.record(session, who, "quota.set", "org", org.id, org_id=org.id, detail=org.quota)
    return org


def set_project(session: Session, who: Principal, project_id: str, body: QuotaIn) -> ProjectRow:
    """Organization admins share out their organization, within its guarantee."""
    project = tenancy.visible_project(session, who, project_id)
    if not can_manage(who, org_id=project.org_id):
        raise Forbidden("only organization admins set a project's quota")
    quota = body.quota()
    _check(quota)
    org = session.get(OrgRow, project.org_id)
    assert org is not None
    siblings = session.scalars(
        select(ProjectRow).where(ProjectRow.org_id == org.id, ProjectRow.id != project.id)
    )
    promised = _sum_guaranteed([*(of(p) for p in siblings), quota])
    _fits_under(promised, of(org).guaranteed, "the organization guarantees only")
    org_max = of(org).max
    over = [k for k, v in quota.max.items() if k in org_max and v > org_max[k]]
    if over:
        raise Invalid(f"quota: max of {', '.join(over)} exceeds the organization's max")
    project.quota = as_dict(quota)
    audit.record(
        session, who, "quota.set", "project", project.id, org_id=org.id, detail=project.quota
    )
    return project


def _sum_guaranteed(quotas: Iterable[Quota]) -> dict[str, float]:
    total: dict[str, float] = {}
    for quota in quotas:
        for key, value in quota.guaranteed.items():
            total[key] = total.get(key, 0) + value
    return total


def _fits_under(promised: Mapping[str, float], ceiling: Mapping[str, float], why: str) -> None:
    over = [
        f"{k} ({promised[k]:g} > {ceiling[k]:g})"
        for k in promised
        if k in ceiling and promised[k] > ceiling[k]
    ]
    if over:
        raise Invalid(f"quota: guarantees do not add up: {why} {', '.join(over)}")


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
    orgs = tenancy.list_orgs(session, who)
    projects = tenancy.list_projects(session, who)
    every_project = list(session.scalars(select(ProjectRow)))
    governed = {
        k for row in [*session.scalars(select(OrgRow)), *every_project] for k in of(row).guaranteed
    }
    org_used: dict[str, dict[str, float]] = {}
    for project in every_project:
        total = org_used.setdefault(project.org_id, {})
        for key, value in held.get(project.id, {}).items():
            total[key] = total.get(key, 0.0) + value

    def standing(
        kind: str, row: OrgRow | ProjectRow, org_id: str, used: dict[str, float]
    ) -> Standing:
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
