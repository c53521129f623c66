"""The tables of `services/images`: image repositories, tags, blobs and what nodes cache. Only that
context names them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base, StorageLevel


class ImageRepositoryRow(Base):
    """A repository of the center registry: `ORG/PROJECT/NAME`, its project's, with who else may
    pull it (`private`, `org`, `public`). Made by the first push the registry reports
    (migration 0038)."""

    __tablename__ = "image_repositories"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))  # the NAME after ORG/PROJECT/
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ImageTagRow(Base):
    """A tag of a repository and the manifest it points at, with the manifest's size (config
    and layers) as its descriptors declared it."""

    __tablename__ = "image_tags"
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("image_repositories.id"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(71))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    pushed_at: Mapped[datetime]
    pushed_by: Mapped[str | None] = mapped_column(String(64))


class ImageBlobRow(Base):
    """The blobs (config and layers) a manifest of a repository refers to: a project's image
    storage is the distinct blobs of its repositories' manifests; the registry keeps each once."""

    __tablename__ = "image_blobs"
    repository_id: Mapped[str] = mapped_column(
        ForeignKey("image_repositories.id"), primary_key=True
    )
    manifest_digest: Mapped[str] = mapped_column(String(71), primary_key=True)
    blob_digest: Mapped[str] = mapped_column(String(71), primary_key=True, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class ImageStorageLevelRow(StorageLevel, Base):
    """A project's image storage, as a level."""

    __tablename__ = "image_storage_levels"
    __table_args__ = (Index("ix_image_storage_levels_project_at", "project_id", "at"),)


class NodeImageRow(Base):
    """An image a node pulled into its engine's storage, for image locality in placement (as
    `NodeDataRow` for data sets). Written when a replica in it is launched there; the node may
    have pruned it since, which only its next pull finds out (services/images/cached.py)."""

    __tablename__ = "node_images"
    node_id: Mapped[str] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(String(512), primary_key=True, index=True)
    digest: Mapped[str | None] = mapped_column(String(71))  # the tag's manifest then, if known
    bytes: Mapped[int] = mapped_column(BigInteger)  # 0: not an image of the center's books
    used_at: Mapped[datetime]
