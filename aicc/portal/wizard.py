"""The submit wizard (`/submit`): pick a scenario and its size, read the table of options by
time and cost, pick one, fill in the job, submit.

Step 2 is the compute service's estimate, `services.estimates.run`, the function behind
`POST /api/v1/estimate`: the caller's plan, subsidies and vouchers, and the wait of each option
from the scheduler's what-if. Step 3 submits through `services.jobs.submit`, as the API does
(`portal.submitting`). Steps 1 and 2 are GETs (they change nothing, and a step can be
bookmarked); htmx swaps them into the page, and every step also works as a whole page. The
submit is a POST carrying the session's CSRF token and an idempotency key, so a double click
makes one job.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from aicc.core.units import format_duration, parse_cpu_milli, parse_duration_s, parse_memory_mib
from aicc.estimate import Estimate
from aicc.portal import scenario_form, submitting
from aicc.portal.auth import Me
from aicc.portal.billing import money
from aicc.portal.data import upload_paths
from aicc.portal.forms import FieldError, Posted, text_input
from aicc.portal.forms import Form as PageForm
from aicc.portal.i18n import Message, Translator
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute, is_htmx
from aicc.services.center import overview
from aicc.services.common import ServiceError
from aicc.services.jobs import estimates, workdirs
from aicc.services.nodes import nodes
from aicc.services.serving import lifecycle

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

RUNTIME_MARGIN = 1.2  # max runtime prefilled as the estimate's hours plus 20%
DETAIL_FIELDS = (
    "name", "project", "command", "image", "replicas", "cpu", "memory", "accelerator", "count",
    "max_runtime",
)  # fmt: skip
# The spec's field paths -> the step 3 form's inputs.
_SPEC_FIELDS = {
    "name": "name",
    "project": "project",
    "command": "command",
    "image": "image",
    "replicas": "replicas",
    "max_runtime": "max_runtime",
    "max_runtime_s": "max_runtime",
    "resources.cpu_milli": "cpu",
    "resources.memory_mib": "memory",
    "resources.accelerator": "accelerator",
    "resources.accelerator.models": "accelerator",
    "resources.accelerator.model": "accelerator",
    "resources.accelerator.count": "count",
}


@dataclass(frozen=True)
class EstimateView:
    result: Estimate
    step: dict[str, str]  # step 1's values, for the sort links and the choices
    offer: str  # here | all

    def query(self, **changes: str) -> str:
        keep = {k: v for k, v in {**self.step, **changes}.items() if v != ""}
        return urlencode(keep)

    @property
    def has_discount(self) -> bool:
        return any(o.discount for o in self.result.options)


def _hours(t: Translator, hours: float | None) -> str:
    """3.2 -> '3.2 h', 0.25 -> '15 min', 200 -> '8.3 d' (in the page's language)."""
    if hours is None:
        return "—"
    if hours < 1:
        return t("wizard.unit.minutes", n=max(1, round(hours * 60)))
    if hours < 72:
        return t("wizard.unit.hours", n=f"{hours:,.1f}")
    return t("wizard.unit.days", n=f"{hours / 24:,.1f}")


def _step1(request: Request) -> PageForm:
    given = dict(request.query_params)
    scenario = scenario_form.chosen(given.get("scenario"))
    values = scenario_form.values_of(scenario, given)
    values["offer"] = "all" if given.get("offer") == "all" else "here"
    values["project"] = given.get("project", "")
    values["sort"] = "cost" if given.get("sort") == "cost" else "time"
    return PageForm("scenario", values)


def _page(
    page: Page,
    step: PageForm,
    *,
    estimate: EstimateView | None = None,
    details: PageForm | None = None,
    picked: dict[str, str] | None = None,
    status: int = 200,
    fragment: str | None = None,
) -> Response:
    """The wizard: the whole page, or for htmx the part that changed (`fragment`)."""
    template = fragment if fragment and is_htmx(page.request) else "submit.html"
    return page.render(
        template,
        nav="submit",
        status=200 if is_htmx(page.request) else status,
        step=step,
        inputs=scenario_form.INPUTS[step.values["scenario"]],
        choices=scenario_form.CHOICES,
        projects=overview.submittable_projects(page.session, page.me.who),
        estimate=estimate,
        details=details,
        picked=picked or {},
        money=money,
        hours=lambda h: _hours(page.t, h),
    )


@router.get("/submit")
def wizard(page: PageDep) -> Response:
    return _page(page, _step1(page.request), fragment="_wizard.html")


@router.get("/submit/estimate")
def estimate_step(page: PageDep) -> Response:
    """Step 2: the options. Bad input comes back as step 1 with the estimator's messages."""
    step = _step1(page.request)
    scenario = step.values["scenario"]
    if scenario == scenario_form.COMMAND:
        details = _details_form(
            page.session, page.me, step, None, accelerator="", count=0, hours=None
        )
        return _page(page, step, details=details, fragment="_wizard.html")
    body = scenario_form.check(step)
    if body is None:
        return _page(page, step, status=422, fragment="_wizard.html")
    here = nodes.installed_models(page.session)
    offer = step.values["offer"]
    wanted = sorted(here) if offer == "here" and here else None
    sort: Literal["time", "cost"] = "cost" if step.values["sort"] == "cost" else "time"
    try:
        result = estimates.run(
            page.session,
            page.me.who,
            body,
            profile=page.state.controller.profile,
            default_plan=page.state.settings.pricing,
            zone=page.state.settings.site.timezone,
            protect=lifecycle.protected,
            project=step.values["project"] or None,
            accelerators=wanted,
            sort=sort,
        )
    except ValidationError as err:
        step.errors.update(scenario_form.errors_of(err, scenario))
        return _page(page, step, status=422, fragment="_wizard.html")
    except ValueError as err:
        step.errors[""] = FieldError("form.error.invalid", str(err))
        return _page(page, step, status=422, fragment="_wizard.html")
    view = EstimateView(result, dict(step.values), offer if here else "all")
    return _page(page, step, estimate=view, fragment="_wizard.html")


def _details_form(
    session: Session,
    me: Me,
    step: PageForm,
    scenario: dict[str, Any] | None,
    *,
    accelerator: str,
    count: int,
    hours: float | None,
) -> PageForm:
    """Step 3 prefilled from the picked option: its devices (one replica per node when it
    needs more than a node holds) and a max runtime of the estimate plus a margin."""
    widest = nodes.installed_models(session).get(accelerator) or 8
    replicas = 1 if count <= widest else math.ceil(count / widest)
    each = count if replicas == 1 else widest
    runtime = ""
    if hours is not None and hours > 0:
        minutes = max(10, math.ceil(hours * 60 * RUNTIME_MARGIN))
        runtime = format_duration(minutes * 60)
    name = ""
    if scenario is not None:
        name = f"{scenario['scenario']}-{accelerator}".lower() if accelerator else ""
    values = {
        "name": name,
        "project": step.values.get("project", ""),
        "command": "",
        "image": "",
        "replicas": str(replicas),
        "cpu": "1",
        "memory": "2GiB",
        "accelerator": accelerator,
        "count": str(each) if accelerator else "0",
        "max_runtime": runtime,
        "scenario_json": json.dumps(scenario) if scenario else "",
        "key": secrets.token_urlsafe(16),
    }
    return PageForm("job", values)


@router.get("/submit/details")
def details_step(
    page: PageDep, accelerator: str = "", count: int = 0, hours: float | None = None
) -> Response:
    """Step 3 for the option picked in the table."""
    step = _step1(page.request)
    scenario = None
    if step.values["scenario"] != scenario_form.COMMAND:
        scenario = scenario_form.check(step)
    count = max(0, min(count, 1_000_000))
    if hours is not None and not math.isfinite(hours):
        hours = None
    details = _details_form(
        page.session, page.me, step, scenario, accelerator=accelerator, count=count, hours=hours
    )
    picked = {"accelerator": accelerator, "count": str(count)} if accelerator else {}
    return _page(page, step, details=details, picked=picked, fragment="_details.html")


def _spec_of(values: dict[str, str], form: PageForm) -> dict[str, Any]:
    """The job spec from step 3's values; units are checked here so that each message sits on
    its own input."""
    resources: dict[str, Any] = {}
    for name, parser, key in (
        ("cpu", parse_cpu_milli, "cpu_milli"),
        ("memory", parse_memory_mib, "memory_mib"),
    ):
        if values[name]:
            try:
                resources[key] = parser(values[name])
            except ValueError as err:
                form.errors[name] = FieldError("form.error.invalid", str(err))
    spec: dict[str, Any] = {"command": values["command"], "resources": resources}
    for name in ("name", "project", "image"):
        if values[name]:
            spec[name] = values[name]
    for name in ("replicas", "count"):
        if values[name] and not values[name].isdigit():
            form.errors[name] = FieldError("form.error.number")
    if values["replicas"].isdigit():
        spec["replicas"] = int(values["replicas"])
    count = int(values["count"]) if values["count"].isdigit() else 0
    if values["accelerator"] or count:
        accelerator: dict[str, Any] = {"count": count}
        if values["accelerator"]:
            accelerator["model"] = [values["accelerator"]]
        resources["accelerator"] = accelerator
    if values["max_runtime"]:
        try:
            spec["max_runtime_s"] = parse_duration_s(values["max_runtime"])
        except ValueError as err:
            form.errors["max_runtime"] = FieldError("form.error.invalid", str(err))
    try:
        scenario = json.loads(values["scenario_json"]) if values["scenario_json"] else None
    except ValueError:
        scenario = None
    if isinstance(scenario, dict):
        spec["scenario"] = scenario
    return spec


class JobForm(Posted):
    """Step 3's form: the job's details (`DETAIL_FIELDS`), the scenario picked in step 1, and
    the idempotency key."""

    name: str = text_input(200)
    project: str = text_input(100)
    command: str = text_input(64 * 1024)
    image: str = text_input(500)
    replicas: str = text_input(10, "1")
    cpu: str = text_input(20)
    memory: str = text_input(20)
    accelerator: str = text_input(64)
    count: str = text_input(10, "0")
    max_runtime: str = text_input(30)
    scenario_json: str = text_input(16 * 1024)
    key: str = text_input(100)


def _workdir(
    page: Page, form: PageForm, archive: UploadFile | None, files: list[UploadFile]
) -> str | None:
    """The workdir sent with the form (a folder's files, or a .tar / .tar.gz), kept as `aicc
    job submit` keeps one (`workdirs.from_browser`): its sha256; a refusal on its input."""
    picked = [f for f in files if f.filename]
    sent = archive if archive is not None and archive.filename else None
    try:
        return workdirs.from_browser(
            page.session,
            page.me.who,
            page.state.blobs,
            archive=None if sent is None else sent.file,
            files=zip(
                upload_paths([str(f.filename) for f in picked]),
                [f.file for f in picked],
                strict=True,
            ),
            max_bytes=page.state.settings.limits.max_upload_mib * 1024 * 1024,
        )
    except ServiceError as err:
        form.errors["workdir"] = FieldError("form.error.invalid", Message.of(err))
        return None


@router.post("/submit")
def submit_job(
    page: PostingPage,
    posted: Annotated[JobForm, Form()],
    workdir_archive: Annotated[UploadFile | None, File()] = None,
    workdir_files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Step 3: submit, then land on the job's page; a refusal comes back on the form. A folder
    or an archive sent with it becomes the job's workdir, as `aicc job submit` uploads one."""
    values = {k: v.strip() for k, v in posted.typed(*DETAIL_FIELDS).items()}
    values |= posted.typed("scenario_json", "key")
    form = PageForm("job", values)
    spec_data = _spec_of(values, form)
    job_id, status = None, 422
    if not form.errors:
        sha256 = _workdir(page, form, workdir_archive, workdir_files or [])
        if sha256 is not None:
            spec_data["workdir_sha256"] = sha256
    if not form.errors:
        try:
            spec = submitting.parse(spec_data)
            job_id = submitting.submit(
                page.session, page.state, page.me.who, spec, key=posted.key or None
            )
        except submitting.Refused as refused:
            status = refused.status
            for problem in refused.problems:
                field = _SPEC_FIELDS.get(problem.path, "")
                said = problem.message
                message = said if isinstance(said, Message) else Message(said)
                detail = message if field or not problem.path else message.under(problem.path)
                form.errors.setdefault(field, FieldError("form.error.invalid", detail))
    if job_id is None:
        step = PageForm("scenario", {"scenario": scenario_form.COMMAND})
        if posted.scenario_json:
            scenario = spec_data.get("scenario") or {}
            chosen = scenario_form.chosen(str(scenario.get("scenario")))
            given = {k: str(v) for k, v in scenario.items()}
            step = PageForm("scenario", scenario_form.values_of(chosen, given))
        step.values.update(offer="here", project=posted.project, sort="time")
        return _page(page, step, details=form, status=status)
    target = f"/jobs/{quote(job_id)}"
    if is_htmx(page.request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
