"""facility_meters: the center's facility meters' samples (Modbus TCP) and their closed hours
with the measured PUE or the gap; usage_records.pue and .pue_method: the PUE a record's kWh
holds and whether it was measured or configured (issue 62)

Revision ID: 0056
Revises: 0055
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, Columns, Log, Table, ix, migration

revision = "0056"
down_revision = "0055"

upgrade, downgrade = migration(
    Log(
        "meter_samples",
        sa.Column("meter", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.Column("kw", sa.Double(), nullable=True),
        sa.Column("kwh", sa.Double(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=False),
        indexes=["at", ix("ix_meter_samples_meter_at", "meter", "at")],
    ),
    Table(
        "facility_hours",
        sa.Column("hour", AT, nullable=False),
        sa.Column("pue", sa.Double(), nullable=True),
        sa.Column("facility_kw", sa.Double(), nullable=True),
        sa.Column("it_kw", sa.Double(), nullable=True),
        sa.Column("cooling_kw", sa.Double(), nullable=True),
        sa.Column("facility_from", sa.String(length=16), nullable=False),
        sa.Column("meters", sa.JSON(), nullable=False),
        sa.Column("gap", sa.String(length=16), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("written_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("hour"),
    ),
    Columns(
        "usage_records",
        sa.Column("pue", sa.Double(), nullable=True),
        sa.Column("pue_method", sa.String(length=16), nullable=True),
    ),
)
