"""Submitting a job from the portal: the same validation and the same service as
`POST /api/v1/jobs`, with refusals turned into messages that name the spec's field.

Both the wizard and the YAML editor come through here. A "check" runs the whole submit (the
spec model, then every rule of `services.jobs.submit`: quotas of the queue, whether any node
could hold it, secrets, the scenario) inside a savepoint that is rolled back, so it says exactly
what a submit would say and leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal, can_write
from aicc.services import jobs, tenancy
from aicc.services.common import ServiceError
from aicc.services.jobs import SubmitLimits


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where in the spec (`resources.accelerator.count`; "" for the whole)."""

    path: str
    message: str


class Refused(Exception):
    def __init__(self, problems: list[Problem], status: int = 422) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems
        self.status = status


def spec_problems(err: ValidationError) -> list[Problem]:
    """pydantic's errors as (field path, message) in the spec's own words."""
    out = []
    for problem in err.errors(include_url=False):
        path = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        out.append(Problem(path, message))
    return out


def parse(data: Any) -> JobSpec:
    """The spec, or Refused listing every field that is wrong."""
    if not isinstance(data, dict):
        raise Refused([Problem("", "a job spec is a mapping of fields, e.g. `command: ...`")])
    if data.get("workdir") is not None:
        raise Refused(
            [Problem("workdir", "the portal cannot upload a directory; submit it with the CLI")]
        )
    try:
        return JobSpec.model_validate(data)
    except ValidationError as err:
        raise Refused(spec_problems(err)) from None


def _service_problem(err: ServiceError) -> Problem:
    head, sep, rest = err.detail.partition(": ")
    if sep and head.replace("_", "").replace(".", "").isalnum():
        return Problem(head, rest)
    return Problem("", err.detail)


def submit(
    session: Session,
    state: AppState,
    who: Principal,
    spec: JobSpec,
    *,
    key: str | None,
    dry_run: bool = False,
) -> jobs.Job | None:
    """Submit `spec` as `who` (idempotent under `key`), or with `dry_run` only check it: the
    job it would be is rolled back and None returned. Refused says why not."""
    limits = SubmitLimits(max_pending_per_user=state.settings.limits.max_pending_per_user)
    nested = session.begin_nested()
    try:
        job, _ = jobs.submit(session, who, spec, idempotency_key=key, limits=limits)
    except ServiceError as err:
        nested.rollback()
        raise Refused([_service_problem(err)], err.status) from None
    if dry_run:
        nested.rollback()
        return None
    nested.commit()
    return job


def writable_projects(session: Session, who: Principal) -> list[tenancy.Project]:
    """The person's own organization's projects they may submit to (an operator's own too)."""
    return [
        p
        for p in tenancy.list_projects(session, who)
        if p.org_id == who.org_id and can_write(who, org_id=p.org_id, project_id=p.id)
    ]
