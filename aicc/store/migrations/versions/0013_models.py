"""models: a model is a row of `datasets` of kind "model" (its versions are its files), with
`model_versions` for how to load it, its metrics, hyperparameters, card and stage

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import ID, Columns, Table, extends_version, migration

revision = "0013"
down_revision = "0012"

upgrade, downgrade = migration(
    Columns(
        "datasets",
        sa.Column("kind", sa.String(length=16), nullable=False, server_default="dataset"),
        indexes=["kind"],
    ),
    Table(
        "model_versions",
        sa.Column("version_id", ID, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("framework", sa.String(length=40), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        *extends_version(),
        indexes=["stage"],
    ),
)
