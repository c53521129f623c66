"""need offers and template grants (issue 41): a provider's template or deployment priced for a
need's poster, and the grant that lets the poster's organization run an offered template

Revision ID: 0047
Revises: 0046
Create Date: 2026-11-27 12:45:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, migration, refs

revision = "0047"
down_revision = "0046"

MONEY = sa.String(length=40)

upgrade, downgrade = migration(
    Entity(
        "need_offers",
        sa.Column("need_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=80), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("decided_at", AT, nullable=True),
        sa.Column("ended_at", AT, nullable=True),
        *refs(("need_id", "needs.id"), ("org_id", "orgs.id"), ("project_id", "projects.id")),
        indexes=["need_id", "org_id"],
    ),
    Entity(
        "template_grants",
        sa.Column("template_id", sa.String(length=80), nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("ended_at", AT, nullable=True),
        *refs(("org_id", "orgs.id")),
        indexes=["template_id", "org_id"],
    ),
)
