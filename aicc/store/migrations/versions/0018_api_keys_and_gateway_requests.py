"""api keys to deployments, the gateway's request log, and usage records of requests and
tokens

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_AT = aicc.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("deployments", sa.JSON(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tokens_per_month", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("revoked_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_org_id"), ["org_id"])
        batch_op.create_index(batch_op.f("ix_api_keys_project_id"), ["project_id"])
    op.create_table(
        "gateway_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("deployment_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_us", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=True),
        sa.Column("at", _AT, nullable=False),
        sa.Column("usage_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gateway_requests", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_requests_deployment_at", ["deployment_id", "at"])
        batch_op.create_index("ix_gateway_requests_unmetered", ["usage_id", "at"])
        batch_op.create_index(batch_op.f("ix_gateway_requests_key_id"), ["key_id"])
        batch_op.create_index(batch_op.f("ix_gateway_requests_project_id"), ["project_id"])
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deployment_id", sa.String(length=40), nullable=True))
        for column in ("requests", "prompt_tokens", "completion_tokens"):
            batch_op.add_column(
                sa.Column(column, sa.BigInteger(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        for column in ("completion_tokens", "prompt_tokens", "requests", "deployment_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("gateway_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_requests_project_id"))
        batch_op.drop_index(batch_op.f("ix_gateway_requests_key_id"))
        batch_op.drop_index("ix_gateway_requests_unmetered")
        batch_op.drop_index("ix_gateway_requests_deployment_at")
    op.drop_table("gateway_requests")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_project_id"))
        batch_op.drop_index(batch_op.f("ix_api_keys_org_id"))
    op.drop_table("api_keys")
