"""gateway_request_adapter: the LoRA adapter a gateway request used (`model: "BASE:NAME"`,
issue 61), on its log row and on the usage record the meter rolls it into, so that a
deployment's requests and tokens split per adapter.

Revision ID: 0057
Revises: 0056
Create Date: 2026-11-28 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0057"
down_revision = "0056"

upgrade, downgrade = migration(
    Columns("gateway_requests", sa.Column("adapter", sa.String(length=128), nullable=True)),
    Columns("usage_records", sa.Column("adapter", sa.String(length=128), nullable=True)),
)
