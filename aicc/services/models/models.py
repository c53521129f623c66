"""The model registry (docs/contracts.md §9): models with immutable versions, each its files,
format, metrics, hyperparameters, card, lineage and stage.

A model is stored as a data set of kind `model` (`services/data`): its versions are its files,
content-addressed by chunk, so a model shares the data sets' visibility, references
(`NAME@N`, `ORG/PROJECT/NAME@N`), download, storage metering, quotas and bills, and a model and a
data set of one project never share a name. What only a model has lives in `ModelVersionRow`;
its lineage (the job that trained it, the data set versions it saw, the template and its
hyperparameters) in the version's `lineage`, which answers both ways: `trained_on` finds the
models made from a data set version.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

from pydantic import ValidationError
from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import datasets as core
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, View, from_row, utcnow
from aicc.services.data import chunks, datasets, lookups, uploads
from aicc.services.data.datasets import MODEL
from aicc.services.data.views import Dataset, DatasetVersion
from aicc.services.jobs import jobs, logs, metrics
from aicc.services.models import model_reports
from aicc.services.models.views import (
    Charts,
    Facts,
    InputSchema,
    Model,
    ModelFile,
    ModelVersion,
)
from aicc.services.tenancy import audit, directory
from aicc.store.chunkfiles import ChunkFile
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import ModelVersionRow

V = TypeVar("V", bound=View)
STAGES = ("staging", "production", "archived")
CURVES = "metrics.jsonl"  # the training curves among a version's files (core/templates.py)
MAX_CURVE_BYTES = 8 * 1024 * 1024  # read of a long log: its first lines
MAX_CURVE_POINTS = 2000  # points per curve on a page; longer ones are thinned evenly


def _version(
    row: DatasetVersion,
    extra: ModelVersionRow | None,
    name: str,
    *,
    manifest: core.Manifest | None = None,
) -> ModelVersion:
    """The model version `row` is, with its files when `manifest` is given (and its charts)."""
    listed = (
        [ModelFile(path=f.path, size=f.size) for f in manifest.files]
        if manifest is not None
        else []
    )
    return ModelVersion(
        name=name,
        number=row.number,
        ref=f"{name}@{row.number}",
        stage=extra.stage if extra else "staging",  # type: ignore[arg-type]  # checked when set
        format=extra.format if extra else "",
        framework=extra.framework if extra else "",
        metrics=dict(extra.metrics or {}) if extra else {},
        params=dict(extra.params or {}) if extra else {},
        lineage=dict(row.lineage or {}),
        card=extra.card if extra else "",
        file_count=row.file_count,
        logical_bytes=row.logical_bytes,
        files=listed,
        created_by=row.created_by,
        created_at=row.created_at,
        input_schema=stored(InputSchema, extra.input_schema if extra else None),
        facts=stored(Facts, extra.facts if extra else None),
        charts=stored(Charts, extra.charts if extra and manifest is not None else None),
        notes=list(extra.notes or []) if extra else [],
    )


def stored(view: type[V], doc: dict[str, Any] | None) -> V | None:
    """A stored schema, facts or charts as their read model (checked when registered; one a
    later read model no longer takes reads as unknown, never as an error)."""
    if not doc:
        return None
    try:
        return view.model_validate(doc)
    except ValidationError:
        return None


def _versions(session: Session, dataset_id: str, name: str) -> list[ModelVersion]:
    """The model's versions with their facts, newest first, in one query."""
    query = lookups.listing(dataset_id)
    query = query.add_columns(ModelVersionRow).outerjoin(
        ModelVersionRow, ModelVersionRow.version_id == query.selected_columns.id
    )
    return [
        _version(lookups.details(found, name), found[-1], name) for found in session.execute(query)
    ]


def _model(session: Session, who: Principal, ref: str, project: str | None) -> Model:
    found = datasets.get(session, who, ref, project=project, kind=MODEL, with_versions=False)
    return _describe(session, found)


def _describe(session: Session, found: Dataset) -> Model:
    """The model the data set `found` holds (as data describes it to the caller)."""
    versions = _versions(session, found.id, found.name)
    latest = versions[0].number if versions else None
    return from_row(Model, found, latest=latest, versions=versions)


