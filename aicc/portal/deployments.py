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

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from aicc.api import schemas
from aicc.api.state import AppState
from aicc.core.tenancy import can_write
from aicc.portal import model_apis
from aicc.portal.forms import FieldError, Posted, Rejected, parse, service_call, text_input
from aicc.portal.forms import Form as PageForm
from aicc.portal.i18n import Message
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute, error_page
from aicc.services.models import models
from aicc.services.serving import deployments, views
from aicc.services.serving.deployments import Policy
from aicc.services.serving.replica_spec import ENGINES
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
def deployment_list(page: PageDep, project: str | None = None) -> Response:
    found = deployments.list_deployments(page.session, page.me.who, project=project or None)
    return page.render("deployments.html", nav="deployments", found=found)


def _deployment(page: Page, name: str, project: str | None) -> views.Deployment:
    """The deployment a page names (another tenant's: NotFound, the 404 page)."""
    return deployments.get(page.session, page.me.who, name, project=project or None)


@router.get("/deployments/{name}")
def deployment_page(page: PageDep, name: str, project: str | None = None) -> Response:
    found = _deployment(page, name, project)
    history = deployments.revisions(page.session, page.me.who, name, project=project or None)
    done = page.query("done")
    return page.render(
        "deployment.html",
        nav="deployments",
        d=found,
        revisions=history,
        done=done if done in DONE else "",
        chat=model_apis.Chat(),
        predicted=None,
        **model_apis.context(page.session, page.state, page.me, name, found.project_id),
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
    page: Page, form: PageForm, *, d: views.Deployment | None = None, status: int = 200
) -> Response:
    """The create form (`d` None) or the edit form of `d`."""
    choices = _choices(page.session, page.me)
    chosen = form.value("model")
    if chosen and chosen not in dict(choices):
        choices.insert(0, (chosen, ""))
    if d is not None and d.model:  # another version of the same model
        same = d.model.rpartition("@")[0] + "@"
        choices = [c for c in choices if c[0].startswith(same)]
    own = page.own_projects()
    return page.render(
        "deployment_form.html",
        nav="deployments",
        status=status,
        form=form,
        d=d,
        projects=[p for p in own if can_write(page.me.who, org_id=p.org_id, project_id=p.id)]
        or own,
        choices=choices,
        engines=ENGINES,
    )


@router.get("/deploy")
def deploy_form(page: PageDep, model: str | None = None, project: str | None = None) -> Response:
    """The form to deploy a model version, that version chosen when `model` names one
    (ORG/PROJECT/NAME@N, as the model's page links it; another tenant's private one: 404)."""
    values = {"min_replicas": "1", "max_replicas": "1", "engine": "auto", "cpu": "1"}
    values |= {"memory": "2Gi", "project": project or page.me.who.default_project_id or ""}
    if model:
        version = models.version(page.session, page.me.who, model)  # another's private: 404
        values |= {"model": model, "name": version.name}
    return _form_page(page, PageForm(FORM, values))


class Settings(Posted):
    """What both forms post: the model version, its engine, replicas and resources."""

    model: str = text_input(300)
    engine: str = text_input(20, "auto")
    min_replicas: str = text_input(10)
    max_replicas: str = text_input(10)
    target_concurrency: str = text_input(20)
    cpu: str = text_input(20)
    memory: str = text_input(20)
    gpus: str = text_input(20)


class NewDeployment(Settings):
    """`/deploy`'s form: the settings, and the deployment's name and project."""

    name: str = text_input(200)
    project: str = text_input(200)


