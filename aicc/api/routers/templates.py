"""The marketplace's templates: the catalog (filtered, or matched against a data set) and runs
that train a template into a registered model (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import Cursor, Limit, page
from aicc.api.routers.datasets import DatasetName, ProjectRef
from aicc.services import template_estimate, templates

router = APIRouter(prefix="/api/v1", tags=["templates"])

Filter = Annotated[str | None, Query(max_length=100)]


def _out(template: templates.Template, fit: Any = None) -> schemas.Template:
    m = template.manifest
    return schemas.Template(
        name=template.name,
        title=m.title.model_dump(by_alias=True),
        summary=m.summary.model_dump(by_alias=True),
        industry=m.industry,
        task=m.task,
        framework=m.framework,
        licence=m.licence,
        source=template.source,
        metric=schemas.TemplateMetric.model_validate(template.metric),
        manifest=m.model_dump(mode="json", by_alias=True),
        fit=schemas.Fit.model_validate(fit, from_attributes=True) if fit is not None else None,
    )


@router.get("/templates", response_model=schemas.Page[schemas.Template])
def templates_list(
    who: CurrentUser,
    session: SessionDep,
    industry: Filter = None,
    task: Filter = None,
    q: Filter = None,
    data: Annotated[str | None, Query(max_length=300)] = None,
    project: ProjectRef = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, object]:
    """The catalog, by industry, task or words; with `data=NAME@N`, whether each template fits
    that data set version, and why not (those that fit first)."""
    found = templates.list_templates(industry=industry, task=task, q=q)
    if data is None:
        items = [_out(t) for t in found]
    else:
        names = {t.name for t in found}
        fits = [
            f
            for f in templates.fits(session, who, data, project=project)
            if f.template.name in names
        ]
        fits.sort(key=lambda f: not f.fit.ok)
        items = [_out(f.template, f.fit) for f in fits]
    return page(items, limit, cursor)


@router.get("/templates/{name}", response_model=schemas.Template)
def templates_get(name: DatasetName, who: CurrentUser) -> Any:
    return _out(templates.get(name))


@router.post("/templates/{name}/runs", response_model=schemas.Job, status_code=201)
def templates_run(
    name: DatasetName,
    body: schemas.RunIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> schemas.Job:
    """Submit a training job of the template; its model is registered when the job succeeds
    (the job's outputs: model files, metrics, curves, report, and the inference script)."""
    job = templates.run(
        session,
        who,
        state.blobs,
        name,
        data=body.data,
        params=dict(body.params),
        model=body.model,
        columns=dict(body.columns),
        project=body.project,
        queue=body.queue,
        gpus=body.gpus,
        cpu=body.cpu,
        search=body.search,
        trials=body.trials,
    )
    return schemas.job_out(job)


@router.post("/templates/{name}/estimate", response_model=schemas.TemplateEstimate)
def templates_estimate(
    name: DatasetName,
    body: schemas.RunIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> schemas.TemplateEstimate:
    """What the run with this body would take, submitting nothing: its time, expected wait and
    price on CPU only and on each accelerator model the center has (docs/estimate.md)."""
    return template_estimate.estimate(
        session,
        who,
        name,
        profile=state.controller.profile,
        default_plan=state.settings.pricing,
        zone=state.settings.site.timezone,
        data=body.data,
        params=dict(body.params),
        columns=dict(body.columns),
        project=body.project,
        gpus=body.gpus,
        cpu=body.cpu,
        search=body.search,
        trials=body.trials,
    )
