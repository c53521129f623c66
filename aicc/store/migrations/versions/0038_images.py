"""the center registry's images (issue 39): repositories per project with their visibility,
their tags, the blobs each manifest refers to (a project's storage, the registry's stored once),
and the project's image storage levels the meter bills in GiB-days

Revision ID: 0038
Revises: 0037
Create Date: 2026-11-26 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, Log, Table, ix, migration, refs, stamps

revision = "0038"
down_revision = "0037"

DIGEST = sa.String(length=71)

upgrade, downgrade = migration(
    Entity(
        "image_repositories",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        *stamps(),
        *refs(("project_id", "projects.id")),
        sa.UniqueConstraint("project_id", "name"),
        indexes=["project_id"],
    ),
    Table(
        "image_tags",
        sa.Column("repository_id", ID, nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("pushed_at", AT, nullable=False),
        sa.Column("pushed_by", sa.String(length=64), nullable=True),
        *refs(("repository_id", "image_repositories.id")),
        sa.PrimaryKeyConstraint("repository_id", "tag"),
    ),
    Table(
        "image_blobs",
        sa.Column("repository_id", ID, nullable=False),
        sa.Column("manifest_digest", DIGEST, nullable=False),
        sa.Column("blob_digest", DIGEST, nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        *refs(("repository_id", "image_repositories.id")),
        sa.PrimaryKeyConstraint("repository_id", "manifest_digest", "blob_digest"),
        indexes=["blob_digest"],
    ),
    Log(
        "image_storage_levels",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("at", AT, nullable=False),
        *refs(("project_id", "projects.id")),
        indexes=[ix("ix_image_storage_levels_project_at", "project_id", "at")],
    ),
)
