"""data sets: versions with their manifests, the chunk index, and resumable uploads

Chunks are stored once for the center (`chunks`); a data set names the chunks its versions use
(`dataset_chunks`), which is its stored bytes and its project's proof of possession; an upload
remembers the chunks it received (`upload_chunks`), so an interrupted push resumes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 01:06:37.389908
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.schema import SchemaItem

from aicc.store.migrations.ops import AT, ID, Entity, Named, Table, migration, refs, stamps

revision = "0009"
down_revision = "0008"


def chunk_list(owner: str, target: str) -> list[SchemaItem]:
    """The chunks an upload or a data set holds: its id, each chunk's digest and size."""
    return [
        sa.Column(owner, ID, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        *refs((owner, target)),
        sa.PrimaryKeyConstraint(owner, "digest"),
    ]


upgrade, downgrade = migration(
    Table(
        "chunks",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("digest"),
        indexes=["pack"],
    ),
    Named(
        "datasets",
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("licence", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        *stamps(),
        indexes=["visibility"],
    ),
    Table(
        "dataset_chunks",
        *chunk_list("dataset_id", "datasets.id"),
        indexes=["digest"],
    ),
    Entity(
        "dataset_versions",
        sa.Column("dataset_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("logical_bytes", sa.BigInteger(), nullable=False),
        sa.Column("added_bytes", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("tables", sa.JSON(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("dataset_id", "datasets.id")),
        sa.UniqueConstraint("dataset_id", "number"),
        indexes=["dataset_id"],
    ),
    Entity(
        "uploads",
        sa.Column("dataset_id", ID, nullable=False),
        sa.Column("created_by", ID, nullable=False),
        *stamps(),
        *refs(("dataset_id", "datasets.id")),
        indexes=["dataset_id"],
    ),
    Table("upload_chunks", *chunk_list("upload_id", "uploads.id")),
)
