"""MIG slices on devices

A GPU in MIG mode is handed out slice by slice: `devices.mig` lists its slices,
[{"index": 0, "profile": "3g.40gb", "uuid": "MIG-..."}], empty for a device that is not
partitioned. A replica holding a slice records its index as `mig_slice` in `replicas.devices`
(JSON already), so that needs no change of schema.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0007"
down_revision = "0006"

upgrade, downgrade = migration(
    Columns("devices", sa.Column("mig", sa.JSON(), nullable=False, server_default="[]"))
)
