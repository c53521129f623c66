"""The marketplace's pages (算法商城): the template catalog (`/marketplace`, by words, industry
and task), a template (`/marketplace/{name}`), and the low-code wizard (`/marketplace/train`,
带着数据来、拿着成果走) that walks a person from a data set to a trained, registered model:

1. pick a data set (one of theirs, or one shared with them);
2. pick a template: the generic ones first (any table, series, texts or images: they fit by
   the data, and ask which column to predict, with a select of the columns that can be it),
   then the industry presets that fit, then the others greyed out with the reason;
3. set the hyperparameters (a form from the manifest, with its bounds) and the model's name;
   submitting it is `services.template_runs.run`, as `POST /api/v1/templates/{name}/runs` is;
4. the run's page (`/marketplace/runs/{job}`): the job's state and its curves as it trains,
   then the link to the registered model, or why no model was made (the failed job's reason
   and the last lines of its stderr, `services.jobs.logs.failure`).

Steps 1 to 3 are GETs (a step can be bookmarked); the submit is a POST with the CSRF token.
The services' refusals are English; `reason` turns the ones this wizard shows (a template that
does not fit, a hyperparameter out of range) into the reader's language.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from aicc.api.deps import StateDep
from aicc.api.state import AppState
from aicc.core import datasets as data_core
from aicc.core import template_fit
from aicc.core import templates as core
from aicc.core.states import JobState
from aicc.estimate.templates import TemplateOption
from aicc.portal.auth import csrf_ok, signed_in_briefly
from aicc.portal.forms import FieldError
from aicc.portal.forms import Form as PageForm
from aicc.portal.i18n import Message, Translator
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute, error_page, language_of, render
from aicc.services.common import Conflict, Invalid, ServiceError, TooLarge
from aicc.services.data import datasets, views
from aicc.services.jobs import logs
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models import models, template_estimate, template_runs, templates
from aicc.services.serving import lifecycle
from aicc.services.tenancy.sessions import SignedIn

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

POLL_S = 2  # the run page's refresh while the job trains
MAX_FIELD = 200  # characters of one typed hyperparameter
MAX_NAME = 128  # characters of a column's name in a mapping
MAX_COLUMNS = 64  # columns a mapping may name


# --- the reader's language for what the templates' core says ---

# core/templates.py's reasons and refusals -> catalog keys with the same values.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"^it has no table \(.*\) to learn from$", "market.reason.no_table"),
        # a generic template's roles (core/templates.py `_fit_table`, `_roles`)
        (
            r"^(?P<path>.+) has no column that can be the (?P<role>\S+) \((?P<kind>.+)\)$",
            "market.reason.no_role",
        ),
        (
            r"^(?P<path>.+): column (?P<name>.+) is both the (?P<first>\S+) and the "
            r"(?P<second>\S+); a column plays one role$",
            "market.reason.twice",
        ),
        (
            r"^(?P<path>.+): column (?P<name>.+) holds (?P<value>.+), not a date or time the run "
            r"reads \((?P<formats>.*)\)$",
            "market.reason.not_time",
        ),
        (
            r"^(?P<path>.+): column (?P<name>.+) has a different value on every row \(an ID\); "
            r"choose a column whose values repeat$",
            "market.reason.id",
        ),
        (
            r"^(?P<path>.+): column (?P<name>.+) has (?P<count>\d+) value\(s\) on 2 rows or more "
            r"\((?P<shown>.*)\); predicting it needs at least 2 classes with 2 rows each$",
            "market.reason.few_classes",
        ),
        (
            r"^column (?P<copy>.+) is a copy of (?P<name>.+) \(the same value on every row\); "
            r"the run leaves it out$",
            "market.warning.copy",
        ),
        (
            r"^(?P<path>.+) has no column (?P<name>\S+) \((?P<kind>.+?)\); its columns: "
            r"(?P<columns>.*)$",
            "market.reason.no_column",
        ),
        (
            r"^(?P<path>.+): column (?P<name>\S+) is (?P<type>.+), not (?P<kind>.+)$",
            "market.reason.type",
        ),
        (
            r"^(?P<path>.+) has (?P<rows>\d+) rows; the template needs at least (?P<min>\d+)$",
            "market.reason.rows",
        ),
        (r"^it has no images in class folders", "market.reason.no_images"),
        (
            r"^it has (?P<count>\d+) class folder\(s\) with 2 images or more; the template needs "
            r"(?P<min>\d+)$",
            "market.reason.classes",
        ),
        (
            r"^it has (?P<count>\d+) images; the template needs at least (?P<min>\d+)$",
            "market.reason.images",
        ),
        (r"^(?P<value>.+) is below the least allowed, (?P<min>\S+)$", "market.param.below"),
        (r"^(?P<value>.+) is above the most allowed, (?P<max>\S+)$", "market.param.above"),
        (
            r"^(?P<value>.+) is not (?P<kind>an integer|a number|true or false|a text)$",
            "market.param.type",
        ),
        (r"^(?P<value>.+) is not one of (?P<choices>.+)$", "market.param.choice"),
        (r"^.+ has no such hyperparameter \(it has: (?P<known>.*)\)$", "market.param.unknown"),
    )
)
_KINDS = {
    "an integer": "market.kind.integer",
    "a number": "market.kind.number",
    "true or false": "market.kind.boolean",
    "a text": "market.kind.string",
    # what a template's column holds (core/templates.py `_a_column`)
    "text": "wizard19.coltype.string",
    "whole numbers": "wizard19.coltype.integer",
    "numbers": "wizard19.coltype.number",
    "dates or times": "wizard19.coltype.datetime",
    "labels (text or whole numbers)": "wizard19.coltype.category",
    "any values": "wizard19.coltype.any",
}
_ROLES = ("role", "first", "second")  # a generic template's roles, named in words


def reason(t: Translator, text: str) -> str:
    """A reason from `core/templates.py` in the reader's language (else as it is)."""
    for pattern, key in _REASONS:
        found = pattern.match(text)
        if found:
            values = found.groupdict()
            if "kind" in values and values["kind"] in _KINDS:
                values["kind"] = t(_KINDS[values["kind"]])
            for role in _ROLES:
                if role in values:
                    values[role] = t.maybe("market.role", values[role])
            return t(key, **values)
    return t.said(text)


