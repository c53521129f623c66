"""audit.seq and audit.hash: the audit log as a keyed hash chain (services/tenancy/audit.py)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-24 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, ix, migration

revision = "0021"
down_revision = "0020"

upgrade, downgrade = migration(
    Columns(
        "audit",
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        indexes=[ix("ix_audit_seq", "seq", unique=True)],
    ),
)
