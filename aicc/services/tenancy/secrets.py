"""Project secrets: set by members, injected into replicas at launch, never read back."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_write
from aicc.services.common import Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.tenancy import audit, tenancy
from aicc.services.tenancy.views import Secret
from aicc.store.sealing import Sealer
from aicc.store.tables.tenancy import SecretRow

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def put(
    session: Session, who: Principal, *, sealer: Sealer, project: str | None, name: str, value: str
) -> Secret:
    """Create or replace. The value reaches jobs as an environment variable named like the secret
    (upper case, '-' as '_')."""
    if not NAME.match(name):
        raise Invalid("name: letters, digits, '-' and '_', starting with a letter, at most 64")
    prj = tenancy.resolve_project(session, who, project)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot set secrets")
    row = session.scalar(
        select(SecretRow).where(SecretRow.project_id == prj.id, SecretRow.name == name)
    )
    now = utcnow()
    if row is None:
        row = SecretRow(
            id=new_id("sec"),
            project_id=prj.id,
            name=name,
            value=sealer.seal(value),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.value, row.updated_at = sealer.seal(value), now
    audit.record(session, who, "secret.put", "secret", f"{prj.id}/{name}", org_id=prj.org_id)
    return Secret.model_validate(row, from_attributes=True)


def names(session: Session, who: Principal, *, project: str | None) -> list[Secret]:
    prj = tenancy.resolve_project(session, who, project)
    query = select(SecretRow).where(SecretRow.project_id == prj.id).order_by(SecretRow.name)
    return [Secret.model_validate(row, from_attributes=True) for row in session.scalars(query)]


def delete(session: Session, who: Principal, *, project: str | None, name: str) -> None:
    prj = tenancy.resolve_project(session, who, project)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot delete secrets")
    row = session.scalar(
        select(SecretRow).where(SecretRow.project_id == prj.id, SecretRow.name == name)
    )
    if row is None:
        raise NotFound(
            "secret {name!r} not found in project {project}", name=name, project=prj.name
        )
    session.delete(row)
    audit.record(session, who, "secret.delete", "secret", f"{prj.id}/{name}", org_id=prj.org_id)


def environment(
    session: Session, sealer: Sealer, *, project_id: str, names: list[str]
) -> dict[str, str]:
    """The opened secrets a job asked for, as environment variables (`hf-token` -> `HF_TOKEN`)."""
    return {env_name(name): value for name, value in opened(session, sealer, project_id, names)}


def launched_with(
    session: Session, sealer: Sealer, *, project_id: str, names: list[str], kept: list[str]
) -> tuple[dict[str, str], list[str]]:
    """`environment` for launching one of a job's replicas, and the values given that are not
    among `kept` (the sealed values the job keeps, which the jobs context passes in: the job's
    table is its own). Only reads: the reconciler gathers launches in a read transaction, and
    the jobs context keeps the new values in its write transaction."""
    given = dict(opened(session, sealer, project_id, names))
    known = {sealer.open(sealed) for sealed in kept}
    new = [v for v in dict.fromkeys(given.values()) if v not in known]
    return {env_name(name): value for name, value in given.items()}, new


def existing(session: Session, project_id: str, names: Iterable[str]) -> set[str]:
    """Which of these secret names the project has."""
    query = select(SecretRow.name).where(
        SecretRow.project_id == project_id, SecretRow.name.in_(list(names))
    )
    return set(session.scalars(query))


def opened(
    session: Session, sealer: Sealer, project_id: str, names: list[str]
) -> list[tuple[str, str]]:
    query = select(SecretRow).where(SecretRow.project_id == project_id, SecretRow.name.in_(names))
    return [(s.name, sealer.open(s.value)) for s in session.scalars(query)]


def env_name(name: str) -> str:
    return name.upper().replace("-", "_")
