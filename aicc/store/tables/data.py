"""The tables of `services/data`: data sets, their versions, chunks, uploads and the S3 endpoint's
staging. Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base, StorageLevel


class DatasetRow(Base):
    """A data set of a project; its versions are `DatasetVersionRow`s."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    # "dataset", "model" or "template": their versions are their files (ModelVersionRow and
    # TemplateVersionRow have the rest).
    # One name space per project for both, so a reference never names two things.
    kind: Mapped[str] = mapped_column(String(16), default="dataset", index=True)
    name: Mapped[str] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16), default="private", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(String(1024), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # data sovereignty (docs/federation.md): a jurisdiction code such as CN-GD; jobs that mount
    # the data set run only at sites of that jurisdiction
    region: Mapped[str | None] = mapped_column(String(16), default=None)


class DatasetVersionRow(Base):
    """An immutable version: its manifest (gzip JSON, `core.datasets.Manifest`) and what it
    holds, with the lineage of a version a cleaning job made."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int]
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_digest: Mapped[str] = mapped_column(String(64))
    file_count: Mapped[int]
    logical_bytes: Mapped[int] = mapped_column(BigInteger)
    added_bytes: Mapped[int] = mapped_column(BigInteger)  # chunks the set did not hold before
    message: Mapped[str] = mapped_column(Text, default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tables: Mapped[dict[str, Any]] = mapped_column(default=dict)  # path -> {columns, rows}
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class ChunkRow(Base):
    """A chunk the chunk store holds, whoever pushed it: stored once for the whole center, at
    `offset` in the pack object `pack`."""

    __tablename__ = "chunks"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    pack: Mapped[str] = mapped_column(String(64), index=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class DatasetMountRow(Base):
    """A data set version a job mounts (one of its pinned `datasets`), written with the job's
    submit: the marketplace counts a set's mounts by this index, not by reading every job's
    pins. No key to the set: a set may be deleted after jobs mounted it (its rows go with it)."""

    __tablename__ = "dataset_mounts"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(40), index=True)


class DatasetChunkRow(Base):
    """A chunk some version of a data set refers to: a data set's stored bytes, a project's
    storage use, and the proof that its project may read the chunk."""

    __tablename__ = "dataset_chunks"
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    size: Mapped[int]


class StorageLevelRow(StorageLevel, Base):
    """A project's data set storage (the distinct chunks its sets refer to), as a level."""

    __tablename__ = "data_storage_levels"
    __table_args__ = (Index("ix_data_storage_levels_project_at", "project_id", "at"),)


class UploadRow(Base):
    """A push in progress: the chunks it has received survive an interrupted connection, so the
    next attempt sends only the rest."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # the bytes its `begin` calls asked for, in all (0033): what it may receive; None: an
    # upload the server made itself (`uploads.ingest`), bounded by the storage quota alone
    declared_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # "s3": the staging of S3 writes (0061), which a push's `begin` never resumes; None: a push
    source: Mapped[str | None] = mapped_column(String(16))
    # one S3 staging per user and data set, however many PUTs open it at once (0061); a push's
    # `source` is NULL, and NULLs are distinct in a unique index: pushes are not held to it
    __table_args__ = (
        Index("ix_uploads_s3_staging", "dataset_id", "created_by", "source", unique=True),
    )


class UploadChunkRow(Base):
    __tablename__ = "upload_chunks"
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]


class S3StagedRow(Base):
    """A file written through S3 into an open version (`services/data/s3writes.py`): its chunks,
    received by the upload, become the version's file when the writer commits."""

    __tablename__ = "s3_staged"
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))  # what S3 answered: MD5, or MD5-of-MD5s-N
    chunks: Mapped[list[Any]] = mapped_column(JSON)  # [[digest, size], ...]
    created_at: Mapped[datetime]


class S3MultipartRow(Base):
    """An S3 multipart upload in progress (its `id` is S3's UploadId) of one staged file."""

    __tablename__ = "s3_multiparts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime]


class S3PartRow(Base):
    """A part of a multipart upload: its chunks, received by the upload, and its MD5."""

    __tablename__ = "s3_parts"
    multipart_id: Mapped[str] = mapped_column(ForeignKey("s3_multiparts.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(32))
    chunks: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class NodeDataRow(Base):
    """A data set version a node's data cache was filled with, for data locality in placement.
    Written when a replica's data are mounted there; the cache may have let some of it go
    since (least recently used first), which `used_at` hints at."""

    __tablename__ = "node_data"
    node_id: Mapped[str] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    version_id: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[datetime]
