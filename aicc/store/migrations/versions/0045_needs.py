"""needs and challenges (issue 41): needs with their questions, challenges on a hidden test
set, teams, scored submissions and awards

Revision ID: 0045
Revises: 0044
Create Date: 2026-11-27 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, Table, migration, refs, stamps

revision = "0045"
down_revision = "0044"

MONEY = sa.String(length=40)

upgrade, downgrade = migration(
    Entity(
        "needs",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("data", sa.String(length=300), nullable=True),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("reward", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("deadline", AT, nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        *stamps(),
        sa.Column("closed_at", AT, nullable=True),
        *refs(("org_id", "orgs.id"), ("project_id", "projects.id")),
        sa.UniqueConstraint("org_id", "name"),
        indexes=["org_id", "state"],
    ),
    Entity(
        "need_questions",
        sa.Column("need_id", ID, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_by", sa.String(length=40), nullable=True),
        sa.Column("answered_at", AT, nullable=True),
        sa.Column("created_at", AT, nullable=False),
        *refs(("need_id", "needs.id")),
        indexes=["need_id"],
    ),
    Entity(
        "challenges",
        sa.Column("need_id", ID, nullable=False),
        sa.Column("hidden_version_id", sa.String(length=40), nullable=False),
        sa.Column("hidden_table", sa.String(length=1024), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.String(length=300), nullable=False),
        sa.Column("public_pct", sa.Integer(), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=False),
        sa.Column("max_runtime_s", sa.Integer(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("need_id", "needs.id")),
        sa.UniqueConstraint("need_id"),
    ),
    Entity(
        "challenge_teams",
        sa.Column("challenge_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("orgs", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        *refs(("challenge_id", "challenges.id")),
        sa.UniqueConstraint("challenge_id", "name"),
        indexes=["challenge_id"],
    ),
    Entity(
        "challenge_submissions",
        sa.Column("challenge_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("model_version_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("public_score", sa.Double(), nullable=True),
        sa.Column("private_score", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("scored_at", AT, nullable=True),
        *refs(("challenge_id", "challenges.id"), ("team_id", "challenge_teams.id")),
        indexes=["challenge_id", "team_id", "job_id"],
    ),
    Table(
        "challenge_awards",
        sa.Column("challenge_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("vouchers", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        *refs(("challenge_id", "challenges.id"), ("team_id", "challenge_teams.id")),
        sa.PrimaryKeyConstraint("challenge_id", "team_id"),
    ),
)
