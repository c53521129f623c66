"""template sharing: published templates' versions (manifest, per-use price), ratings and
reviews of templates and models, and the uses of templates (runs, with a paid one's charge)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("version_id", sa.String(length=40), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target", "user_id"),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviews_target"), ["target"], unique=False)
    op.create_table(
        "template_uses",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_id", sa.String(length=40), nullable=True),
        sa.Column("credit_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("template_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_template_uses_target"), ["target"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("template_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_uses_target"))
    op.drop_table("template_uses")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviews_target"))
    op.drop_table("reviews")
    op.drop_table("template_versions")
