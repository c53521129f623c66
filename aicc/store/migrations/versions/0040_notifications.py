"""notifications (issue 40): channels per user or project, events written in their cause's
transaction (unique by key), one delivery per event and channel, and each user's inbox

Revision ID: 0040
Revises: 0039
Create Date: 2026-11-27 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, Table, ix, migration, refs, stamps

revision = "0040"
down_revision = "0039"

upgrade, downgrade = migration(
    Entity(
        "notify_channels",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("wait_min", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        *stamps(),
        *refs(("org_id", "orgs.id"), ("project_id", "projects.id"), ("user_id", "users.id")),
        indexes=["org_id", "project_id", "user_id"],
    ),
    Entity(
        "notify_events",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", AT, nullable=False),
        *refs(("org_id", "orgs.id"), ("project_id", "projects.id"), ("user_id", "users.id")),
        sa.UniqueConstraint("key"),
        indexes=["org_id"],
    ),
    Entity(
        "notify_deliveries",
        sa.Column("event_id", ID, nullable=False),
        sa.Column("channel_id", ID, nullable=True),
        sa.Column("channel_kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", AT, nullable=False),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("delivered_at", AT, nullable=True),
        sa.Column("latency_s", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["notify_channels.id"], ondelete="SET NULL"),
        *refs(("event_id", "notify_events.id")),
        indexes=[
            ix("ix_notify_deliveries_state_next", "state", "next_at"),
            "channel_id",
            "event_id",
        ],
    ),
    Table(
        "notify_inbox",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.Column("read_at", AT, nullable=True),
        *refs(("user_id", "users.id"), ("event_id", "notify_events.id")),
        sa.PrimaryKeyConstraint("user_id", "event_id"),
    ),
)
