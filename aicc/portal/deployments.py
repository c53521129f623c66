"""The deployments' pages: a project's deployments (`/deployments`) and a deployment
(`/deployments/{name}`) with its state, revisions, and buttons to stop, start and roll it back;
its live panel, playground and recent requests come from portal/model_apis.py. The forms that
make a deployment of a model version (`/deploy`, opened from a model's page or from the
deployments' page) and change one (`/deployments/{name}/edit`: a new revision for a new version
or resources, new bounds for its replicas) call the services the API calls, with its request
models, so the portal accepts and refuses exactly what the API does.

The services decide who sees what: another tenant's deployment or private model is the 404
page, a viewer's button the 403 page and a viewer's form its refusal, as in the API. `/deploy`
is not under `/deployments/`, where it would hide a deployment named `new`."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from aicc.api import schemas
from aicc.api.deps import SessionDep, StateDep
from aicc.api.state import AppState
from aicc.core.tenancy import can_write
from aicc.portal import model_apis
from aicc.portal.auth import Me, csrf_ok
from aicc.portal.forms import FieldError, Rejected, parse, service_call
from aicc.portal.forms import Form as PageForm
from aicc.portal.i18n import Message
from aicc.portal.rendering import PortalRoute, error_page, render
from aicc.services.models import models
from aicc.services.serving import deployments, views
from aicc.services.serving.deployments import ENGINES, Policy
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.sessions import SignedIn

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

ACTIONS = ("stop", "start", "rollback")
DONE = (*ACTIONS, "create", "edit")  # the flashes deployment.html says
FORM = "deploy"
# The form's inputs; a refusal about anything else is shown above the form.
INPUTS = (
    "name",
    "project",
    "model",
    "engine",
    "min_replicas",
    "max_replicas",
    "target_concurrency",
    "cpu",
    "memory",
    "gpus",
    "resources",
)
RESOURCES = ("cpu", "memory", "gpus")
MODEL_CHOICES = 300  # versions listed in the model select


@router.get("/deployments")
def deployment_list(
    request: Request, session: SessionDep, me: Me, project: str | None = None
) -> Response:
    found = deployments.list_deployments(session, me.who, project=project or None)
    return render(request, "deployments.html", me=me, nav="deployments", found=found)


@router.get("/deployments/{name}")
def deployment_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    name: str,
    project: str | None = None,
) -> Response:
    found = deployments.get(session, me.who, name, project=project or None)  # another's: 404
    history = deployments.revisions(session, me.who, name, project=project or None)
    done = request.query_params.get("done", "")
    return render(
        request,
        "deployment.html",
        me=me,
        nav="deployments",
        d=found,
        revisions=history,
        done=done if done in DONE else "",
        chat=model_apis.Chat(),
        predicted=None,
        **model_apis.context(session, state, me, name, found.project_id),
    )


# --- the forms ---


def _policy(state: AppState) -> Policy:
    return Policy(**state.settings.deployments.model_dump())


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _gpus(resources: dict[str, Any]) -> str:
    """The accelerators a spec's resources ask for, as the form shows them."""
    for key in ("gpus", "gpu"):
        if key in resources:
            return _text(resources[key])
    found = resources.get("accelerator")
    return _text(found.get("count")) if isinstance(found, dict) else ""


def _resource_texts(resources: dict[str, Any]) -> dict[str, str]:
    return {
        "cpu": _text(resources.get("cpu")),
        "memory": _text(resources.get("memory")),
        "gpus": _gpus(resources),
    }


def _resources(values: dict[str, str], before: dict[str, Any]) -> dict[str, Any]:
    """The resources the form asks for, as a spec writes them. An input left as it was shown
    keeps what was stored (its type and any key the form has no input for, such as an
    accelerator's model), so that saving an unchanged form makes no new revision."""
    shown = _resource_texts(before)
    out = {k: v for k, v in before.items() if k not in (*RESOURCES, "gpu", "accelerator")}
    for key in ("cpu", "memory"):
        text = values.get(key, "").strip()
        if text == shown[key] and key in before:
            out[key] = before[key]
        elif text:
            out[key] = text
    text = values.get("gpus", "").strip()
    if text == shown["gpus"] and text:
        out.update({k: before[k] for k in ("gpus", "gpu", "accelerator") if k in before})
    elif text:
        out["gpus"] = _number(text)
    return out


