"""The tables of `services/models`: model and template versions, reviews, job outputs, fine-tunes
and MLflow tracking. Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import MONEY, Base


class ModelVersionRow(Base):
    """What a model version is beyond its files (the `DatasetVersionRow` of the same id, whose
    lineage names the job, data sets and template that made it): how to load it, how good it
    is, and where it stands."""

    __tablename__ = "model_versions"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(16), default="staging", index=True)
    format: Mapped[str] = mapped_column(String(40), default="")
    framework: Mapped[str] = mapped_column(String(40), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {name: number}
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the hyperparameters
    card: Mapped[str] = mapped_column(Text, default="")  # the model card (Markdown)
    updated_at: Mapped[datetime]
    # what the model takes and answers (`views.InputSchema`), the facts and charts of its card
    # (`views.Facts`, `views.Charts`), each checked when registered; None: none, or refused
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    facts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    charts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    notes: Mapped[list[Any]] = mapped_column(default=list)  # what was left out of them, and why


class TemplateVersionRow(Base):
    """What a published template version is beyond its files: its parsed manifest (so the
    catalog lists it without reading chunks) and the per-use price its publisher asks."""

    __tablename__ = "template_versions"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    price: Mapped[str] = mapped_column(String(40), default="0.00")  # per run, decimal string
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    updated_at: Mapped[datetime]


class ReviewRow(Base):
    """One user's rating (1-5) and review of a template or model: a second one replaces it."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("target", "user_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[str] = mapped_column(String(80), index=True)  # a datasets id or builtin:NAME
    user_id: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[str] = mapped_column(String(40))
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TemplateUseRow(Base):
    """A run of a template (its use count), written with the job's submit; a paid one names
    the charge and the publisher's credit (`billing_adjustments`) written in that transaction."""

    __tablename__ = "template_uses"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    target: Mapped[str] = mapped_column(String(80), index=True)  # a datasets id or builtin:NAME
    org_id: Mapped[str] = mapped_column(String(40))
    price: Mapped[str] = mapped_column(String(40), default="0.00")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    charge_id: Mapped[str | None] = mapped_column(String(40))
    credit_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class JobOutputRow(Base):
    """What a job's outputs become when it succeeds: a new version of a data set (a cleaning
    job). `state`: pending until the job ends, then done (with `result`, the version) or failed
    (with `result`, why)."""

    __tablename__ = "job_outputs"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "dataset", "model" or "predictions"
    target_id: Mapped[str] = mapped_column(String(40))  # the data set
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class OpenAIFineTuneRow(Base):
    """A job of OpenAI's `/v1/fine_tuning/jobs` (services/models/fine_tuning.py): the LoRA
    template's training run (`job_id`) on a chat file, whose model is `fine_tuned_model`."""

    __tablename__ = "openai_fine_tunes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ftjob_...
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    key_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    model: Mapped[str] = mapped_column(String(64))  # the base model asked for
    training_file: Mapped[str] = mapped_column(String(40))
    fine_tuned_model: Mapped[str] = mapped_column(String(128))  # the model registry's name
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime]


class TemplateGrantRow(Base):
    """A template one organization may run at its own price (an accepted offer, `reference`),
    whatever the template's visibility, until `ended_at`."""

    __tablename__ = "template_grants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(80), index=True)  # the template's datasets id
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    price: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class MlflowExperimentRow(Base):
    """An MLflow experiment: a named group of runs within one project (docs/interop.md)."""

    __tablename__ = "mlflow_experiments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MlflowRunRow(Base):
    """An MLflow run: logged through `/mlflow` (no job), or found in a job's `mlruns` once the
    job ended (`job_id`; its metrics and artifacts stay the job's files)."""

    __tablename__ = "mlflow_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # MLflow's run id, 32 hex
    experiment_id: Mapped[str] = mapped_column(ForeignKey("mlflow_experiments.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # RUNNING, FINISHED, FAILED, KILLED
    start_time: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch, as MLflow counts
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime]


class MlflowRunValueRow(Base):
    """A run's param (written once) or tag (changes)."""

    __tablename__ = "mlflow_run_values"
    run_id: Mapped[str] = mapped_column(ForeignKey("mlflow_runs.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # param | tag
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MlflowMetricRow(Base):
    """One point of a run's metric, as MLflow logs it."""

    __tablename__ = "mlflow_metrics"
    __table_args__ = (Index("ix_mlflow_metrics_run_key", "run_id", "key", "step"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("mlflow_runs.id"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MlflowJobImportRow(Base):
    """A job whose `mlruns` were looked at once it ended (`runs` found): each job once."""

    __tablename__ = "mlflow_job_imports"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime]