def list_models(
    session: Session, who: Principal, *, project: str | None = None, scope: str = "project"
) -> list[Model]:
    """A project's models (`scope=project`), all the caller reads (`visible`), or the center's
    public ones (`public`), each with its versions."""
    listed = datasets.list_datasets(session, who, project=project, scope=scope, kind=MODEL)
    return [_describe(session, found) for found in listed]


def get(session: Session, who: Principal, ref: str, *, project: str | None = None) -> Model:
    """A model the caller reads, with its versions (newest first)."""
    return _model(session, who, ref, project)


def version(
    session: Session, who: Principal, ref: str, *, project: str | None = None
) -> ModelVersion:
    """One version (the latest when `ref` names none), with its files."""
    row, found = lookups.find(session, who, ref, project=project, kind=MODEL)
    extra = session.get(ModelVersionRow, found.id)
    return _version(found.details, extra, row.name, manifest=found.manifest)


def register(
    session: Session,
    who: Principal,
    store: ChunkStore,
    name: str,
    files: Iterable[tuple[str, bytes | BinaryIO]],
    *,
    project: str | None = None,
    format: str = "",
    framework: str = "",
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    card: str = "",
    lineage: dict[str, Any] | None = None,
    description: str = "",
    licence: str = "",
    input_schema: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    charts: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> ModelVersion:
    """The next version of model `name` (made when missing) from these files, in `staging`.
    Files equal to the latest version's make no new version: that one is returned. A file given
    open is read a block at a time, and closed (`uploads.ingest`). `input_schema`, `facts` and
    `charts` are what `model_reports.describe` checked (`views.InputSchema`, ...)."""
    _check_metrics(metrics or {})
    datasets.create_if_missing(
        session, who, name, project, kind=MODEL, description=description, licence=licence
    )
    committed = uploads.ingest(
        session, who, store, name, project, files, "registered", lineage=lineage, kind=MODEL
    )
    owner, _ = lookups.find_writable(session, who, name, project, kind=MODEL)  # as ingest did
    found = lookups.numbered_manifest(session, owner.id, committed.version.number)
    assert found is not None
    version_id, manifest = found
    extra = session.get(ModelVersionRow, version_id)
    if extra is None:
        extra = ModelVersionRow(
            version_id=version_id,
            stage="staging",
            format=format,
            framework=framework,
            metrics=dict(metrics or {}),
            params=dict(params or {}),
            card=card,
            updated_at=utcnow(),
            input_schema=input_schema,
            facts=facts,
            charts=charts,
            notes=list(notes or []),
        )
        session.add(extra)
        session.flush()
    return _version(committed.version, extra, name, manifest=manifest)


def give(
    session: Session,
    who: Principal,
    store: ChunkStore,
    version_id: str,
    name: str,
    *,
    project: str | None = None,
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """Model version `version_id` (anyone's) as the next version of the caller's model `name`
    in `project`: the same files (read through and stored once, as chunks are content-addressed),
    input schema and card. For a context that has decided the caller may have it (a challenge's
    award, under terms that give the poster the results); `lineage` says where it came from."""
    manifest = lookups.manifest(session, version_id)
    extra = session.get(ModelVersionRow, version_id)
    if manifest is None or extra is None:
        raise NotFound("model version {version} is gone", version=version_id)
    source = chunks.reader(session, store, [c.digest for f in manifest.files for c in f.chunks])
    return register(
        session,
        who,
        store,
        name,
        [(f.path, io.BufferedReader(ChunkFile(source, f))) for f in manifest.files],
        project=project,
        format=extra.format,
        framework=extra.framework,
        metrics=dict(extra.metrics or {}),
        params=dict(extra.params or {}),
        card=extra.card,
        lineage=lineage,
        input_schema=extra.input_schema,
        facts=extra.facts,
        charts=extra.charts,
        notes=list(extra.notes or []),
    )


def register_directory(
    session: Session,
    who: Principal,
    store: ChunkStore,
    name: str,
    root: Path,
    **fields: Any,
) -> ModelVersion:
    """A version of the files under `root` (a job's outputs, the server's own disk), read
    through the guard of job-written files."""
    with logs.refusals():
        files = jobfiles.JobFiles(root).contents()
        return register(session, who, store, name, files, **fields)


def register_job(
    session: Session,
    who: Principal,
    store: ChunkStore,
    name: str,
    job: jobs.Job,
    outputs: Path,
    *,
    path: str = "",
    format: str = "",
    framework: str = "",
    metrics: dict[str, float] | None = None,
    card: str = "",
    project: str | None = None,
    run: str | None = None,
) -> ModelVersion:
    """A succeeded job's outputs (or the folder `path` of them) as the next version of model
    `name`, with the job and the data sets it mounted as lineage (and `run`, the MLflow run
    it came from). Metrics not given are read from the outputs' `metrics.json` when there is
    one."""
    if job.state != "succeeded":
        raise Conflict(
            "job {job_id} is {state}: register a model from a job that succeeded",
            job_id=job.id,
            state=job.state,
        )
    with logs.refusals():  # the outputs are the job's: links, FIFOs, sizes checked there
        files = jobfiles.JobFiles(outputs)
        if path:
            try:
                rel = core.check_path(path)
            except core.DatasetError as e:
                raise Invalid("path: {problem}", problem=str(e)) from None
            try:
                files = files.subdir(rel)
            except (FileNotFoundError, NotADirectoryError):
                raise NotFound(
                    "job {job_id} has no folder {path} in its outputs", job_id=job.id, path=path
                ) from None
        if metrics is None:
            metrics = read_metrics(files)
        described = model_reports.describe(files, _report(files))
        pinned = jobs.pinned_datasets(session, job.id)
        lineage = {
            "job_id": job.id,
            "datasets": [d["ref"] for d in pinned],
            "dataset_versions": [d["version_id"] for d in pinned],
            "path": path,
        }
        if run is not None:
            lineage["mlflow_run"] = run
        return register(
            session,
            who,
            store,
            name,
            files.contents(),
            project=project or job.project_id,
            format=format,
            framework=framework,
            metrics=metrics,
            card=card,
            lineage=lineage,
            **described.fields(),
        )


MAX_JSON_BYTES = 16 * 1024 * 1024  # a job's metrics.json or report.json, parsed whole


def read_metrics(files: jobfiles.JobFiles, rel: str = "metrics.json") -> dict[str, float]:
    """The finite numbers of a job's `metrics.json` (its held-out metrics); {} without one, or
    when it is no JSON object. Read through the guard: a link or a FIFO there is Refused."""
    try:
        doc = json.loads(files.capped(MAX_JSON_BYTES).read_bytes(rel))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {
        k: float(v)
        for k, v in doc.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def _report(files: jobfiles.JobFiles) -> dict[str, Any]:
    """The job's `report.json` object ({} without one, or when it is no JSON object)."""
    try:
        doc = json.loads(files.capped(MAX_JSON_BYTES).read_bytes("report.json"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _check_metrics(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise Invalid("metrics.{name}: a number", name=key)


def set_stage(
    session: Session, who: Principal, ref: str, stage: str, *, project: str | None = None
) -> ModelVersion:
    """Move a version to `stage`. One version of a model is in production at a time: promoting
    one archives the one before."""
    if stage not in STAGES:
        raise Invalid("stage {stage!r}: one of staging, production, archived", stage=stage)
    if core.parse_ref(ref).version is None:
        raise Invalid("{ref}: name the version to move (NAME@N)", ref=ref)
    row, found = lookups.find(session, who, ref, project=project, kind=MODEL)
    prj = directory.project(session, row.project_id)
    assert prj is not None
    if not datasets.writable(who, prj):
        raise Forbidden(
            "model {name} is read-only for you: only its project's members change it",
            name=row.name,
        )
    extra = session.get(ModelVersionRow, found.id)
    now = utcnow()
    if extra is None:
        extra = ModelVersionRow(version_id=found.id, updated_at=now, metrics={}, params={})
        session.add(extra)
    if stage == "production":
        others = session.scalars(
            select(ModelVersionRow).where(
                ModelVersionRow.version_id.in_(lookups.version_ids(row.id)),
                ModelVersionRow.stage == "production",
                ModelVersionRow.version_id != found.id,
            )
        )
        for other in others:
            other.stage, other.updated_at = "archived", now
    extra.stage, extra.updated_at = stage, now
    session.flush()
    audit.record(session, who, "model.stage", "model", row.id, org_id=prj.org_id)
    return _version(found.details, extra, row.name, manifest=found.manifest)


def update(
    session: Session, who: Principal, name: str, changes: dict[str, Any], *, project: str | None
) -> Model:
    """Change who may read the model (`visibility`: private, org, or public: the center's
    shared models, published by org admins), its description, licence or tags."""
    datasets.update(session, who, name, project=project, changes=changes, kind=MODEL)
    return _model(session, who, name, project)


def delete(session: Session, who: Principal, name: str, *, project: str | None = None) -> None:
    """Remove the model: its versions' facts (this context's), then the data set of its files."""
    datasets.delete(session, who, name, project=project, kind=MODEL, extended=_drop_facts)


def _drop_facts(session: Session, versions: datasets.VersionIds) -> None:
    session.execute(sql_delete(ModelVersionRow).where(ModelVersionRow.version_id.in_(versions)))


def trained_on(
    session: Session, who: Principal, dataset_ref: str, *, project: str | None = None
) -> list[ModelVersion]:
    """Every model version the caller may read whose lineage names this data set version (the
    latest when `dataset_ref` names none): lineage the other way round."""
    return [v for _, v in made_from(session, who, dataset_ref, project=project)]


def made_from(
    session: Session, who: Principal, dataset_ref: str, *, project: str | None = None
) -> list[tuple[Model, ModelVersion]]:
    """`trained_on`, each version with its model (where it lives, for a link to it)."""
    _, data = lookups.find(session, who, dataset_ref, project=project)
    return [
        (model, v)
        for model in list_models(session, who, scope="visible")
        for v in model.versions
        if data.id in (v.lineage.get("dataset_versions") or [])
    ]


@dataclass(frozen=True)
class Curves:
    """Training curves: the x of each point (`step`, else its line number) and, per metric,
    its value there (None where that line did not log it)."""

    steps: list[float]
    series: dict[str, list[float | None]]


def parse_curves(data: bytes) -> Curves:
    """`metrics.jsonl` (one JSON object per step, as jobs log them) as curves, each line read
    as a job's live curves are (`services/metrics.parse`: a line that is no point, a value
    that is no finite number, skipped), thinned evenly to a page's worth of points."""
    return merge_curves([("", data)])


def merge_curves(files: list[tuple[str, bytes]]) -> Curves:
    """Several `metrics.jsonl` on one x axis, each metric named `LABEL · NAME` (a search's
    trials side by side; an empty label keeps the names as they are)."""
    by_step: dict[int, dict[str, float]] = {}
    for label, data in files:
        step = 0
        for raw in data.splitlines():
            found = metrics.parse(raw, step)
            if found is not None:
                at, values = found
                named = {f"{label} · {k}" if label else k: v for k, v in values.items()}
                by_step.setdefault(at, {}).update(named)
                step = at + 1
    kept = metrics.thin(sorted(by_step.items()), MAX_CURVE_POINTS)
    names = list(dict.fromkeys(k for _, values in kept for k in values))
    return Curves(
        steps=[float(s) for s, _ in kept],
        series={name: [values.get(name) for _, values in kept] for name in names},
    )


def curves(
    session: Session, who: Principal, store: ChunkStore, ref: str, *, project: str | None = None
) -> Curves:
    """The training curves of a version (the latest when `ref` names none), from the
    `metrics.jsonl` its job wrote; none when it has no such file."""
    _, found = lookups.find(session, who, ref, project=project, kind=MODEL)
    entry = found.manifest.find(CURVES)
    if entry is None:
        return Curves([], {})
    data = ChunkFile(chunks.reader(session, store), entry).read(MAX_CURVE_BYTES) or b""
    return parse_curves(data)


def archive(
    session: Session,
    who: Principal,
    store: ChunkStore,
    ref: str,
    out: IO[bytes],
    *,
    project: str | None = None,
) -> ModelVersion:
    """Write a version's files to `out` as a zip (`NAME-N/PATH`): the model, its report and
    its inference script in one download."""
    row, found = lookups.find(session, who, ref, project=project, kind=MODEL)
    source = chunks.reader(session, store)
    folder = f"{row.name}-{found.number}"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as packed:
        for entry in found.manifest.files:
            with packed.open(f"{folder}/{entry.path}", "w", force_zip64=True) as target:
                reader = ChunkFile(source, entry)
                while block := reader.read(1024 * 1024):
                    target.write(block)
    return _version(found.details, session.get(ModelVersionRow, found.id), row.name)
