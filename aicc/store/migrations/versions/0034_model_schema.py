"""model_versions.input_schema, facts, charts and notes (issue 37: "the model speaks the user's
data"): the columns a version takes and answers, and the true facts and charts of its card, read
from what its training job wrote when it is registered. NULL, as every version made before, is
"not known": the version's files are unchanged.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-26 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0034"
down_revision = "0033"

upgrade, downgrade = migration(
    Columns(
        "model_versions",
        sa.Column("input_schema", sa.JSON(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("charts", sa.JSON(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False, server_default="[]"),
    ),
)
