"""A deployment as the caller may see or change it, and how every change of one ends: the
lookups and the closing step that the deployment's use cases (`deployments.py`) and its
adapters' (`adapters.py`) share, so both find, refuse and audit a deployment alike (another
tenant's is a 404, a viewer's change a 403)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_read, can_write
from aicc.services import changes
from aicc.services.common import Forbidden, NotFound
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.tables.serving import DeploymentRevisionRow, DeploymentRow


def find(session: Session, who: Principal, name: str, project: str | None) -> DeploymentRow:
    """The deployment `name` (or its id) the caller may read; another tenant's: NotFound."""
    missing = NotFound("deployment {name} not found; `aicc deploy list` shows yours", name=name)
    if name.startswith("dep_"):
        row = session.get(DeploymentRow, name)
    else:
        try:
            prj = tenancy.resolve_project(session, who, project)
        except NotFound:
            raise missing from None
        row = session.scalar(
            select(DeploymentRow).where(
                DeploymentRow.project_id == prj.id, DeploymentRow.name == name
            )
        )
    if row is None:
        raise missing
    prj_row = directory.project(session, row.project_id)
    if prj_row is None or not can_read(who, org_id=prj_row.org_id, project_id=row.project_id):
        raise missing
    return row


def writable(session: Session, who: Principal, name: str, project: str | None) -> DeploymentRow:
    row = find(session, who, name, project)
    prj = directory.project(session, row.project_id)
    assert prj is not None
    if not can_write(who, org_id=prj.org_id, project_id=row.project_id):
        raise Forbidden("viewers cannot change deployments")
    return row


def written(session: Session, who: Principal, row: DeploymentRow, action: str) -> None:
    """Audit `action` on the deployment in its organization, flush, and wake the loops that
    converge it: how every change of a deployment but its deletion ends."""
    prj = directory.project(session, row.project_id)
    assert prj is not None
    audit.record(session, who, action, "deployment", row.id, org_id=prj.org_id)
    session.flush()
    changes.changed(session)


def current(session: Session, row: DeploymentRow) -> DeploymentRevisionRow:
    found = session.get(DeploymentRevisionRow, (row.id, row.revision))
    assert found is not None  # every revision is kept
    return found
