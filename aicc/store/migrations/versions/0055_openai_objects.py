"""openai_files, openai_batches, openai_fine_tunes: OpenAI's files, batches and fine-tuning
jobs under `/v1` (issue 60), each a project's, beside the blob, the gateway's requests or the
template run they are.

Revision ID: 0055
Revises: 0054
Create Date: 2026-11-28 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Table, migration, refs

revision = "0055"
down_revision = "0054"

upgrade, downgrade = migration(
    Table(
        "openai_files",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("key_id", ID, nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        indexes=["org_id", "project_id"],
    ),
    Table(
        "openai_batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("key_id", ID, nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("input_file_id", ID, nullable=False),
        sa.Column("completion_window", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("output_file_id", ID, nullable=True),
        sa.Column("error_file_id", ID, nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("in_progress_at", AT, nullable=True),
        sa.Column("finalizing_at", AT, nullable=True),
        sa.Column("completed_at", AT, nullable=True),
        sa.Column("failed_at", AT, nullable=True),
        sa.Column("expired_at", AT, nullable=True),
        sa.Column("cancelling_at", AT, nullable=True),
        sa.Column("cancelled_at", AT, nullable=True),
        sa.Column("claimed_until", AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        indexes=["org_id", "project_id", "status"],
    ),
    Table(
        "openai_fine_tunes",
        sa.Column("id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("key_id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("training_file", ID, nullable=False),
        sa.Column("fine_tuned_model", sa.String(length=128), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("suffix", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        *refs(("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("id"),
        indexes=["org_id", "project_id"],
    ),
)
