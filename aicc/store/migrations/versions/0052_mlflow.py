"""mlflow: experiments, runs, their params, tags and metrics, and the jobs whose `mlruns` were
read, for MLflow's tracking API at `/mlflow` (issue 60; docs/interop.md)

Revision ID: 0052
Revises: 0051
Create Date: 2026-11-28 12:47:50
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, Log, Table, ix, migration, refs

revision = "0052"
down_revision = "0051"

upgrade, downgrade = migration(
    Entity(
        "mlflow_experiments",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        *refs(("project_id", "projects.id")),
        sa.UniqueConstraint("project_id", "name"),
        indexes=["project_id"],
    ),
    Entity(
        "mlflow_runs",
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("experiment_id", "mlflow_experiments.id"), ("project_id", "projects.id")),
        indexes=["experiment_id", "job_id", "project_id"],
    ),
    Table(
        "mlflow_job_imports",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("imported_at", AT, nullable=False),
        *refs(("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("job_id"),
    ),
    Log(
        "mlflow_metrics",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        *refs(("run_id", "mlflow_runs.id")),
        indexes=[ix("ix_mlflow_metrics_run_key", "run_id", "key", "step")],
    ),
    Table(
        "mlflow_run_values",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        *refs(("run_id", "mlflow_runs.id")),
        sa.PrimaryKeyConstraint("run_id", "kind", "key"),
    ),
)
