"""federation: peers' adverts, jobs routed to peers, settlements, data set regions

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-25 04:00:00

`jobs.federation` is NULL for every existing job: each ran, or waits to run, here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aicc.store.tables import UTCDateTime

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "federation_adverts",
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("advert", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site"),
    )
    op.create_table(
        "federation_jobs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("remote_job_id", sa.String(length=40), nullable=True),
        sa.Column("remote_state", sa.String(length=16), nullable=True),
        sa.Column("routing", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "attempt"),
    )
    op.create_index("ix_federation_jobs_job_id", "federation_jobs", ["job_id"])
    op.create_table(
        "settlements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("remote_job_id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "attempt"),
    )
    op.create_index("ix_settlements_job_id", "settlements", ["job_id"])
    op.create_index("ix_settlements_site", "settlements", ["site"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("federation", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_jobs_federation", ["federation"])
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("region")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_federation")
        batch_op.drop_column("federation")
    op.drop_table("settlements")
    op.drop_table("federation_jobs")
    op.drop_table("federation_adverts")
