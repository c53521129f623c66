"""usage_records.carbon_kg: the kg CO₂ of a record's energy at its hour's grid intensity

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-25 10:00:00

Records written before it keep NULL: their hour's intensity was never recorded, and a figure
made up now would be a figure the meter did not write.
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0025"
down_revision = "0024"

upgrade, downgrade = migration(
    Columns("usage_records", sa.Column("carbon_kg", sa.Double(), nullable=True))
)
