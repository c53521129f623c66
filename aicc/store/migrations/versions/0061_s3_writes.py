"""s3 writes: keys that may write, and the files and multipart parts staged through S3 into an
open upload until the writer commits the version

Revision ID: 0061
Revises: 0060
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Table, ix, migration, refs

revision = "0061"
down_revision = "0060"


upgrade, downgrade = migration(
    Columns(
        "s3_keys",
        sa.Column("writable", sa.Boolean(), nullable=False, server_default=sa.false()),
    ),
    # one S3 staging per user and data set; a push's `source` is NULL, distinct in the index
    Columns(
        "uploads",
        sa.Column("source", sa.String(length=16), nullable=True),
        indexes=[ix("ix_uploads_s3_staging", "dataset_id", "created_by", "source", unique=True)],
    ),
    Table(
        "s3_staged",
        sa.Column("upload_id", ID, nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("chunks", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("upload_id", "uploads.id")),
        sa.PrimaryKeyConstraint("upload_id", "path"),
    ),
    Table(
        "s3_multiparts",
        sa.Column("id", ID, nullable=False),
        sa.Column("upload_id", ID, nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("upload_id", "uploads.id")),
        sa.PrimaryKeyConstraint("id"),
        indexes=["upload_id"],
    ),
    Table(
        "s3_parts",
        sa.Column("multipart_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=32), nullable=False),
        sa.Column("chunks", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("multipart_id", "s3_multiparts.id")),
        sa.PrimaryKeyConstraint("multipart_id", "number"),
    ),
)
