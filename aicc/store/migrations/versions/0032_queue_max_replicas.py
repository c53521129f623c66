"""queues.max_replicas_per_job: a queue's bound on one job's replicas (issue 35: "gangs bounded
per queue"); NULL, as every queue made before it, leaves the center's `limits.max_replicas_per_job`

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-25 21:00:00

A queue's bound never raises the center's: a submit meets the smaller of the two.
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0032"
down_revision = "0031"

upgrade, downgrade = migration(
    Columns("queues", sa.Column("max_replicas_per_job", sa.Integer(), nullable=True))
)