def param_errors(t: Translator, problem: str) -> dict[str, FieldError] | None:
    """`hyperparameters.NAME: why` as the error of the form's field for NAME."""
    head, sep, rest = problem.partition(": ")
    if not (sep and head.startswith("hyperparameters.")):
        return None
    name = head.removeprefix("hyperparameters.")
    return {f"hp.{name}": FieldError("form.error.invalid", reason(t, rest))}


# --- the catalog and a template ---


def _chosen(value: str, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


@router.get("/marketplace")
def marketplace(page: PageDep, q: str = "", industry: str = "", task: str = "") -> Response:
    q, industry, task = q[:200], _chosen(industry, core.INDUSTRIES), _chosen(task, core.TASKS)
    found = templates.list_templates(industry=industry or None, task=task or None, q=q)
    everything = templates.list_templates()
    return page.render(
        "marketplace.html",
        nav="marketplace",
        q=q,
        industry=industry,
        task=task,
        found=found,
        total=len(everything),
        industries=sorted({t.manifest.industry for t in everything}),
        tasks=sorted({t.manifest.task for t in everything}),
    )


@router.get("/marketplace/train")
def wizard(page: PageDep, data: str = "", template: str = "", model: str = "") -> Response:
    """The wizard's step for what is chosen so far: no data set (1), no template (2), both (3).
    `col.NAME=YOURS` maps a template's column to the data's differently named one."""
    return _wizard(
        page.request,
        page.session,
        page.me,
        data=data[:400],
        template=template[:100],
        model=model,
        columns=mapping_of(page.request.query_params),
    )


def mapping_of(fields: Mapping[str, Any]) -> dict[str, str]:
    """The form's `col.NAME` fields: the template's columns mapped to the data's."""
    found = {k[4:]: str(v).strip() for k, v in fields.items() if k.startswith("col.")}
    return {k[:MAX_NAME]: v[:MAX_NAME] for k, v in list(found.items())[:MAX_COLUMNS] if v}


@dataclass(frozen=True)
class Choice:
    """A data set of step 1: its name, where it lives, and the reference of its latest version."""

    set: views.Dataset
    ref: str


def _choices(session: Session, me: SignedIn) -> list[Choice]:
    found = datasets.list_datasets(session, me.who, scope="visible")
    return [Choice(d, f"{d.project}/{d.name}@{d.latest}") for d in found if d.latest]


def _wizard(
    request: Request,
    session: Session,
    me: SignedIn,
    *,
    data: str,
    template: str,
    model: str = "",
    form: PageForm | None = None,
    status: int = 200,
    columns: dict[str, str] | None = None,
) -> Response:
    t = Translator(language_of(request, me))
    columns = columns or {}
    context: dict[str, Any] = {"data": data, "chosen": None, "fits": [], "choices": []}
    context.update(columns=columns, mapping=None)
    if not data:
        context.update(step=1, choices=_choices(session, me), picked=template)
    else:
        # (another tenant's private set: NotFound, the 404 page)
        fits = sorted(templates.fits(session, me.who, data), key=_order)
        fit = next((f for f in fits if f.template.name == template), None)
        if fit is not None and columns:  # the chosen one, with the columns as mapped
            (fit,) = templates.fits(session, me.who, data, columns=columns, only=template)
            fits = [fit if f.template.name == template else f for f in fits]
        context.update(fits=fits, mappable=_mappable(session, me, data))
        if fit is None or not fit.fit.ok or fit.fit.choose:
            context.update(step=2, picked=template)
            named = fit.template.manifest.input.columns if fit is not None else []
            if fit is not None and not fit.fit.ok and context["mappable"] and named:
                context.update(mapping=fit)
        else:
            # a double click, or the back button and submit again, is the same run
            values = {"model": model or fit.template.name, "key": secrets.token_urlsafe(16)}
            values.update({f"hp.{k}": _text(p.default) for k, p in _params(fit.template)})
            context.update(step=3, chosen=fit.template, form=form or PageForm("train", values))
            context.update(options=_options(request, session, me, t, template, data))
            learns = _learns(session, me, data, fit)  # the roles chosen go with the run
            context.update(learns=learns, columns={**columns, **(learns.roles if learns else {})})
    return render(
        request,
        "train.html",
        me=me,
        nav="marketplace",
        status=status,
        reason=lambda text: reason(t, text),
        params=_params,
        data_link=data_link,
        generic=templates.generic,
        **context,
    )


def _order(fitting: templates.Fitting) -> tuple[bool, bool, int]:
    """The generic templates first (those that fit first), then the presets that fit, then
    the others."""
    later, rank = templates.generic_rank(fitting.template)
    return (later, not fitting.fit.ok, rank)


@dataclass(frozen=True)
class Learns:
    """What step 3 says the run will learn: the roles as chosen (role -> the data's column),
    the task the target makes of it and its number of classes when known, and the check's
    warnings (what the run will do about the data)."""

    roles: dict[str, str]
    task: str | None
    classes: int | None
    warnings: tuple[str, ...]


def _learns(session: Session, me: SignedIn, data: str, fitting: templates.Fitting) -> Learns | None:
    """For a template whose roles are chosen (a generic one), what its run will learn."""
    spec = fitting.template.manifest.input
    chosen = fitting.fit.columns or {}
    roles = {c.name: chosen[c.name] for c in spec.columns if c.choose and c.name in chosen}
    if not roles:
        return None
    classes = None
    target = roles.get("target") or roles.get("label")
    if fitting.fit.task == "classification" or (target and "label" in roles):
        classes = _classes(session, me, data, fitting.fit.table, target)
    return Learns(roles, fitting.fit.task, classes, tuple(fitting.fit.warnings))


def _classes(
    session: Session, me: SignedIn, data: str, table: str | None, column: str | None
) -> int | None:
    """How many values the target column holds, as its data set version's facts say (None
    when they do not: too many to count, or a version described before them)."""
    if not table or not column:
        return None
    version, _ = datasets.open_version(session, me.who, templates.data_ref(data))
    found = (version.tables or {}).get(table)
    if not found:
        return None
    described = {c.name: c for c in template_fit.described(found)}
    counts = template_fit.classes(described[column]) if column in described else None
    return len(counts) if counts else None


def _mappable(session: Session, me: SignedIn, data: str) -> list[str]:
    """The columns of the data set version's largest table, which a template's columns can
    be mapped to (none: no table, nothing to map)."""
    version, _ = datasets.open_version(session, me.who, templates.data_ref(data))
    tables = version.tables or {}
    if not tables:
        return []
    largest = max(tables, key=lambda path: int(tables[path].get("rows") or 0))
    return [str(c["name"]) for c in tables[largest].get("columns") or ()]


@dataclass(frozen=True)
class Option:
    """One row of the wizard's estimate: where it would train, how long, the wait, the price."""

    label: str
    time: str
    wait: str
    price: str


def _options(
    request: Request, session: Session, me: SignedIn, t: Translator, template: str, data: str
) -> list[Option]:
    """The run's estimate with the defaults, per accelerator option (services/
    template_estimate.py); none when it cannot be made (the run itself then says why)."""
    state: AppState = request.app.state.aicc
    try:
        found = template_estimate.estimate(
            session,
            me.who,
            template,
            profile=state.controller.profile,
            default_plan=state.settings.pricing,
            zone=state.settings.site.timezone,
            protect=lifecycle.protected,
            data=data,
        )
    except ServiceError:
        return []
    return [
        Option(
            label=t("wizard19.cpu_only")
            if o.accelerator == "cpu"
            else f"{o.count} × {o.accelerator}",
            time=_hours(t, o.hours),
            wait=_hours(t, o.wait_hours) if o.wait_hours else t("wizard19.no_wait"),
            price=_price(t, o),
        )
        for o in found.options
    ]


def _price(t: Translator, o: TemplateOption) -> str:
    """An option's price: "no price" where the plan has none, and a run priced below a cent
    (seconds of CPU) as "under 0.01", not a 0.00 that reads as free or as a fault."""
    if o.net is None:
        return t("wizard.no_price")
    if o.gross == 0 and (o.cpu_core_hours or o.accelerator_hours):
        return t("wizard19.under_cent", currency=o.currency)
    return f"{o.net} {o.currency}"


def _hours(t: Translator, hours: float | None) -> str:
    seconds = (hours or 0) * 3600
    if seconds < 90:
        return t("wizard19.seconds", n=max(1, round(seconds)))
    if seconds < 5400:
        return t("wizard19.minutes", n=round(seconds / 60))
    return t("wizard19.hours", n=f"{seconds / 3600:.1f}")


def _params(template: templates.Template) -> list[tuple[str, core.Param]]:
    return list(template.manifest.hyperparameters.items())


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@router.post("/marketplace/train")
async def train(request: Request, state: StateDep) -> Response:
    """Submit the run: the job, then its page; a refusal is step 3 again with the error next
    to the field it names. (Async to read a form whose fields the template decides; the
    work is done in a thread, in its own transaction.)"""
    me = await signed_in_briefly(request)
    typed = await request.form(max_fields=core.MAX_PARAMS + MAX_COLUMNS + 10)
    fields = {k: str(v)[:MAX_FIELD] for k, v in typed.items() if isinstance(v, str)}
    if not csrf_ok(me, fields.get("csrf", "")):
        return error_page(request, 400, "csrf")
    data, name = fields.get("data", ""), fields.get("template", "")
    model = fields.get("model", "").strip()
    params = {k[3:]: v.strip() for k, v in fields.items() if k.startswith("hp.") and v.strip()}
    values = {"model": model, "key": fields.get("key", "")}
    values.update({k: v for k, v in fields.items() if k.startswith("hp.")})
    form = PageForm("train", values)
    columns = mapping_of(fields)
    return await run_in_threadpool(_submit, request, state, me, form, data, name, params, columns)


def _submit(
    request: Request,
    state: AppState,
    me: SignedIn,
    form: PageForm,
    data: str,
    name: str,
    params: dict[str, str],
    columns: dict[str, str],
) -> Response:
    t = Translator(language_of(request, me))
    model = form.value("model")
    with state.db.session() as session:
        try:
            with session.begin_nested():
                job, _ = template_runs.run(
                    session,
                    me.who,
                    state.blobs,
                    name,
                    data=data,
                    params=params,
                    model=model or None,
                    columns=columns,
                    store=state.chunks,
                    zone=state.settings.site.timezone,
                    idempotency_key=form.value("key")[:200] or None,
                    limits=SubmitLimits.of(state.settings, local_only=True),
                )
        except ServiceError as err:
            form.errors.update(_refusal(t, err))
            return _wizard(
                request,
                session,
                me,
                data=data,
                template=name,
                form=form,
                status=err.status if err.status < 500 else 422,
                columns=columns,
            )
    return RedirectResponse(f"/marketplace/runs/{job.id}", status_code=303)


def _refusal(t: Translator, err: ServiceError) -> dict[str, FieldError]:
    """The field a refusal is about: a hyperparameter, the model's name, or none."""
    text = str(err)
    named = param_errors(t, text)
    if named is not None:
        return named
    if isinstance(err, Conflict):
        return {"model": FieldError("market.error.model_taken")}
    if text.startswith("name: "):
        return {"model": FieldError("form.error.invalid", text.removeprefix("name: "))}
    return {"": FieldError("form.error.invalid", Message.of(err))}  # in the reader's language


# --- a run ---


@router.get("/marketplace/runs/{job_id}")
def run_page(page: PageDep, job_id: str) -> Response:
    return page.render(
        "run.html", nav="marketplace", **_run(page.session, page.state, page.me, job_id)
    )


@router.get("/marketplace/runs/{job_id}/live")
def run_live(page: PageDep, job_id: str) -> Response:
    return page.render("_run_live.html", **_run(page.session, page.state, page.me, job_id))


def _run(session: Session, state: AppState, me: SignedIn, job_id: str) -> dict[str, Any]:
    run = template_runs.run_of(session, me.who, job_id)  # another tenant's job: 404
    try:
        curves = template_runs.run_curves(session, me.who, state.executors, job_id)
    except (Invalid, TooLarge):  # the guard refused the run's curves: the page shows none
        curves = models.Curves([], {})
    version = None
    if run.state == "done":
        version = run.result.rpartition("@")[2]
    return {
        "run": run,
        # why the job failed (reason, last event, stderr's tail), shown under "No model was made"
        "failure": logs.failure(session, state.sealer, me.who, run.job, state.executors),
        "curves": curve_chart(curves),
        "ended": JobState(run.job.state).is_terminal(),
        "model_link": (
            f"/models/{run.model}?{urlencode({'project': run.project, 'version': version})}"
            if version
            else None
        ),
        "poll": POLL_S,
        "title": _title(run.template),
    }


def _title(name: str) -> core.Words | None:
    try:
        return templates.get(name).manifest.title
    except ServiceError:
        return None


def curve_chart(curves: models.Curves) -> dict[str, Any]:
    """Curves as the portal's line chart over steps (`portal.js`, type `curves`)."""
    return {
        "type": "curves",
        "steps": curves.steps,
        "series": [{"name": k, "values": v} for k, v in curves.series.items()],
    }


@router.get("/marketplace/{name}")
def template_page(page: PageDep, name: str) -> Response:
    found = templates.get(name[:100])
    trained = [
        (m, v)
        for m in models.list_models(page.session, page.me.who, scope="visible")
        for v in m.versions
        if v.lineage.get("template") == found.name
    ]
    return page.render(
        "template.html",
        nav="marketplace",
        tpl=found,
        m=found.manifest,
        params=_params(found),
        trained=trained[:20],
    )


@dataclass(frozen=True)
class Link:
    """A reference shown on a page, and its page when there is one."""

    text: str
    href: str | None


def data_link(text: str) -> Link:
    """`ORG/PROJECT/NAME@N` as the data set page that shows that version."""
    try:
        parsed = data_core.parse_ref(text)
    except data_core.DatasetError:
        return Link(text, None)
    query: dict[str, str | int] = {}
    if parsed.org:
        query["project"] = f"{parsed.org}/{parsed.project}"
    if parsed.version:
        query["version"] = parsed.version
    return Link(text, f"/data/{quote(parsed.name)}?{urlencode(query)}")
