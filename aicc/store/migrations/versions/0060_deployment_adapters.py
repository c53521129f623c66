"""deployment_adapters: the LoRA adapters (model versions) a deployment serves over its base,
each by a name (`DEPLOYMENT:NAME`) and an optional alias unique in the project (issue 61)

Revision ID: 0060
Revises: 0059
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, migration, refs

revision = "0060"
down_revision = "0059"

upgrade, downgrade = migration(
    Entity(
        "deployment_adapters",
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=True),
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("base", sa.String(length=512), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("deployment_id", "deployments.id"), ("project_id", "projects.id")),
        sa.UniqueConstraint("deployment_id", "name"),
        sa.UniqueConstraint("project_id", "alias"),
        indexes=["deployment_id", "project_id"],
    ),
)
