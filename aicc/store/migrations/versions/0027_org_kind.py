"""orgs.kind: what kind of tenant an organization is (enterprise, university, research, ...)

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-25 04:00:00

The center's monthly report counts the tenants it served by kind (core/tenancy.py `OrgKind`).
Organizations made before it are `other` until a center admin says what they are.
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0027"
down_revision = "0026"

upgrade, downgrade = migration(
    Columns("orgs", sa.Column("kind", sa.String(length=16), nullable=False, server_default="other"))
)
