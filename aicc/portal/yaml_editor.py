"""The YAML editor (`/submit/yaml`): paste a job spec, check it, submit it.

"Check" runs everything a submit runs (the spec model, then the submit service's rules) and
rolls it back (`portal.submitting`); each problem is listed with its field path
(`resources.accelerator.count`) or, for YAML that does not parse, its line and column. The
server does the checking, so the page needs no editor library.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Query
from fastapi.responses import RedirectResponse, Response

from aicc.core.jobspec import JobSpec
from aicc.core.spec_guard import MAX_DEPTH
from aicc.core.spec_written import as_written
from aicc.core.units import format_cpu, format_duration, format_memory
from aicc.portal import submitting
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.portal.submitting import Problem
from aicc.services.jobs import jobs

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

MAX_YAML = 256 * 1024
EXAMPLE = """\
name: hello
command: python -c "print('hi')"
resources:
  cpu: 1
  memory: 1GiB
  # accelerator: {count: 1, model: A100-80GB}
max_runtime: 10m
"""


def load(text: str) -> Any:
    """The YAML document, or Refused naming the line and column where it stops making sense."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = err.problem or err.context or "not valid YAML"
        raise submitting.Refused([Problem(where, what)]) from None
    except yaml.YAMLError as err:
        raise submitting.Refused([Problem("", f"not valid YAML: {err}")]) from None
    except RecursionError:  # PyYAML recurses per level: thousands of `[` end here
        message = f"nested too deeply; a job spec nests at most {MAX_DEPTH} levels"
        raise submitting.Refused([Problem("", message)]) from None


def summary(spec: JobSpec) -> dict[str, str]:
    """What the checked spec asks for, in the units people read."""
    acc = spec.resources.accelerator
    devices = ""
    if acc.total_milli:
        models = ", ".join(acc.models or []) or "any"
        devices = f"{acc.count} × {models}" if acc.milli is None else f"{acc.milli}m × {models}"
    return {
        "name": spec.name or "",
        "replicas": str(spec.replicas),
        "cpu": format_cpu(spec.resources.cpu_milli),
        "memory": format_memory(spec.resources.memory_mib),
        "accelerator": devices,
        "max_runtime": format_duration(spec.max_runtime_s) if spec.max_runtime_s else "",
    }


def _page(
    page: Page,
    text: str,
    *,
    problems: list[Problem] | None = None,
    checked: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return page.render(
        "submit_yaml.html",
        nav="submit",
        status=status,
        text=text,
        problems=problems or [],
        checked=checked,
        key=secrets.token_urlsafe(16),
    )


@router.get("/submit/yaml")
def editor(
    page: PageDep, from_job: Annotated[str | None, Query(alias="from", max_length=100)] = None
) -> Response:
    """The editor, with an example or (`?from=JOB`) a job's spec to clone, as a person writes
    it; another tenant's job is a 404."""
    if from_job is None:
        return _page(page, EXAMPLE)
    spec = as_written(jobs.spec_again(page.session, page.me.who, from_job))
    return _page(page, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))


@router.post("/submit/yaml")
def check_or_submit(
    page: PostingPage,
    spec: Annotated[str, Form(max_length=MAX_YAML)] = "",
    action: Annotated[str, Form(max_length=20)] = "check",
    key: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check (nothing is kept) or submit; problems come back next to the text, 422."""
    try:
        parsed = submitting.parse(load(spec))
        job_id = submitting.submit(
            page.session,
            page.state,
            page.me.who,
            parsed,
            key=key or None,
            dry_run=action != "submit",
        )
    except submitting.Refused as refused:
        return _page(page, spec, problems=refused.problems, status=refused.status)
    if job_id is None:
        return _page(page, spec, checked=summary(parsed))
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
