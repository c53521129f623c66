"""The marketplace's templates: the catalog (filtered, or matched against a data set), runs
that train a template into a registered model, publishing a tenant's own, and ratings and
reviews of templates and models (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from sqlalchemy.exc import IntegrityError

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import Cursor, Limit, page
from aicc.api.params import DatasetName, ProjectRef
from aicc.estimate.templates import TemplateEstimate
from aicc.services.common import Invalid
from aicc.services.jobs import views as jobs_views
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models import catalog, reviews, template_estimate, templates, views

router = APIRouter(prefix="/api/v1", tags=["templates"])

Filter = Annotated[str | None, Query(max_length=100)]
# A built-in's NAME, or a published template's NAME, NAME@N or ORG/PROJECT/NAME@N
TemplateRef = Annotated[
    str,
    Path(
        pattern=r"^([A-Za-z0-9._-]{1,64}/[A-Za-z0-9._-]{1,64}/)?"
        r"[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?(@[0-9]{1,9})?$"
    ),
]


@router.get("/templates", response_model=schemas.Page[views.Template])
def templates_list(
    who: CurrentUser,
    session: SessionDep,
    industry: Filter = None,
    task: Filter = None,
    q: Filter = None,
    data: Annotated[str | None, Query(max_length=300)] = None,
    column: Annotated[list[Annotated[str, Query(max_length=400)]], Query(max_length=50)] = [],  # noqa: B006
    project: ProjectRef = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
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
    return page(found, limit, cursor)


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
        project=body.project,
        visibility=body.visibility,
        licence=body.licence,
        price=body.price,
        description=body.description,
    )
    return catalog.of(session, template)


@router.get("/templates/{name:path}/reviews", response_model=views.Reviews)
def templates_reviews(
    name: TemplateRef, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> Any:
    return reviews.rated(session, reviews.target(session, who, "template", name, project=project))


@router.put("/templates/{name:path}/reviews", response_model=views.Review)
def templates_review(
    name: TemplateRef,
    body: schemas.ReviewIn,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Any:
    """Rate (1-5) and review a template the caller reads; a second review replaces the first."""
    about = reviews.target(session, who, "template", name, project=project)
    return reviews.review(session, who, about, body.rating, body.text)


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
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> jobs_views.Job:
    """Submit a training job of the template; its model is registered when the job succeeds
    (the job's outputs: model files, metrics, curves, report, and the inference script). A
    retry with the same `Idempotency-Key` answers the same job (200), used and charged once."""
    limits = SubmitLimits.of(state.settings, local_only=True)

    def submit() -> tuple[jobs_views.Job, bool]:
        with state.db.session() as session:
            return templates.run(
                session,
                who,
                state.blobs,
                name,
                **body.shared(),
                model=body.model,
                queue=body.queue,
                store=state.chunks,
                zone=state.settings.site.timezone,
                idempotency_key=idempotency_key,
                limits=limits,
            )

    try:
        job, created = submit()
    except IntegrityError:  # a concurrent retry with the same key won the race: its job
        job, created = submit()
    if not created:
        response.status_code = 200
    return job


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
        **body.shared(),
    )