def _number(text: str) -> int | float | str:
    """A count as typed (`1`, `0.5`); anything else goes to the service, which says why not."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def _place(form: PageForm) -> None:
    """Each refusal next to its input: the service's `resources.cpu: ...` under CPU, what no
    input holds above the form."""
    general = form.errors.get("")
    detail = general.detail if general else None
    named = detail.field() if isinstance(detail, Message) else None
    if named is not None and named[0].startswith("resources."):
        part = named[0].split(".")[1].split("_")[0]  # resources.cpu_milli: the CPU's
        where = "gpus" if part in ("accelerator", "gpu") else part
        if where in RESOURCES:
            del form.errors[""]
            form.errors[where] = FieldError("form.error.invalid", named[1])
    for key in [k for k in form.errors if k and k not in INPUTS]:
        error = form.errors.pop(key)
        said = error.detail.under(key) if isinstance(error.detail, Message) else error.detail
        form.errors.setdefault("", FieldError(error.key, said))


def _choices(session: Session, me: SignedIn) -> list[tuple[str, str]]:
    """The model versions a person may deploy: (reference, stage), newest model first."""
    found = models.list_models(session, me.who, scope="visible")
    out = []
    for m in sorted(found, key=lambda m: m.updated_at, reverse=True):
        out += [(f"{m.project}/{m.name}@{v.number}", str(v.stage)) for v in m.versions]
    return out[:MODEL_CHOICES]


def _form_page(
    request: Request,
    session: Session,
    me: SignedIn,
    form: PageForm,
    *,
    d: views.Deployment | None = None,
    status: int = 200,
) -> Response:
    """The create form (`d` None) or the edit form of `d`."""
    choices = _choices(session, me)
    chosen = form.value("model")
    if chosen and chosen not in dict(choices):
        choices.insert(0, (chosen, ""))
    if d is not None and d.model:  # another version of the same model
        same = d.model.rpartition("@")[0] + "@"
        choices = [c for c in choices if c[0].startswith(same)]
    own = [p for p in tenancy.list_projects(session, me.who) if p.org_id == me.who.org_id]
    return render(
        request,
        "deployment_form.html",
        me=me,
        nav="deployments",
        status=status,
        form=form,
        d=d,
        projects=[p for p in own if can_write(me.who, org_id=p.org_id, project_id=p.id)] or own,
        choices=choices,
        engines=ENGINES,
    )


@router.get("/deploy")
def deploy_form(
    request: Request,
    session: SessionDep,
    me: Me,
    model: str | None = None,
    project: str | None = None,
) -> Response:
    """The form to deploy a model version, that version chosen when `model` names one
    (ORG/PROJECT/NAME@N, as the model's page links it; another tenant's private one: 404)."""
    values = {"min_replicas": "1", "max_replicas": "1", "engine": "auto", "cpu": "1"}
    values |= {"memory": "2Gi", "project": project or me.who.default_project_id or ""}
    if model:
        version = models.version(session, me.who, model)  # another's private: 404
        values |= {"model": model, "name": version.name}
    return _form_page(request, session, me, PageForm(FORM, values))


@router.post("/deploy")
def deploy_create(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    project: Annotated[str, Form(max_length=200)] = "",
    model: Annotated[str, Form(max_length=300)] = "",
    engine: Annotated[str, Form(max_length=20)] = "auto",
    min_replicas: Annotated[str, Form(max_length=10)] = "",
    max_replicas: Annotated[str, Form(max_length=10)] = "",
    target_concurrency: Annotated[str, Form(max_length=20)] = "",
    cpu: Annotated[str, Form(max_length=20)] = "",
    memory: Annotated[str, Form(max_length=20)] = "",
    gpus: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Deploy the chosen model version, then the deployment's page; a refusal is the form
    again with its reasons."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    values = {"name": name, "project": project, "model": model, "engine": engine}
    values |= {"min_replicas": min_replicas, "max_replicas": max_replicas}
    values |= {"target_concurrency": target_concurrency, "cpu": cpu, "memory": memory}
    form = PageForm(FORM, {**values, "gpus": gpus})
    if model.strip():
        models.version(session, me.who, model.strip())  # another's private: the 404 page
    try:
        body = parse(
            form,
            schemas.DeploymentIn,
            {
                "name": name.strip(),
                "project": project.strip() or None,
                "model": model.strip(),
                "engine": engine,
                "min_replicas": min_replicas.strip(),
                "max_replicas": max_replicas.strip(),
                "target_concurrency": target_concurrency.strip() or None,
                "resources": _resources({"cpu": cpu, "memory": memory, "gpus": gpus}, {}),
            },
            {},
        )
        with service_call(session, form):
            made = deployments.create(
                session, me.who, state.blobs, **body.model_dump(), policy=_policy(state)
            )
    except Rejected as refused:
        _place(form)
        return _form_page(request, session, me, form, status=refused.status)
    query = urlencode({"project": made.project_id, "done": "create"})
    return RedirectResponse(f"/deployments/{quote(made.name)}?{query}", status_code=303)


def _edit_values(d: views.Deployment) -> dict[str, str]:
    values = {"name": d.name, "project": d.project_id, "model": d.model or "", "engine": d.engine}
    values |= {"min_replicas": str(d.min_replicas), "max_replicas": str(d.max_replicas)}
    values |= {"target_concurrency": _text(d.target_concurrency)}
    return values | _resource_texts(d.resources)


@router.get("/deployments/{name}/edit")
def deployment_edit_form(
    request: Request, session: SessionDep, me: Me, name: str, project: str | None = None
) -> Response:
    found = deployments.get(session, me.who, name, project=project or None)  # another's: 404
    return _form_page(request, session, me, PageForm(FORM, _edit_values(found)), d=found)


@router.post("/deployments/{name}/edit")
def deployment_edit(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    name: str,
    project: str | None = None,
    csrf: Annotated[str, Form()] = "",
    model: Annotated[str, Form(max_length=300)] = "",
    engine: Annotated[str, Form(max_length=20)] = "auto",
    min_replicas: Annotated[str, Form(max_length=10)] = "",
    max_replicas: Annotated[str, Form(max_length=10)] = "",
    target_concurrency: Annotated[str, Form(max_length=20)] = "",
    cpu: Annotated[str, Form(max_length=20)] = "",
    memory: Annotated[str, Form(max_length=20)] = "",
    gpus: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """New bounds for the replicas (`scale`) and, when the model version, engine or resources
    changed, a new revision rolled out one replica at a time (`update`), in one transaction."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    found = deployments.get(session, me.who, name, project=project or None)  # another's: 404
    typed = {"model": model, "engine": engine, "min_replicas": min_replicas}
    typed |= {"max_replicas": max_replicas, "target_concurrency": target_concurrency}
    typed |= {"cpu": cpu, "memory": memory, "gpus": gpus}
    form = PageForm(FORM, {**_edit_values(found), **typed})
    changes: dict[str, Any] = {"resources": _resources(typed, found.resources)}
    if found.model is not None:
        changes["engine"] = engine
        if model.strip() and model.strip() != found.model:  # a new version
            models.version(session, me.who, model.strip())  # another's private: the 404 page
            changes["model"] = model.strip()
    try:
        patch = parse(form, schemas.DeploymentPatch, changes, {})
        sizes = parse(
            form,
            schemas.ScaleIn,
            {
                "min_replicas": min_replicas.strip(),
                "max_replicas": max_replicas.strip(),
                "target_concurrency": target_concurrency.strip() or None,
            },
            {},
        )
        with service_call(session, form):
            where = found.project_id
            deployments.scale(
                session,
                me.who,
                found.name,
                **sizes.model_dump(),
                project=where,
                policy=_policy(state),
            )
            deployments.update(
                session,
                me.who,
                state.blobs,
                found.name,
                patch.model_dump(exclude_none=True),
                project=where,
            )
    except Rejected as refused:
        _place(form)
        return _form_page(request, session, me, form, d=found, status=refused.status)
    query = urlencode({"project": found.project_id, "done": "edit"})
    return RedirectResponse(f"/deployments/{quote(found.name)}?{query}", status_code=303)


@router.post("/deployments/{name}/{action}")
def deployment_action(
    request: Request,
    session: SessionDep,
    me: Me,
    name: str,
    action: str,
    project: str | None = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Stop, start or roll back (a viewer gets the 403 page), then the deployment's page."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    if action not in ACTIONS:
        return error_page(request, 404, "")
    where = project or None
    changed = {
        "stop": deployments.stop,
        "start": deployments.start,
        "rollback": deployments.rollback,
    }[action](session, me.who, name, project=where)
    query = urlencode({"project": changed.project_id, "done": action})
    return RedirectResponse(f"/deployments/{quote(changed.name)}?{query}", status_code=303)
