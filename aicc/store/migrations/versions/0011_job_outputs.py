"""job outputs: what a job's outputs become when it succeeds

A cleaning job names the data set its outputs become the next version of; the row waits
(`pending`) until the job ends, then says which version it made or why it made none.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 01:32:14.257237
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Table, migration, refs

revision = "0011"
down_revision = "0010"

upgrade, downgrade = migration(
    Table(
        "job_outputs",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", ID, nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("done_at", AT, nullable=True),
        *refs(("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("job_id"),
        indexes=["state"],
    ),
)
