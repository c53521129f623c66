"""maintenance windows and capacity leases (issue 40): windows of nodes the scheduler keeps
work out of and the loop drains, and an organization's dedicated nodes or devices

Revision ID: 0041
Revises: 0040
Create Date: 2026-11-27 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, migration, refs, stamps

revision = "0041"
down_revision = "0040"

upgrade, downgrade = migration(
    Entity(
        "maintenance_windows",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("starts_at", AT, nullable=False),
        sa.Column("ends_at", AT, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        *stamps(),
        indexes=["starts_at", "state"],
    ),
    Entity(
        "capacity_leases",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("pool", sa.String(length=128), nullable=True),
        sa.Column("starts_at", AT, nullable=False),
        sa.Column("ends_at", AT, nullable=False),
        sa.Column("tier", sa.Double(), nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("lends", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ended_at", AT, nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        *stamps(),
        *refs(("org_id", "orgs.id")),
        indexes=["org_id", "state"],
    ),
)
