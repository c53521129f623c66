"""The marketplace's templates: the catalog (filtered, or matched against a data set), runs
that train a template into a registered model, publishing a tenant's own, and ratings and
reviews of templates and models (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.idempotency import IdempotencyKey, create_once
from aicc.api.paging import PageArgs
from aicc.api.params import DatasetName, ProjectRef
from aicc.api.reviews import add_review_routes
from aicc.estimate.templates import TemplateEstimate
from aicc.services.common import Invalid
from aicc.services.jobs import views as jobs_views
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models import catalog, template_estimate, template_runs, templates, views
from aicc.services.serving import lifecycle

router = APIRouter(prefix="/api/v1", tags=["templates"])

Filter = Annotated[str | None, Query(max_length=100)]
# A built-in's NAME, or a published template's NAME, NAME@N or ORG/PROJECT/NAME@N
TEMPLATE_RULE = Path(
    pattern=r"^([A-Za-z0-9._-]{1,64}/[A-Za-z0-9._-]{1,64}/)?"
    r"[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?(@[0-9]{1,9})?$"
)
TemplateRef = Annotated[str, TEMPLATE_RULE]


@router.get("/templates", response_model=schemas.Page[views.Template])
def templates_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    industry: Filter = None,
    task: Filter = None,
    q: Filter = None,
    data: Annotated[str | None, Query(max_length=300)] = None,
    column: Annotated[list[Annotated[str, Query(max_length=400)]], Query(max_length=50)] = [],  # noqa: B006
    project: ProjectRef = None,
) -> dict[str, object]:
    """The catalog, by industry, task or words; with `data=NAME@N`, whether each template fits
    that data set version, and why not (those that fit first); `column=ROLE=COLUMN` (again for
    each role) gives a template's role a column of the data, as a run's `columns` do."""
    columns = {}
    for given in column:
        role, sep, name = given.partition("=")
        if not (sep and role and name):
            raise Invalid("column: ROLE=COLUMN (target=weather), not {given!r}", given=given)
        columns[role] = name
    found = catalog.listing(
        session,
        who,
        industry=industry,
        task=task,
        q=q,
        data=data,
        project=project,
        columns=columns or None,
    )
    return paging.cut(found)


@router.post("/templates", response_model=views.Template, status_code=201)
def templates_publish(
    body: schemas.PublishIn, who: CurrentUser, session: SessionDep, state: StateDep
) -> Any:
    """Publish a template directory as the next version of the caller's template of its
    manifest's name: private (default), org or public (org admins), with a per-use price."""
    template = templates.publish(
        session,
        who,
        state.chunks,
        {path: text.encode() for path, text in body.files.items()},
        **body.model_dump(exclude={"files"}),
    )
    return catalog.of(session, template)


add_review_routes(router, "/templates/{name:path}", kind="template", name_rule=TEMPLATE_RULE)


@router.get("/templates/{name:path}", response_model=views.Template)
def templates_get(
    name: TemplateRef, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> Any:
    """A built-in, or a published template the caller reads (`NAME@N`: that version)."""
    return catalog.get(session, who, name, project=project)


@router.delete("/templates/{name}", status_code=204)
def templates_delete(
    name: DatasetName, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> None:
    """Withdraw the caller's published template (the models its runs made stay)."""
    templates.delete(session, who, name, project=project)


@router.post("/templates/{name:path}/runs", response_model=jobs_views.Job, status_code=201)
def templates_run(
    name: TemplateRef,
    body: schemas.RunIn,
    who: CurrentUser,
    state: StateDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> jobs_views.Job:
    """Submit a training job of the template; its model is registered when the job succeeds
    (the job's outputs: model files, metrics, curves, report, and the inference script). A
    retry with the same `Idempotency-Key` answers the same job (200), used and charged once."""
    limits = SubmitLimits.of(state.settings, local_only=True)

    def submit(session: Session) -> tuple[jobs_views.Job, bool]:
        return template_runs.run(
            session,
            who,
            state.blobs,
            name,
            **body.model_dump(),
            store=state.chunks,
            zone=state.settings.site.timezone,
            idempotency_key=idempotency_key,
            limits=limits,
        )

    return create_once(state, response, submit)


@router.post("/templates/{name:path}/estimate", response_model=TemplateEstimate)
def templates_estimate(
    name: TemplateRef,
    body: schemas.RunIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> TemplateEstimate:
    """What the run with this body would take, submitting nothing: its time, expected wait and
    price on CPU only and on each accelerator model the center has (docs/estimate.md)."""
    return template_estimate.estimate(
        session,
        who,
        name,
        profile=state.controller.profile,
        default_plan=state.settings.pricing,
        zone=state.settings.site.timezone,
        protect=lifecycle.protected,
        **body.shared(),
    )
