"""OpenAI's fine-tuning jobs (`/v1/fine_tuning/jobs`, docs/interop.md): a chat file (purpose
`fine-tune`) trains the `lora-finetune` template's LoRA adapters as a run of that template, whose
model becomes a version of `fine_tuned_model` in the model registry, which the caller deploys.

The server does not read the chat file: it ships its bytes with the run, and the run's
`chat_pairs.py` turns them into question-answer pairs inside the job's sandbox (a file that is
no chat fails the job, whose log says the line). Status follows the job and then the model's
registration: `succeeded` once the version exists. Events are the job's history and, once
trained, one metrics event per epoch; the checkpoint is the registered version (the template
keeps only the final adapters, so there is one)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.common import Invalid, NotFound, new_id, utcnow
from aicc.services.jobs import jobs, openai_files
from aicc.services.models import models, template_runs
from aicc.services.models.views import FineTuningCheckpoint, FineTuningEvent, FineTuningJob
from aicc.services.tenancy import audit
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.models import OpenAIFineTuneRow

TEMPLATE = "lora-finetune"
BASES = ("tiny",)  # the template's base models a fine-tune may name
SUFFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,17}$")
BASE_RATE = 0.01  # the template's learning rate, which `learning_rate_multiplier` scales
_STATUS = {
    "pending": "queued",
    "admitted": "queued",
    "scheduled": "running",
    "running": "running",
    "preempted": "running",
    "succeeded": "running",  # until the model is registered
    "failed": "failed",
    "cancelled": "cancelled",
}


def create(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    *,
    key_id: str,
    training_file: str,
    model: str,
    hyperparameters: dict[str, Any] | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    metadata: dict[str, str] | None = None,
    zone: str = "UTC",
    limits: jobs.SubmitLimits = jobs.SubmitLimits(),
) -> FineTuningJob:
    """A fine-tuning job: the template's run on the chat file, submitted now."""
    if model not in BASES:
        raise Invalid(
            "model: {model!r} cannot be fine-tuned here; the base models are: {bases}",
            model=model,
            bases=", ".join(BASES),
        )
    if suffix is not None and not SUFFIX.match(suffix):
        raise Invalid("suffix: 1 to 18 lower-case letters, digits and '-'")
    prj, source = openai_files.input_file(session, who, training_file, purpose="fine-tune")
    params = _params(hyperparameters or {}, seed)
    ft_id = new_id("ftjob")
    name = f"ft-{model}-{suffix + '-' if suffix else ''}{ft_id[-8:].lower()}"
    chat = openai_files.read(blobs, source.sha256)
    job, _ = template_runs.run(
        session,
        who,
        blobs,
        TEMPLATE,
        params=params,
        model=name,
        zone=zone,
        limits=limits,
        chat=chat,
    )
    row = OpenAIFineTuneRow(
        id=ft_id,
        org_id=prj.org_id,
        project_id=prj.id,
        key_id=key_id,
        job_id=job.id,
        model=model,
        training_file=source.id,
        fine_tuned_model=name,
        hyperparameters=params,
        suffix=suffix,
        seed=int(params["seed"]),
        meta=metadata,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    detail = {"job_id": job.id, "model": name}
    audit.record(session, who, "fine_tune.create", "fine_tune", row.id, detail=detail)
    return _view(session, who, row)


def _params(given: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """OpenAI's hyperparameters as the template's (`auto`: the template's default)."""
    unknown = set(given) - {"n_epochs", "batch_size", "learning_rate_multiplier"}
    if unknown:
        raise Invalid("hyperparameters: {name!r} is not supported here", name=sorted(unknown)[0])
    out: dict[str, Any] = {"base_model": "tiny", "seed": 0 if seed is None else seed}
    for theirs, ours in (("n_epochs", "epochs"), ("batch_size", "batch_size")):
        value = given.get(theirs, "auto")
        if value != "auto":
            out[ours] = value
    multiplier = given.get("learning_rate_multiplier", "auto")
    if multiplier != "auto":
        if not isinstance(multiplier, int | float) or not 0 < multiplier <= 10:
            raise Invalid("hyperparameters.learning_rate_multiplier: a number above 0, at most 10")
        out["learning_rate"] = BASE_RATE * float(multiplier)
    return out


def list_jobs(
    session: Session, who: Principal, *, limit: int = 20, after: str | None = None
) -> list[FineTuningJob]:
    """The project's fine-tuning jobs, newest first, from after job `after`."""
    missing = NotFound("No such fine-tuning job: {id}", id=after)
    found = openai_files.newest(
        session, who, OpenAIFineTuneRow, limit=limit, after=after, missing=missing
    )
    return [_view(session, who, r) for r in found]


def get(session: Session, who: Principal, ft_id: str) -> FineTuningJob:
    return _view(session, who, _row(session, who, ft_id))


def cancel(session: Session, who: Principal, ft_id: str) -> FineTuningJob:
    """Cancel its training job (a job that already ended is a 409, as `jobs.cancel` says)."""
    row = _row(session, who, ft_id)
    jobs.cancel(session, who, row.job_id)
    audit.record(session, who, "fine_tune.cancel", "fine_tune", row.id, org_id=row.org_id)
    return _view(session, who, row)


def events(
    session: Session, who: Principal, store: ChunkStore, ft_id: str
) -> list[FineTuningEvent]:
    """Newest first, as OpenAI lists them: the job's history, then each epoch's losses once
    the model is registered."""
    row = _row(session, who, ft_id)
    out = [
        FineTuningEvent(
            id=f"ftevent-{e.id}",
            created_at=_at(e.at),
            level="error" if e.to_state == "failed" else "info",
            message=e.message or f"job {e.to_state or e.kind}",
        )
        for e in jobs.events(session, who, row.job_id)
    ]
    run = template_runs.run_of(session, who, row.job_id)
    if run.state == "done":
        curves = models.curves(session, who, store, row.fine_tuned_model)
        at = _at(run.job.ended_at or run.job.created_at)
        for n, step in enumerate(curves.steps):
            values = {k: v[n] for k, v in curves.series.items() if v[n] is not None}
            out.append(
                FineTuningEvent(
                    id=f"ftevent-{row.id}-{n}",
                    created_at=at,
                    level="info",
                    message=f"Step {int(step)}: "
                    + ", ".join(f"{k}={v:.4f}" for k, v in values.items()),
                    data={"step": int(step), **values},
                    type="metrics",
                )
            )
        out.append(
            FineTuningEvent(
                id=f"ftevent-{row.id}-done",
                created_at=at,
                level="info",
                message=f"The job has successfully completed: model {run.result}",
            )
        )
    elif run.state == "failed":
        out.append(
            FineTuningEvent(
                id=f"ftevent-{row.id}-failed",
                created_at=_at(run.job.ended_at or run.job.created_at),
                level="error",
                message=run.result,
            )
        )
    return out[::-1]


def checkpoints(
    session: Session, who: Principal, store: ChunkStore, ft_id: str
) -> list[FineTuningCheckpoint]:
    """The registered model version, once there is one, with its last epoch's losses."""
    row = _row(session, who, ft_id)
    run = template_runs.run_of(session, who, row.job_id)
    if run.state != "done":
        return []
    curves = models.curves(session, who, store, row.fine_tuned_model)
    last: dict[str, float] = {}
    for name, values in curves.series.items():
        found = [v for v in values if v is not None]
        if found:
            last[name] = found[-1]
    metrics = {
        "train_loss": last.get("loss", 0.0),
        "valid_loss": last.get("eval_loss", 0.0),
    }
    step = int(curves.steps[-1]) if curves.steps else 0
    return [
        FineTuningCheckpoint(
            id=f"ftckpt-{row.id}",
            created_at=_at(run.job.ended_at or run.job.created_at),
            fine_tuned_model_checkpoint=run.result,
            fine_tuning_job_id=row.id,
            metrics=metrics,
            step_number=step,
        )
    ]


def _row(session: Session, who: Principal, ft_id: str) -> OpenAIFineTuneRow:
    missing = NotFound("No such fine-tuning job: {id}", id=ft_id)
    return openai_files.owned(session, who, OpenAIFineTuneRow, ft_id, missing)


def _at(at: datetime) -> int:
    return int(at.timestamp())


def _seconds(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def _view(session: Session, who: Principal, row: OpenAIFineTuneRow) -> FineTuningJob:
    run = template_runs.run_of(session, who, row.job_id)
    job = run.job
    status = _STATUS.get(str(job.state), "running")
    error = None
    model = None
    if run.state == "done":
        status, model = "succeeded", row.fine_tuned_model
    elif run.state == "failed" and status != "cancelled":
        status = "failed"
        said = f"{run.result[:1800]}; `aicc job logs {row.job_id}` says why"
        error = {"code": "training_failed", "message": said, "param": None}
    finished = job.ended_at if status in ("succeeded", "failed", "cancelled") else None
    hyper = {
        "n_epochs": row.hyperparameters.get("epochs", "auto"),
        "batch_size": row.hyperparameters.get("batch_size", "auto"),
        "learning_rate_multiplier": (
            row.hyperparameters["learning_rate"] / BASE_RATE
            if "learning_rate" in row.hyperparameters
            else "auto"
        ),
    }
    return FineTuningJob(
        id=row.id,
        created_at=int(row.created_at.timestamp()),
        error=error,
        fine_tuned_model=model,
        finished_at=_seconds(finished),
        hyperparameters=hyper,
        model=row.model,
        organization_id=row.org_id,
        result_files=[],
        seed=row.seed,
        status=status,
        trained_tokens=None,
        training_file=row.training_file,
        validation_file=None,
        metadata=row.meta,
        user_provided_suffix=row.suffix,
        job_id=row.job_id,
    )
