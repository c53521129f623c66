"""voucher moves (issue 41): a need's reward held from the poster's voucher instead of money, and
a challenge's training subsidy given on from it to each new team; what moves out of a voucher
(and back) is a row, so that its balance is exact

Revision ID: 0048
Revises: 0047
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import ID, Columns, Entity, created, migration, refs

revision = "0048"
down_revision = "0047"

MONEY = sa.String(length=40)

upgrade, downgrade = migration(
    Entity(
        "voucher_moves",
        sa.Column("voucher_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        *created(),
        *refs(("voucher_id", "vouchers.id"), ("org_id", "orgs.id")),
        indexes=["voucher_id", "org_id", "reference"],
    ),
    Columns("needs", sa.Column("voucher_id", sa.String(length=40), nullable=True)),
    Columns(
        "challenges",
        sa.Column("subsidy_voucher", sa.String(length=40), nullable=True),
        sa.Column("subsidy_per_team", MONEY, nullable=False, server_default="0"),
    ),
    Columns("challenge_teams", sa.Column("subsidy_voucher", sa.String(length=40), nullable=True)),
)
