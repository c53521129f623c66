"""api keys to deployments, the gateway's request log, and usage records of requests and
tokens

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Entity, ix, migration, refs

revision = "0018"
down_revision = "0017"

upgrade, downgrade = migration(
    Entity(
        "api_keys",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("deployments", sa.JSON(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tokens_per_month", sa.BigInteger(), nullable=True),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("revoked_at", AT, nullable=True),
        *refs(("org_id", "orgs.id"), ("project_id", "projects.id")),
        sa.UniqueConstraint("secret_hash"),
        indexes=["org_id", "project_id"],
    ),
    Entity(
        "gateway_requests",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("key_id", ID, nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_us", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=True),
        sa.Column("at", AT, nullable=False),
        sa.Column("usage_id", sa.BigInteger(), nullable=True),
        indexes=[
            ix("ix_gateway_requests_deployment_at", "deployment_id", "at"),
            ix("ix_gateway_requests_unmetered", "usage_id", "at"),
            "key_id",
            "project_id",
        ],
    ),
    Columns(
        "usage_records",
        sa.Column("deployment_id", ID, nullable=True),
        *(
            sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
            for column in ("requests", "prompt_tokens", "completion_tokens")
        ),
    ),
)
