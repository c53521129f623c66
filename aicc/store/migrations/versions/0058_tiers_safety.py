"""tiers_safety: a key's service tier (api_keys.tier, 1 highest..3; 2 for the keys there are)
and the tier each logged request was served at (gateway_requests.tier); safety_events, what the
gateway's content safety blocked or masked (issue 61), the text only when the policy says so.

Revision ID: 0058
Revises: 0057
Create Date: 2026-11-28 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Log, migration

revision = "0058"
down_revision = "0057"

upgrade, downgrade = migration(
    Columns("api_keys", sa.Column("tier", sa.Integer(), nullable=False, server_default="2")),
    Columns(
        "gateway_requests", sa.Column("tier", sa.Integer(), nullable=False, server_default="2")
    ),
    Log(
        "safety_events",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("key_id", ID, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("at", AT, nullable=False),
        indexes=["project_id", "deployment_id"],
    ),
)
