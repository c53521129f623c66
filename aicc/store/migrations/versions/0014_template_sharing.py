"""template sharing: published templates' versions (manifest, per-use price), ratings and
reviews of templates and models, and the uses of templates (runs, with a paid one's charge)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import (
    AT,
    ID,
    Entity,
    Table,
    extends_version,
    migration,
    refs,
    stamps,
)

revision = "0014"
down_revision = "0013"

upgrade, downgrade = migration(
    Table(
        "template_versions",
        sa.Column("version_id", ID, nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *extends_version(),
    ),
    Entity(
        "reviews",
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        *stamps(),
        sa.UniqueConstraint("target", "user_id"),
        indexes=["target"],
    ),
    Table(
        "template_uses",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_id", ID, nullable=True),
        sa.Column("credit_id", ID, nullable=True),
        sa.Column("created_at", AT, nullable=False),
        *refs(("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("job_id"),
        indexes=["target"],
    ),
)
