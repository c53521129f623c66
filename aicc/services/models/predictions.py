"""Batch prediction (issue 37: a data set version in, a data set version of predictions out):
a job that runs a model version's own `predict.py` on a data set version, whose predictions
become the next version of a data set when it succeeds.

The job mounts the model version and the data set version read-only (`$AICC_DATA_DIR/NAME`, as
a deployment mounts its model), runs from the model's files (its predict.py beside train.py and
the runtime, as `template_outputs.ingest` registered them) with no network, and writes
`$AICC_OUTPUT_DIR/predictions.csv`. It promises a data set version (`JobOutputRow` kind
`predictions`): `ingest_outputs` delivers that one file, through the guard of job-written files,
with lineage to the model version and the data it read. What can be known before it runs is
refused before anything is submitted (4xx): a model without predict.py, data without a table
(or images, for an image model), a table without a column the model's input schema requires,
a template library this server's Python lacks; another tenant's model or data is a 404.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import templates as core_templates
from aicc.core.datasets import Manifest
from aicc.core.jobspec import JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.services.common import Invalid, NotFound, utcnow
from aicc.services.data import datasets, lookups, uploads
from aicc.services.data.datasets import MODEL
from aicc.services.data.views import DatasetRef
from aicc.services.jobs import jobs
from aicc.services.jobs.views import Job
from aicc.services.models import models, template_runtime, templates, views
from aicc.services.tenancy import tenancy
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import JobOutputRow, ModelVersionRow

KIND = "predictions"  # the JobOutputRow kind (services/models/outputs.py delivers it)
OUTPUT = "predictions.csv"
SCRIPT = "predict.py"
RESOURCES = {"cpu": 1, "memory": "2GiB"}


def submit(
    session: Session,
    who: Principal,
    *,
    model: str,
    data: str,
    output: str | None = None,
    project: str | None = None,
    model_project: str | None = None,
    table: str | None = None,
    queue: str | None = None,
    idempotency_key: str | None = None,
    limits: jobs.SubmitLimits = jobs.SubmitLimits(),
) -> tuple[jobs.Job, bool]:
    """Submit a batch prediction of model version `model` (`NAME@N`; the latest without `@N`)
    on data set version `data`, in `project` (the caller's default), whose predictions become
    the next version of data set `output` (default `MODEL-predictions`, made when missing).
    The model is looked up in `model_project` when given (a route's `?project=`), else as the
    data is.
    `table` picks the file of `data` to read (default: the largest table with every input the
    model requires). Answers (job, created); a retry with the same `idempotency_key` answers
    the job already submitted."""
    model_row, model_version = lookups.find(
        session, who, model, project=model_project or project, kind=MODEL
    )
    data_row, data_version = lookups.find(session, who, templates.data_ref(data), project=project)
    check_predicts(
        session,
        ref=f"{model_row.name}@{model_version.number}",
        manifest=model_version.manifest,
        lineage=model_version.lineage,
    )
    extra = session.get(ModelVersionRow, model_version.id)
    schema = models.stored(views.InputSchema, extra.input_schema if extra else None)
    data_ref = f"{data_row.name}@{data_version.number}"
    where = _input(data_ref, data_version, schema, table)
    target = _target(session, who, output or f"{model_row.name}-predictions", project)
    qualified_model = f"{model_row.project}/{model_row.name}@{model_version.number}"
    qualified_data = f"{data_row.project}/{data_row.name}@{data_version.number}"
    read = shlex.quote(f"{data_row.name}/{where}".rstrip("/"))
    command = (
        f'cd "$AICC_DATA_DIR"/{shlex.quote(model_row.name)} && python {SCRIPT} --model model '
        f'--input "$AICC_DATA_DIR"/{read} --output "$AICC_OUTPUT_DIR"/{OUTPUT}'
    )
    spec = _spec(
        {
            "name": f"predict-{model_row.name}"[:63].rstrip("-._"),
            "kind": "infer",
            "project": tenancy.resolve_project(session, who, project).name,
            "queue": queue,
            "command": command,
            "datasets": [qualified_model, qualified_data],
            "env": {"PYTHONDONTWRITEBYTECODE": "1"},
            "resources": RESOURCES,
            "labels": {"aicc.io/model": model_row.name, "aicc.io/predictions": target.name},
            "egress": "none",  # the model's code reads the tenant's data: it sends nothing out
        }
    )
    job, created = jobs.submit(session, who, spec, idempotency_key=idempotency_key, limits=limits)
    if created:
        lineage = {
            "job_id": job.id,
            "model": qualified_model,
            "model_version": model_version.id,
            "datasets": [qualified_data],
            "dataset_versions": [data_version.id],
            "input": where,
        }
        _promise(session, job.id, target.id, lineage)
    return job, created


def check_predicts(
    session: Session, *, ref: str, manifest: Manifest, lineage: dict[str, Any]
) -> None:
    """Refuse (422) the model version `ref` (NAME@N; its files and lineage) when it cannot
    predict in batch here: no predict.py, or the runtime of the template that trained it
    missing from this server's Python."""
    if manifest.find(SCRIPT) is None:
        raise Invalid(
            "model {ref} has no predict.py: only a model a template trained predicts in batch "
            "(or add predict.py beside its files and register it again)",
            ref=ref,
        )
    _check_runtime(session, lineage)


def _promise(session: Session, job_id: str, target_id: str, lineage: dict[str, Any]) -> None:
    """The job's promised output: its predictions, delivered to data set `target_id` when it
    succeeds (`services/models/outputs.py`)."""
    session.add(
        JobOutputRow(
            job_id=job_id,
            kind=KIND,
            target_id=target_id,
            lineage=lineage,
            state="pending",
            result="",
            created_at=utcnow(),
        )
    )
    session.flush()


def _spec(doc: dict[str, Any]) -> JobSpec:
    """The job's spec, or a 422 naming what the body got wrong (a queue name), never a 500."""
    try:
        return JobSpec.model_validate(doc)
    except ValidationError as err:
        raise Invalid("{problem}", problem=first_problem(err)) from None


def _check_runtime(session: Session, lineage: dict[str, Any]) -> None:
    """Refuse (422) what would fail at once for a library this server's Python lacks: the
    template that trained the model, when it is a built-in and the jobs run here."""
    name = str(lineage.get("template") or "")
    if not name or not template_runtime.runs_here(session):
        return
    try:
        found = templates.get(name)
    except NotFound:  # a published template (or one since gone): its runtime is not checked
        return
    template_runtime.check_runtime(found.manifest)


def _input(
    ref: str, version: lookups.Version, schema: views.InputSchema | None, table: str | None
) -> str:
    """The path (in the data set) the model reads: a folder of images for an image model
    (its root: ""), else the table `table` or the largest one holding every required input."""
    if schema is not None and any(i.type == "image" for i in schema.inputs):
        paths = [f.path for f in version.manifest.files]
        if not any(p.lower().endswith(core_templates.IMAGE_SUFFIXES) for p in paths):
            raise Invalid(
                "{ref} has no images (PNG, JPEG, BMP or WebP) for the model to classify", ref=ref
            )
        return table or ""
    tables: dict[str, Any] = dict(version.tables)
    if not tables:
        raise Invalid(
            "{ref} has no table (CSV, Parquet, JSON or JSON lines file) to predict on", ref=ref
        )
    if table is not None:
        if table not in tables:
            raise Invalid(
                "table: {ref} has no table {table}; its tables: {tables}",
                ref=ref,
                table=table,
                tables=", ".join(sorted(tables)[:20]),
            )
        chosen = [table]
    else:
        chosen = sorted(tables, key=lambda p: (-int(tables[p].get("rows") or 0), p))
    lacking: list[str] = []
    for path in chosen:
        lacking = _lacking(schema, tables[path])
        if not lacking:
            return path
    first = chosen[0]
    raise Invalid(
        "{ref} lacks what the model needs, column by column: {columns} (in {table}: name your "
        "columns as the model's input schema does, `aicc model show MODEL@N`)",
        ref=ref,
        columns=", ".join(_lacking(schema, tables[first])),
        table=first,
    )


def _lacking(schema: views.InputSchema | None, table: dict[str, Any]) -> list[str]:
    """The schema's required inputs a table lacks (none for a model without a schema; a
    forecaster given `horizon` forecasts from the end of its series and needs nothing else)."""
    if schema is None:
        return []
    have = {str(c.get("name")) for c in table.get("columns") or ()}
    if schema.task == "forecasting" and "horizon" in have:
        return []
    return [i.name for i in schema.inputs if i.required and i.name not in have]


def _target(session: Session, who: Principal, name: str, project: str | None) -> DatasetRef:
    """The data set the predictions go to, made in the caller's project when missing (a
    model's or template's name there is a 409 now, not a failed delivery after the job)."""
    datasets.create_if_missing(session, who, name, project)
    row, _ = lookups.find_writable(session, who, name, project)
    return row


def list_predictions(
    session: Session, who: Principal, model: str, *, project: str | None = None
) -> list[views.BatchPrediction]:
    """The batch predictions of model version `model` (the latest without `@N`) whose jobs the
    caller may see (a shared model's runs by other tenants are theirs), newest first."""
    _, version = lookups.find(session, who, model, project=project, kind=MODEL)
    query = (
        select(JobOutputRow)
        .where(JobOutputRow.kind == KIND)
        .order_by(JobOutputRow.created_at.desc(), JobOutputRow.job_id.desc())
    )
    found = []
    for out in session.scalars(query):
        if (out.lineage or {}).get("model_version") != version.id:
            continue
        try:
            found.append(_view(session, who, out))
        except NotFound:  # another tenant's run of a shared model, or its target is gone
            continue
    return found


def _view(session: Session, who: Principal, out: JobOutputRow) -> views.BatchPrediction:
    job = jobs.get(session, who, out.job_id)  # another tenant's job: NotFound
    row = datasets.ref_by_id(session, out.target_id)
    if row is None:
        raise NotFound("the data set of job {job}'s predictions is gone", job=out.job_id)
    lineage = out.lineage or {}
    return views.BatchPrediction(
        job_id=job.id,
        job_state=job.state,
        model=str(lineage.get("model") or ""),
        data=str((lineage.get("datasets") or [""])[0]),
        input=str(lineage.get("input") or ""),
        output=row.name,
        project=row.project,
        state=out.state,  # type: ignore[arg-type]  # pending, done or failed (outputs.py)
        result=out.result,
        created_at=out.created_at,
    )


def ingest_outputs(
    session: Session, store: ChunkStore, who: Principal, job: Job, out: JobOutputRow, root: Path
) -> str:
    """A batch prediction's `predictions.csv` as the next version of its data set
    (`services/models/outputs.py` calls it when the job succeeded), with lineage to the model
    version and the data it read; read through the guard of job-written files."""
    row = datasets.ref_by_id(session, out.target_id)
    if row is None:
        raise NotFound("the data set is gone")
    files = jobfiles.JobFiles(root)
    try:
        written = files.open(OUTPUT)
    except FileNotFoundError:
        raise Invalid("the job wrote no {name}; nothing was made", name=OUTPUT) from None
    committed = uploads.ingest_into(
        session,
        who,
        store,
        row,
        [(OUTPUT, written)],
        f"predictions of {out.lineage.get('model')} on {(out.lineage.get('datasets') or [''])[0]}",
        lineage=dict(out.lineage),
    )
    return committed.version.ref