@router.post("/deploy")
def deploy_create(page: PostingPage, posted: Annotated[NewDeployment, Form()]) -> Response:
    """Deploy the chosen model version, then the deployment's page; a refusal is the form
    again with its reasons."""
    form = PageForm(FORM, posted.typed())
    model = posted.model.strip()
    if model:
        models.version(page.session, page.me.who, model)  # another's private: the 404 page
    try:
        body = parse(
            form,
            schemas.DeploymentIn,
            {
                "name": posted.name.strip(),
                "project": posted.project.strip() or None,
                "model": model,
                "engine": posted.engine,
                **_sizes(posted),
                "resources": _resources(posted.typed(*RESOURCES), {}),
            },
            {},
        )
        with service_call(page.session, form):
            made = deployments.create(
                page.session,
                page.me.who,
                page.state.blobs,
                **body.model_dump(),
                policy=_policy(page.state),
            )
    except Rejected as refused:
        _place(form)
        return _form_page(page, form, status=refused.status)
    query = urlencode({"project": made.project_id, "done": "create"})
    return RedirectResponse(f"/deployments/{quote(made.name)}?{query}", status_code=303)


def _sizes(posted: Settings) -> dict[str, Any]:
    """The replicas' bounds as the API's request models take them."""
    return {
        "min_replicas": posted.min_replicas.strip(),
        "max_replicas": posted.max_replicas.strip(),
        "target_concurrency": posted.target_concurrency.strip() or None,
    }


def _edit_values(d: views.Deployment) -> dict[str, str]:
    values = {"name": d.name, "project": d.project_id, "model": d.model or "", "engine": d.engine}
    values |= {"min_replicas": str(d.min_replicas), "max_replicas": str(d.max_replicas)}
    values |= {"target_concurrency": _text(d.target_concurrency)}
    return values | _resource_texts(d.resources)


@router.get("/deployments/{name}/edit")
def deployment_edit_form(page: PageDep, name: str, project: str | None = None) -> Response:
    found = _deployment(page, name, project)
    return _form_page(page, PageForm(FORM, _edit_values(found)), d=found)


@router.post("/deployments/{name}/edit")
def deployment_edit(
    page: PostingPage, name: str, posted: Annotated[Settings, Form()], project: str | None = None
) -> Response:
    """New bounds for the replicas (`scale`) and, when the model version, engine or resources
    changed, a new revision rolled out one replica at a time (`update`), in one transaction."""
    found = _deployment(page, name, project)
    typed = posted.typed()
    form = PageForm(FORM, {**_edit_values(found), **typed})
    changes: dict[str, Any] = {"resources": _resources(typed, found.resources)}
    model = posted.model.strip()
    if found.model is not None:
        changes["engine"] = posted.engine
        if model and model != found.model:  # a new version
            models.version(page.session, page.me.who, model)  # another's private: the 404 page
            changes["model"] = model
    try:
        patch = parse(form, schemas.DeploymentPatch, changes, {})
        sizes = parse(form, schemas.ScaleIn, _sizes(posted), {})
        with service_call(page.session, form):
            where = found.project_id
            deployments.scale(
                page.session,
                page.me.who,
                found.name,
                **sizes.model_dump(),
                project=where,
                policy=_policy(page.state),
            )
            deployments.update(
                page.session,
                page.me.who,
                page.state.blobs,
                found.name,
                patch.model_dump(exclude_none=True),
                project=where,
            )
    except Rejected as refused:
        _place(form)
        return _form_page(page, form, d=found, status=refused.status)
    query = urlencode({"project": found.project_id, "done": "edit"})
    return RedirectResponse(f"/deployments/{quote(found.name)}?{query}", status_code=303)


@router.post("/deployments/{name}/{action}")
def deployment_action(
    page: PostingPage, name: str, action: str, project: str | None = None
) -> Response:
    """Stop, start or roll back (a viewer gets the 403 page), then the deployment's page."""
    if action not in ACTIONS:
        return error_page(page.request, 404, "")
    where = project or None
    changed = {
        "stop": deployments.stop,
        "start": deployments.start,
        "rollback": deployments.rollback,
    }[action](page.session, page.me.who, name, project=where)
    query = urlencode({"project": changed.project_id, "done": action})
    return RedirectResponse(f"/deployments/{quote(changed.name)}?{query}", status_code=303)
