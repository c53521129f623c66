"""node_bmcs: a node's BMC (Redfish), its sealed credentials, the power limit asked for and what
it last said; device_samples.power_w and .source: a node's measured power (BMC or RAPL) beside
its devices' utilization; usage.energy_method: how a record's kWh was found (issue 62)

Revision ID: 0051
Revises: 0050
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Table, migration, stamps

revision = "0051"
down_revision = "0050"

upgrade, downgrade = migration(
    Table(
        "node_bmcs",
        sa.Column("node_id", ID, nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password", sa.Text(), nullable=False),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("interval_s", sa.Double(), nullable=False),
        sa.Column("limit_w", sa.Double(), nullable=True),
        sa.Column("limit_applied_w", sa.Double(), nullable=True),
        sa.Column("limit_error", sa.String(length=200), nullable=False),
        sa.Column("reading", sa.JSON(), nullable=False),
        sa.Column("read_at", AT, nullable=True),
        sa.Column("error", sa.String(length=200), nullable=False),
        sa.Column("error_at", AT, nullable=True),
        sa.Column("cordoned", sa.Boolean(), nullable=False),
        *stamps(),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node_id"),
    ),
    Columns(
        "device_samples",
        sa.Column("power_w", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=True),
    ),
    Columns("usage_records", sa.Column("energy_method", sa.String(length=16), nullable=True)),
)
