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
from aicc.core.jobspec import WINDOW_TEMPLATES, JobSpec
from aicc.core.mistakes import InputError
from aicc.core.tenancy import Principal
from aicc.portal.i18n import Message
from aicc.services.common import ServiceError
from aicc.services.jobs import jobs
from aicc.services.jobs.jobs import SubmitLimits


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where in the spec (`resources.accelerator.count`; "" for the whole)."""

    path: str
    message: Message | str  # a service's message is translated on the page


class Refused(Exception):
    def __init__(self, problems: list[Problem], status: int = 422) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems
        self.status = status


# pydantic's own complaints, in words the page can translate (errors.zh-CN.json), with the
# values of its context; a type not listed keeps pydantic's English.
PYDANTIC = {
    "missing": "is required",
    "extra_forbidden": "is not a field here; `aicc spec schema` lists them",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "less_than": "must be less than {lt}",
    "string_type": "must be text",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "list_type": "must be a list",
    "too_long": "must hold at most {max_length} items",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "enum": "must be {expected}",
    "literal_error": "must be {expected}",
}


def spec_problems(err: ValidationError) -> list[Problem]:
    """pydantic's errors as (field path, message) in the spec's own words, each a message the
    page says in its reader's language where the catalog has it."""
    out = []
    for problem in err.errors(include_url=False):
        path = ".".join(str(part) for part in problem["loc"])
        context = dict(problem.get("ctx") or {})
        refusal = context.get("error")
        message: Message | str
        if isinstance(refusal, InputError):
            message = Message(refusal.template, refusal.params)
        elif problem["type"] in PYDANTIC:
            message = Message(PYDANTIC[problem["type"]], context)
        elif problem["type"] == "deferrable" and (found := _window(problem["msg"], context)):
            message = Message(found, context)
        else:
            message = str(problem["msg"]).removeprefix("Value error, ")
        out.append(Problem(path, message))
    return out


def _window(said: str, context: dict[str, Any]) -> str | None:
    """The template of a deferrable job's window refusal that says `said`, if one does."""
    return next((t for t in WINDOW_TEMPLATES if t.format(**context) == said), None)


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
    message = Message.of(err)
    named = message.field()
    return Problem(*named) if named is not None else Problem("", message)


def submit(
    session: Session,
    state: AppState,
    who: Principal,
    spec: JobSpec,
    *,
    key: str | None,
    dry_run: bool = False,
) -> str | None:
    """Submit `spec` as `who` (idempotent under `key`): the job's id. With `dry_run` only check
    it: the job it would be is rolled back and None returned. Refused says why not."""
    limits = SubmitLimits.of(state.settings)
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
    return job.id
