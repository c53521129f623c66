"""The model registry: models, their versions and stages, their files, the models trained on a
data set, and batch predictions of a version (docs/api.md). A model is named like a data set:
`{name}` and `?project=`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.idempotency import IdempotencyKey, create_once
from aicc.api.paging import PageArgs
from aicc.api.params import (
    NAME_RULE,
    AtVersion,
    ChunkDigest,
    DatasetName,
    Named,
    ProjectRef,
    Scope,
    VersionNumber,
)
from aicc.api.responses import OCTETS, chunk_answer
from aicc.api.reviews import add_review_routes
from aicc.services.data import datasets
from aicc.services.data import views as data_views
from aicc.services.data.datasets import MODEL
from aicc.services.jobs import jobs, logs
from aicc.services.jobs import views as jobs_views
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models import models, predictions, views

router = APIRouter(prefix="/api/v1", tags=["models"])


@router.get("/models", response_model=schemas.Page[views.Model])
def models_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: ProjectRef = None,
    scope: Scope = "project",
) -> dict[str, object]:
    """`scope=project` (default): a project's models; `visible`: all you may read; `public`:
    the center's shared models. Each with its versions, newest first."""
    return paging.cut(models.list_models(session, who, project=project, scope=scope))


@router.get("/models/{name}", response_model=views.Model)
def models_get(who: CurrentUser, session: SessionDep, ref: Named) -> Any:
    target, where = ref
    return models.get(session, who, str(target), project=where)


@router.patch("/models/{name}", response_model=views.Model)
def models_update(
    name: DatasetName,
    body: schemas.ModelPatch,
    who: CurrentUser,
    session: SessionDep,
    project: ProjectRef = None,
) -> Any:
    """Share the model (`visibility`) or describe it; public only by org admins."""
    changes = body.model_dump(exclude_none=True)
    return models.update(session, who, name, changes, project=project)


@router.delete("/models/{name}", status_code=204)
def models_delete(
    name: DatasetName, who: CurrentUser, session: SessionDep, project: ProjectRef = None
) -> Response:
    models.delete(session, who, name, project=project)
    return Response(status_code=204)


@router.post("/models/{name}/versions", response_model=views.ModelVersion, status_code=201)
def models_register(
    name: DatasetName,
    body: schemas.RegisterIn,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> Any:
    """Register a succeeded job's outputs as the next version of the model (made when
    missing), with the job and its data sets as lineage."""
    job = jobs.get(session, who, body.job_id)
    outputs = logs.outputs_dir(session, job, state.executors)
    fields = body.model_dump(exclude={"job_id"})
    return models.register_job(session, who, state.chunks, name, job, outputs, **fields)


@router.get("/models/{name}/versions/{number}", response_model=views.ModelVersion)
def models_version(
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
) -> Any:
    """One version with its files, metrics, card and lineage (`latest` for the newest)."""
    target, where = ref
    return models.version(session, who, str(target), project=where)


@router.put("/models/{name}/versions/{number}/stage", response_model=views.ModelVersion)
def models_stage(
    body: schemas.StageIn,
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
) -> Any:
    """Move the version to a stage; promoting one to `production` archives the one before."""
    target, where = ref
    return models.set_stage(session, who, str(target), body.stage, project=where)


@router.post(
    "/models/{name}/versions/{number}/predictions", response_model=jobs_views.Job, status_code=201
)
def models_predict(
    name: DatasetName,
    number: VersionNumber,
    body: schemas.PredictIn,
    who: CurrentUser,
    state: StateDep,
    response: Response,
    project: ProjectRef = None,
    idempotency_key: IdempotencyKey = None,
) -> jobs_views.Job:
    """Batch prediction: a job that runs the version's predict.py on data set version `data`;
    when it succeeds, its predictions become the next version of data set `output`. A data set
    without the columns the model's input schema requires is a 422 naming them. A retry with
    the same `Idempotency-Key` answers the same job (200)."""
    target, where = datasets.reference(name, project=project, version=number)
    limits = SubmitLimits.of(state.settings, local_only=True)

    def submit(session: Session) -> tuple[jobs_views.Job, bool]:
        return predictions.submit(
            session,
            who,
            model=str(target),
            model_project=where,
            idempotency_key=idempotency_key,
            limits=limits,
            **body.model_dump(),
        )

    return create_once(state, response, submit)


@router.get(
    "/models/{name}/versions/{number}/predictions",
    response_model=schemas.Page[views.BatchPrediction],
)
def models_predictions(
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
    paging: PageArgs,
) -> dict[str, object]:
    """The version's batch predictions you may see, newest first: each its job and, once the
    job ended, the data set version of its predictions (`state` done, `result` NAME@N) or why
    there is none (`failed`)."""
    target, where = ref
    found = predictions.list_predictions(session, who, str(target), project=where)
    return paging.cut(found)


@router.get("/models/{name}/versions/{number}/manifest", response_model=data_views.Manifest)
def models_manifest(
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
) -> Any:
    """The version's files and their chunks, which `aicc model pull` fetches."""
    target, where = ref
    return datasets.version_manifest(session, who, target, project=where, kind=MODEL)


@router.get("/models/{name}/chunks/{digest}", response_class=Response, responses=OCTETS)
def models_chunk(
    name: DatasetName,
    digest: ChunkDigest,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    project: ProjectRef = None,
) -> Response:
    """One chunk of the model's files, as bytes (immutable: cached for a year)."""
    target, where = datasets.reference(name, project=project)
    return chunk_answer(
        datasets.chunk(session, who, state.chunks, target, digest, project=where, kind=MODEL)
    )


@router.get("/datasets/{name}/versions/{number}/models", response_model=list[views.ModelVersion])
def datasets_models(
    who: CurrentUser,
    session: SessionDep,
    ref: AtVersion,
) -> Any:
    """The model versions you may read that were trained on this data set version."""
    target, where = ref
    return models.trained_on(session, who, str(target), project=where)


add_review_routes(
    router,
    "/models/{name}",
    kind="model",
    name_rule=NAME_RULE,
    rated_doc="A model's rating (mean, count) and its reviews, newest first.",
)
