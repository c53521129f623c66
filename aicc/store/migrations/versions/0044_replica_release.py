"""replicas.released_at: when the scheduler released the replica of an elastic job (a shrink, to
make room for a waiting job, issue 40); the reconciler stops it and the job goes on without it.
NULL for every other replica, and every replica made before.

Revision ID: 0044
Revises: 0043
Create Date: 2026-11-27 05:40:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, Columns, migration

revision = "0044"
down_revision = "0043"

upgrade, downgrade = migration(Columns("replicas", sa.Column("released_at", AT, nullable=True)))
