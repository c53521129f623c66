"""What pages show at a glance, permission-filtered here rather than on the page: jobs by state
over what a person may read (the dashboard), jobs per organization and state over the whole
center (the operators' overview), and the projects a person may submit to (the wizard).

The permission filter is `core.tenancy.can_read`, the same as the job list's, so a count never
includes a job its reader could not open.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_read, can_write
from aicc.services import tenancy
from aicc.services.common import Forbidden
from aicc.store.tables import JobRow


def job_counts(session: Session, who: Principal) -> dict[str, int]:
    """Jobs by state, over the jobs this principal may read (the same set as the job list)."""
    query = select(JobRow.org_id, JobRow.project_id, JobRow.state, func.count()).group_by(
        JobRow.org_id, JobRow.project_id, JobRow.state
    )
    if not who.is_admin:
        query = query.where(JobRow.org_id == who.org_id)
    counts: Counter[str] = Counter()
    for org_id, project_id, state, number in session.execute(query):
        if can_read(who, org_id=org_id, project_id=project_id):
            counts[state] += number
    return dict(counts)


def jobs_by_org_and_state(session: Session, who: Principal) -> dict[str, dict[str, int]]:
    """Jobs per organization and state, center-wide: for the center's admins only."""
    if not who.is_admin:
        raise Forbidden("only center admins count the center's jobs")
    out: defaultdict[str, dict[str, int]] = defaultdict(dict)
    query = select(JobRow.org_id, JobRow.state, func.count()).group_by(JobRow.org_id, JobRow.state)
    for org_id, state, number in session.execute(query):
        out[org_id][state] = number
    return dict(out)


@dataclass(frozen=True)
class ProjectChoice:
    id: str
    name: str


def submittable_projects(session: Session, who: Principal) -> list[ProjectChoice]:
    """The person's own organization's projects they may submit to (an operator's own too)."""
    return [
        ProjectChoice(p.id, p.name)
        for p in tenancy.list_projects(session, who)
        if p.org_id == who.org_id and can_write(who, org_id=p.org_id, project_id=p.id)
    ]
