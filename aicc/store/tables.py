"""SQL tables (SQLAlchemy 2). Rows stay in the store and services; routes see domain or API models.

Every change of schema is an Alembic migration under `store/migrations/versions/`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite forgets the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


def table(row: type[Base]) -> Table:
    """A row class's table, for statements on hot paths that skip the ORM (its identity map and
    unit of work cost more than the query on SQLite)."""
    found: Table = row.__table__  # type: ignore[assignment]
    return found


class OrgRow(Base):
    __tablename__ = "orgs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # core.tenancy.OrgKind: what kind of tenant, for the center's reports (migration 0027)
    kind: Mapped[str] = mapped_column(String(16), default="other", server_default="other")
    quota: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    quota: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8), default="en")
    default_project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class UserIdentityRow(Base):
    """A user's account at a single sign-on provider: the provider's issuer and its subject for
    the person (OpenID Connect's stable identifier), never an e-mail address (migration 0023)."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime]


class MembershipRow(Base):
    """Which projects a member or viewer works in (org admins and admins see all they manage)."""

    __tablename__ = "memberships"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)


class TokenRow(Base):
    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    scopes: Mapped[list[Any]] = mapped_column(
        JSON, default=lambda: ["all"], server_default=text("'[\"all\"]'")
    )


class S3KeyRow(Base):
    """A user's access key to the S3 endpoint (`/s3`, docs/interop.md). SigV4 signs with the
    secret itself, so it is sealed with the server's key (`store/sealing.py`), not hashed."""

    __tablename__ = "s3_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # s3k_...
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    access_key_id: Mapped[str] = mapped_column(String(32), unique=True)
    sealed_secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    # writes new data set versions through S3 (0061); a key reads only, unless made to write
    writable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class QueueRow(Base):
    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    max_runtime_s: Mapped[int | None] = mapped_column(Integer)
    max_pending: Mapped[int | None] = mapped_column(Integer)
    max_running: Mapped[int | None] = mapped_column(Integer)
    # the most replicas one job of this queue may ask (0032); None: the center's bound
    max_replicas_per_job: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class SecretRow(Base):
    """Write-only for the API: values are injected at launch and never returned or logged."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


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


class ModelVersionRow(Base):
    """What a model version is beyond its files (the `DatasetVersionRow` of the same id, whose
    lineage names the job, data sets and template that made it): how to load it, how good it
    is, and where it stands."""

    __tablename__ = "model_versions"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(16), default="staging", index=True)
    format: Mapped[str] = mapped_column(String(40), default="")
    framework: Mapped[str] = mapped_column(String(40), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {name: number}
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the hyperparameters
    card: Mapped[str] = mapped_column(Text, default="")  # the model card (Markdown)
    updated_at: Mapped[datetime]
    # what the model takes and answers (`views.InputSchema`), the facts and charts of its card
    # (`views.Facts`, `views.Charts`), each checked when registered; None: none, or refused
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    facts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    charts: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    notes: Mapped[list[Any]] = mapped_column(default=list)  # what was left out of them, and why


class TemplateVersionRow(Base):
    """What a published template version is beyond its files: its parsed manifest (so the
    catalog lists it without reading chunks) and the per-use price its publisher asks."""

    __tablename__ = "template_versions"
    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    price: Mapped[str] = mapped_column(String(40), default="0.00")  # per run, decimal string
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    updated_at: Mapped[datetime]


class ReviewRow(Base):
    """One user's rating (1-5) and review of a template or model: a second one replaces it."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("target", "user_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    target: Mapped[str] = mapped_column(String(80), index=True)  # a datasets id or builtin:NAME
    user_id: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[str] = mapped_column(String(40))
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TemplateUseRow(Base):
    """A run of a template (its use count), written with the job's submit; a paid one names
    the charge and the publisher's credit (`billing_adjustments`) written in that transaction."""

    __tablename__ = "template_uses"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    target: Mapped[str] = mapped_column(String(80), index=True)  # a datasets id or builtin:NAME
    org_id: Mapped[str] = mapped_column(String(40))
    price: Mapped[str] = mapped_column(String(40), default="0.00")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    charge_id: Mapped[str | None] = mapped_column(String(40))
    credit_id: Mapped[str | None] = mapped_column(String(40))
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


class StorageLevelRow(Base):
    """Append-only: a project's data set storage (the distinct chunks its sets refer to) from
    `at` until its next level; written in the transaction that changes it, metered per day."""

    __tablename__ = "data_storage_levels"
    __table_args__ = (Index("ix_data_storage_levels_project_at", "project_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    bytes: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]


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


class JobOutputRow(Base):
    """What a job's outputs become when it succeeds: a new version of a data set (a cleaning
    job). `state`: pending until the job ends, then done (with `result`, the version) or failed
    (with `result`, why)."""

    __tablename__ = "job_outputs"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "dataset", "model" or "predictions"
    target_id: Mapped[str] = mapped_column(String(40))  # the data set
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(default=None)


class TesTaskRow(Base):
    """A GA4GH TES task (services/jobs/tes.py): the job it runs as, and the task document as
    sent (what AICC does not read left out), which its answers show back. `name` is TES's own
    (free text), for `name_prefix`; `notes` are the task's system logs written at create."""

    __tablename__ = "tes_tasks"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str | None] = mapped_column(String(4096), default=None)
    task: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]


class OpenAIFileRow(Base):
    """A file of OpenAI's `/v1/files` (services/data/openai_files.py): its bytes are a blob of the
    working-directory store (one member, `file`), recorded as the organization's workdir so its
    storage is metered; `purpose` is OpenAI's (batch, fine-tune, batch_output)."""

    __tablename__ = "openai_files"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # file_...
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    key_id: Mapped[str | None] = mapped_column(String(40))  # the API key that wrote it
    purpose: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(512))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # the blob's
    created_at: Mapped[datetime]


class OpenAIBatchRow(Base):
    """A batch of OpenAI's `/v1/batches` (services/serving/batches.py): a file of requests the
    gateway's batch runner sends to the project's deployments, each line once (`done` holds
    the lines answered so far, kept in `progress_sha256`'s partial results)."""

    __tablename__ = "openai_batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # batch_...
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    key_id: Mapped[str] = mapped_column(String(40))
    endpoint: Mapped[str] = mapped_column(String(64))
    input_file_id: Mapped[str] = mapped_column(String(40))
    completion_window: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    output_file_id: Mapped[str | None] = mapped_column(String(40))
    error_file_id: Mapped[str | None] = mapped_column(String(40))
    total: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    in_progress_at: Mapped[datetime | None]
    finalizing_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    cancelling_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]  # a runner holds it until then (renewed as it runs)


class OpenAIFineTuneRow(Base):
    """A job of OpenAI's `/v1/fine_tuning/jobs` (services/models/fine_tuning.py): the LoRA
    template's training run (`job_id`) on a chat file, whose model is `fine_tuned_model`."""

    __tablename__ = "openai_fine_tunes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ftjob_...
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    key_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    model: Mapped[str] = mapped_column(String(64))  # the base model asked for
    training_file: Mapped[str] = mapped_column(String(40))
    fine_tuned_model: Mapped[str] = mapped_column(String(128))  # the model registry's name
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime]


class NodeRow(Base):
    __tablename__ = "nodes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    executor: Mapped[str] = mapped_column(String(32), default="local")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cpu_milli: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="ready")
    state_reason: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # what jobs outside AICC hold here, as the engine last said: cpu_milli, memory_mib, devices
    engine_held: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")


class NodeBmcRow(Base):
    """A node's BMC (Redfish): where it answers and who signs in (the password sealed, as
    project secrets are), the power limit an operator asked for, and what it last said. Only
    center admins see the address and user name; nobody gets the password back."""

    __tablename__ = "node_bmcs"
    node_id: Mapped[str] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(64), default="")
    password: Mapped[str] = mapped_column(Text, default="")  # sealed (store/sealing.py)
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_s: Mapped[float] = mapped_column(default=60.0)  # how often its power is sampled
    limit_w: Mapped[float | None] = mapped_column(default=None)  # asked for; None: no limit
    limit_applied_w: Mapped[float | None] = mapped_column(default=None)  # as last written
    limit_error: Mapped[str] = mapped_column(String(200), default="")
    # what it last said (core/redfish.py Reading, as JSON), when, and its last error
    reading: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(String(200), default="")
    error_at: Mapped[datetime | None] = mapped_column(default=None)
    # this BMC's Critical health cordoned the node: only then is it uncordoned when healthy
    cordoned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


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


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("node_id", "index"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    memory_mib: Mapped[int] = mapped_column(Integer)
    uuid: Mapped[str | None] = mapped_column(String(100))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    healthy: Mapped[bool] = mapped_column(Boolean, default=True)
    mig: Mapped[list[Any]] = mapped_column(default=list)  # [{"index", "profile", "uuid"}]


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ix_jobs_project_created", "project_id", "created_at"),
        Index("ix_jobs_state_ended", "state", "ended_at"),  # jobs that ended since (runtimes.py)
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]]
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    borrowed: Mapped[bool] = mapped_column(Boolean, default=False)  # bound beyond the guarantee
    preempted_by: Mapped[list[Any]] = mapped_column(default=list)  # jobs that preempted it
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_sha256: Mapped[str | None] = mapped_column(String(64))  # the spec as submitted
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # the spec's data sets pinned at submit: [{"name", "ref", "version_id", "bytes"}]
    datasets: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # the sealed values of the secrets its attempts were launched with: its logs are masked
    # with them, though a secret be replaced since (services/jobs/logs.py)
    secrets_seen: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # `placement: federation` (docs/federation.md): None runs here (never routed, or routed
    # here); "?" waits for the federation loop to route it; else the peer site it runs on
    federation: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    # its last write, stamped by the triggers of migration 0037: on SQLite the count of job
    # writes (`JobChangesRow`) it made, on PostgreSQL its transaction's id; the scheduling
    # loop reads only the rows written since its last pass (`snapshots.written`)
    change: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)


class JobChangesRow(Base):
    """How many times a job row was written (inserted, updated, deleted), counted by triggers on
    SQLite (migration 0035; none on PostgreSQL, where the table is empty): the scheduling loop
    reads it to know that no job changed since its last pass (loops/quiet.py)."""

    __tablename__ = "job_changes"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


class WaitingRow(Base):
    """How many jobs wait (pending or admitted) per user and per queue, kept as jobs enter and
    leave waiting (services/jobs/waiting.py), so that a submit checks its limits in one read
    whatever thousands wait. `owner` is "user/<id>" or "queue/<id>"."""

    __tablename__ = "waiting"
    owner: Mapped[str] = mapped_column(String(48), primary_key=True)
    jobs: Mapped[int] = mapped_column(Integer)


class ReplicaRow(Base):
    """One replica of one attempt: where it was bound, and what became of it."""

    __tablename__ = "replicas"
    __table_args__ = (UniqueConstraint("job_id", "attempt", "index"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    index: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    # [{"index", "milli", "memory_mib"}], plus "mig_slice" (its MigInstance.index) for a MIG slice
    devices: Mapped[list[Any]] = mapped_column(default=list)
    cpu_milli: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # scheduled | running | exited | lost
    handle: Mapped[str | None] = mapped_column(String(500))  # the executor's own reference
    exit_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(64))
    # what the engine said when it ended or refused it, shown in the job's failure message
    message: Mapped[str | None] = mapped_column(Text, default=None)
    bound_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    peak_rss_mib: Mapped[int | None] = mapped_column(Integer)
    rendezvous: Mapped[dict[str, Any]] = mapped_column(default=dict)  # RANK, MASTER_ADDR, ...
    metered_to: Mapped[datetime | None]  # usage is recorded up to here (billing/meter.py)
    # a listening replica whose readiness check passed (since then); None: not (or no longer)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
    # an elastic job's replica the scheduler released (a shrink): the reconciler stops it, and
    # the job goes on without it (services/jobs/elastic.py)
    released_at: Mapped[datetime | None] = mapped_column(default=None)


class DeploymentRow(Base):
    """A model API (or any command listening on `$PORT`) kept running as `desired` replicas,
    each a `kind: service` job (`DeploymentReplicaRow`) of the deployment's `revision`."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # dep_...
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # the model version served (a `datasets` row of kind model, and its number), or None for
    # a deployment of a plain command
    model_id: Mapped[str | None] = mapped_column(String(40))
    model_version: Mapped[int | None] = mapped_column(Integer)
    # the replica jobs' spec of the current revision (JobSpec as JSON, kind service)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    min_replicas: Mapped[int] = mapped_column(Integer, default=1)
    max_replicas: Mapped[int] = mapped_column(Integer, default=1)
    desired: Mapped[int] = mapped_column(Integer, default=1)  # what the autoscaler wants now
    # requests in flight per replica the autoscaler aims for (None: deployments' default)
    target_concurrency: Mapped[float | None] = mapped_column(default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # replicas that ended (or timed out) in a row without ever being ready, and when the control
    # loop may start the next one (backoff); both reset when a replica becomes ready
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(default=None)


class DeploymentRevisionRow(Base):
    """What a deployment serves at one revision, kept so a rollback can return to it: the
    replica jobs' spec and the settings it was built from (model ref, command, engine, ...)."""

    __tablename__ = "deployment_revisions"
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_id: Mapped[str | None] = mapped_column(String(40))
    model_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class DeploymentReplicaRow(Base):
    """A replica of a deployment: one `kind: service` job, of one revision."""

    __tablename__ = "deployment_replicas"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    probe_failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row
    first_ready_at: Mapped[datetime | None] = mapped_column(default=None)
    # taken out of routing (an old revision, a scale down): its job is cancelled after the drain
    draining_at: Mapped[datetime | None] = mapped_column(default=None)


class DeploymentAdapterRow(Base):
    """A LoRA adapter (a model version of peft's files) a deployment of its base serves, as
    `DEPLOYMENT:NAME` and, where given, as `alias` alone (unique in the deployment's project)."""

    __tablename__ = "deployment_adapters"
    __table_args__ = (
        UniqueConstraint("deployment_id", "name"),
        UniqueConstraint("project_id", "alias"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # dad_...
    deployment_id: Mapped[str] = mapped_column(ForeignKey("deployments.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    alias: Mapped[str | None] = mapped_column(String(64))
    # the adapter's model version (a `datasets` row of kind model, and its number)
    model_id: Mapped[str] = mapped_column(String(40))
    model_version: Mapped[int] = mapped_column(Integer)
    base: Mapped[str] = mapped_column(String(512))  # its base_model_name_or_path, as read
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """A project's key to its deployments through the gateway (`/v1`): only the secret's
    SHA-256 is stored. `deployments` None means every deployment of the project."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # key_...
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)
    deployments: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    rpm: Mapped[int | None] = mapped_column(Integer)  # requests per minute
    tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # its service tier, 1 served first .. 3 (gateway/tiers.py)
    tier: Mapped[int] = mapped_column(Integer, default=2, server_default="2")


class GatewayRequestRow(Base):
    """Append-only: one request through the gateway, written before its answer's last bytes
    leave (the request log). The meter rolls the closed hours' answered requests into usage
    records (`usage_id`), each request once."""

    __tablename__ = "gateway_requests"
    __table_args__ = (
        Index("ix_gateway_requests_deployment_at", "deployment_id", "at"),
        Index("ix_gateway_requests_unmetered", "usage_id", "at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # req_...: the request id
    org_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    deployment_id: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(40), index=True)
    # chat | completions | embeddings | moderations | predict
    route: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer)  # what the client got
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    billable: Mapped[bool] = mapped_column(Boolean, default=False)  # a replica answered 2xx
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_us: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    replica: Mapped[str | None] = mapped_column(String(64))  # the job that answered
    at: Mapped[datetime]  # when the record was written (the answer's end)
    usage_id: Mapped[int | None] = mapped_column(BigInteger)  # the usage record holding it
    adapter: Mapped[str | None] = mapped_column(String(128))  # `model: "BASE:NAME"`'s NAME
    tier: Mapped[int] = mapped_column(Integer, default=2, server_default="2")  # its key's


class SafetyEventRow(Base):
    """Append-only: a prompt or completion the gateway's content safety blocked or masked
    (gateway/safety.py): which rule, never the text unless the policy says `store_text`."""

    __tablename__ = "safety_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str] = mapped_column(String(40), index=True)
    deployment_id: Mapped[str] = mapped_column(String(40), index=True)
    key_id: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(16))  # prompt | completion
    rule: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # block | mask
    text: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]


class GatewayLoadRow(Base):
    """One server's requests in flight to one deployment over one whole second (the mean), so
    that the leader's autoscaler counts the requests every server and worker process took, not
    only its own (services/serving/autoscaling.py). Rows older than the samples kept are deleted."""

    __tablename__ = "gateway_load"
    server: Mapped[str] = mapped_column(String(200), primary_key=True)  # the controller's holder
    deployment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    second: Mapped[float] = mapped_column(primary_key=True)  # Unix time the second ended
    concurrency: Mapped[float]


class EventRow(Base):
    """Append-only: every state change of a job and every notable thing around it."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(index=True)


class AuditRow(Base):
    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_seq", "seq", unique=True),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[str | None] = mapped_column(String(40))
    user_name: Mapped[str] = mapped_column(String(64), default="")
    org_id: Mapped[str | None] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client: Mapped[str] = mapped_column(String(100), default="")
    # its place in the hash chain and its link, set by the leader after the commit
    seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)


class WorkdirRow(Base):
    """An uploaded workdir archive, by digest, per organization (storage metering reads it)."""

    __tablename__ = "workdirs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class LeaseRow(Base):
    """Leader election with fencing: the holder's epoch is checked in every bind transaction."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]


class SettingRow(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]]


# --- the compute service's books (aicc/services/billing, docs/billing.md). Money is a decimal
# string in its row's currency: exact on every backend (SQLite has no decimal type). ---

MONEY = 40  # the length of a decimal string column


class PricePlanRow(Base):
    """One version of a price plan: the center's (`org_id` None) or one organization's, in force
    from `effective_from` until the next version of the same scope. Never changed once made."""

    __tablename__ = "price_plans"
    __table_args__ = (UniqueConstraint("scope", "effective_from"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))  # "center" or the organization id
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[datetime]
    prices: Mapped[dict[str, Any]] = mapped_column(default=dict)  # PricePlan fields, as strings
    discount: Mapped[str] = mapped_column(String(MONEY), default="0")
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class VoucherRow(Base):
    """Prepaid credit (算力券) of an organization, perhaps limited to a project and to models.
    What is left is `amount` minus what issued invoices took (billing/credits.py)."""

    __tablename__ = "vouchers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(100))
    amount: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    accelerators: Mapped[list[Any]] = mapped_column(default=list)  # catalog names; [] = all
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class VoucherMoveRow(Base):
    """What moved out of a voucher other than what invoices took: a need's reward held from it
    or a challenge team's subsidy given on (`amount` above 0), or what came back to it (below
    0). `reference`: the need's id, or the team's for a subsidy. What is left of a voucher
    counts them (billing/credits.py)."""

    __tablename__ = "voucher_moves"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    amount: Mapped[str] = mapped_column(String(MONEY))
    reference: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class SubsidyRow(Base):
    """A subsidy program: `rate` of the discounted fee, up to `yearly_cap` per organization and
    calendar year; for one organization or (`org_id` None) for all."""

    __tablename__ = "subsidies"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    rate: Mapped[str] = mapped_column(String(MONEY))
    yearly_cap: Mapped[str | None] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    accelerators: Mapped[list[Any]] = mapped_column(default=list)
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class BudgetRow(Base):
    """A monthly spending limit of a project or (`project_id` None) an organization, with the
    shares of it at which an alert is written once per month (`alerted`: month -> shares)."""

    __tablename__ = "budgets"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), unique=True)  # the project or org id
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    limit: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    thresholds: Mapped[list[Any]] = mapped_column(default=list)
    alerted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UsageRow(Base):
    """Append-only: what one replica used of one accelerator model within one clock hour, or
    what one organization stored for one day. `key` makes recording it twice impossible."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_org_period", "org_id", "period"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # compute | storage | requests
    org_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str | None] = mapped_column(String(40), index=True)
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    replica_id: Mapped[str | None] = mapped_column(String(64))  # or the archive's sha256
    node_id: Mapped[str | None] = mapped_column(String(40))
    accelerator: Mapped[str] = mapped_column(String(64), default="")
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    devices: Mapped[int] = mapped_column(Integer, default=0)
    milli: Mapped[int] = mapped_column(Integer, default=0)  # shares of `accelerator`, summed
    cpu_milli: Mapped[int] = mapped_column(Integer, default=0)
    memory_mib: Mapped[int] = mapped_column(Integer, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    start: Mapped[datetime] = mapped_column(index=True)
    end: Mapped[datetime]
    duration_us: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM of `start` in the billing zone
    utilization: Mapped[float | None]  # measured mean busy share of its devices (NVML)
    energy_kwh: Mapped[float] = mapped_column(default=0.0)
    # kg CO₂ of `energy_kwh` at the grid intensity of the record's hour, written with it; None
    # on records written before migration 0025 (their intensity was never recorded)
    carbon_kg: Mapped[float | None] = mapped_column(default=None)
    # how `energy_kwh` was found (core/energy.py METHODS: rapl, bmc, nvml, estimated); None on
    # records without energy and on those metered before it was kept (migration 0051)
    energy_method: Mapped[str | None] = mapped_column(String(16), default=None)
    # the PUE in `energy_kwh` and how it was found: `measured` (the facility meters' hour,
    # services/billing/facility.py) or `configured` (the site's profile or constant); None on
    # records metered before it was kept (migration 0056) and on those without energy
    pue: Mapped[float | None] = mapped_column(default=None)
    pue_method: Mapped[str | None] = mapped_column(String(16), default=None)
    # kind `requests`: a deployment's answered gateway requests within one clock hour
    deployment_id: Mapped[str | None] = mapped_column(String(40), default=None)
    adapter: Mapped[str | None] = mapped_column(String(128), default=None)  # and its adapter
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)  # once issued
    created_at: Mapped[datetime]


class InvoiceRow(Base):
    """An issued monthly invoice of an organization: immutable. Drafts are never stored; they
    are computed from the usage records whenever asked for (billing/invoices.py)."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("org_id", "period"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), default="issued")
    currency: Mapped[str] = mapped_column(String(3))
    totals: Mapped[dict[str, Any]] = mapped_column(default=dict)  # gross, discount, ..., net
    issued_at: Mapped[datetime]
    issued_by: Mapped[str | None] = mapped_column(String(40))


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    line: Mapped[dict[str, Any]]  # the line as the API shows it, usage record ids included


class AdjustmentRow(Base):
    """A correction (signed amount) billed on the invoice of `period`, perhaps about an issued
    invoice (`reference`); `invoice_id` is set when that invoice is issued."""

    __tablename__ = "billing_adjustments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str | None] = mapped_column(String(40))
    invoice_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class DeviceSampleRow(Base):
    """A measured utilization of one real device (NVML), for busy rates and idle flags."""

    __tablename__ = "device_samples"
    __table_args__ = (Index("ix_device_samples_device_at", "node_id", "index", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(40))
    index: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    utilization: Mapped[float]  # 0..1 of the sample period the device was busy
    memory_used_mib: Mapped[int | None] = mapped_column(Integer)
    # A node's own power (W), on its row of index NODE (-1): read by its BMC or RAPL (`source`)
    power_w: Mapped[float | None] = mapped_column(default=None)
    source: Mapped[str | None] = mapped_column(String(16), default=None)  # nvml | bmc | rapl
    # the power limit in force as the BMC said with that sample (None: none, or not a BMC's)
    limit_w: Mapped[float | None] = mapped_column(default=None)


NODE_INDEX = -1  # the `index` of a sample of the node as a whole (its power), not of a device


class MeterSampleRow(Base):
    """A reading of one of the center's facility meters (Modbus TCP, executors/meters.py): kW
    of a power meter or kWh of a counter, else the error of a read that failed. Kept a week
    (the hours are in `facility_hours` by then)."""

    __tablename__ = "meter_samples"
    __table_args__ = (Index("ix_meter_samples_meter_at", "meter", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # utility | it | cooling
    at: Mapped[datetime] = mapped_column(index=True)
    kw: Mapped[float | None] = mapped_column(default=None)
    kwh: Mapped[float | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(String(200), default="")


class FacilityHourRow(Base):
    """One closed clock hour of the facility meters (core/meters.py `HourPue`): mean kW by role
    and by meter, and the measured PUE, or the gap (`gap` says why, `missing` which meters) with
    a NULL PUE. Written once, when the hour is over and its samples are in."""

    __tablename__ = "facility_hours"
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    pue: Mapped[float | None] = mapped_column(default=None)
    facility_kw: Mapped[float | None] = mapped_column(default=None)
    it_kw: Mapped[float | None] = mapped_column(default=None)
    cooling_kw: Mapped[float | None] = mapped_column(default=None)
    facility_from: Mapped[str] = mapped_column(String(16), default="utility")
    meters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gap: Mapped[str] = mapped_column(String(16), default="")
    missing: Mapped[list[Any]] = mapped_column(default=list)
    written_at: Mapped[datetime]


class NotebookRow(Base):
    """A user's JupyterLab in a project: what it asks for, and its current `kind: notebook`
    job (None before the first start). Only its owner sees it (services/jobs/notebooks.py)."""

    __tablename__ = "notebooks"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # nbk_...
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict)  # a JobSpec's, stored units
    idle_timeout_s: Mapped[int] = mapped_column(Integer)
    datasets: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # names; None: all
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    culled_at: Mapped[datetime | None] = mapped_column(default=None)  # when job_id was culled
    cull_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The portal's sign-in: its sessions and failed sign-ins (migrations 0003 and 0008). Services end
# a person's sessions (a disabled user); `services/tenancy/sessions.py` reads and writes them.


class PortalSessionRow(Base):
    """One signed-in browser. The cookie holds a random secret; only its SHA-256 is stored, so
    a copy of the database does not let anyone sign in as someone else."""

    __tablename__ = "portal_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie secret
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # The API token it was started with (None: a password): revoking the token ends it.
    token_id: Mapped[str | None] = mapped_column(
        ForeignKey("tokens.id", name="fk_portal_sessions_token_id_tokens"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))  # the forms' hidden token for this session
    client: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SignInFailureRow(Base):
    """A failed sign-in: by user name (as typed) and by client address, for the throttle."""

    __tablename__ = "portal_sign_in_failures"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(100), index=True)


class FederationAdvertRow(Base):
    """The newest advert a peer site pushed (docs/federation.md), and when it arrived here."""

    __tablename__ = "federation_adverts"
    site: Mapped[str] = mapped_column(String(40), primary_key=True)
    advert: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class FederationJobRow(Base):
    """One attempt of a home job routed to a peer: which site, its job id there, what it
    last said. Unique per (job, attempt): a retried submit finds the same row (and the peer the
    same Idempotency-Key), so an attempt never runs twice."""

    __tablename__ = "federation_jobs"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(40))
    remote_job_id: Mapped[str | None] = mapped_column(String(40))
    remote_state: Mapped[str | None] = mapped_column(String(16))
    routing: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the ranking, explained
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class SettlementRow(Base):
    """What this site owes a peer for one remote job attempt: open until an operator settles
    it, once (unique per job attempt)."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(40), index=True)
    remote_job_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[str] = mapped_column(String(32))  # a decimal, in `currency`
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16))  # open | settled
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class FederationNonceRow(Base):
    """A nonce a peer signed a request with, kept until the request's signed time is out of
    the accepted clock window (`federation/nonces.py`): a replay within it is refused, also
    after a restart (migration 0031)."""

    __tablename__ = "federation_nonces"
    site: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


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


class ImageStorageLevelRow(Base):
    """Append-only, as `StorageLevelRow` for data sets: a project's image storage from `at`
    until its next level, for the meter's GiB-days."""

    __tablename__ = "image_storage_levels"
    __table_args__ = (Index("ix_image_storage_levels_project_at", "project_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    bytes: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]


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


# --- maintenance windows and capacity leases (issue 40; services/nodes/maintenance.py,
# services/leases). Node names, not ids, as operators and tenants read them. ---


class MaintenanceWindowRow(Base):
    """A maintenance window of some nodes (named, or a rack's or a pool's, resolved when it is
    made): the scheduler starts nothing there that would run into it, the loop drains them at
    `starts_at` and gives them back at `ends_at`.
    `state`: scheduled | active | ended | cancelled."""

    __tablename__ = "maintenance_windows"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # nodes | rack | pool
    target: Mapped[str] = mapped_column(String(200))  # the rack's or pool's name; "" for nodes
    nodes: Mapped[list[Any]]  # node names
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CapacityLeaseRow(Base):
    """Dedicated capacity of an organization from `starts_at` to `ends_at`: whole nodes, or
    devices picked when it was made (`devices`: [{"node", "index"}]). What a later SLA report
    and the books need is kept: the tier, the price plan's name, when it really ended.
    `state`: scheduled | active | ended. (Not `leases`: that table is the loops' election.)"""

    __tablename__ = "capacity_leases"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    nodes: Mapped[list[Any]]  # names of whole nodes leased
    devices: Mapped[list[Any]]  # [{"node": name, "index": i}] of a device lease
    pool: Mapped[str | None] = mapped_column(String(128))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    tier: Mapped[float]
    plan: Mapped[str | None] = mapped_column(String(64))
    lends: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), index=True)
    ended_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- notifications (issue 40: services/notify, migration 0040) ----------------------------------


class NotifyChannelRow(Base):
    """Where events go: a user's own channel (`user_id`) or a project's (`project_id`), of a
    kind (email, webhook, wecom, dingtalk, feishu), subscribed to event kinds by pattern. The
    secret (a webhook's HMAC key, a bot's signing secret) is sealed and never read back."""

    __tablename__ = "notify_channels"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))  # a mail address or a URL
    secret: Mapped[str | None] = mapped_column(Text)  # sealed
    events: Mapped[list[Any]] = mapped_column(default=list)  # patterns: job.*, budget.threshold
    wait_min: Mapped[int] = mapped_column(Integer, default=30)  # job.waiting: pending this long
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NotifyEventRow(Base):
    """An event, written in its cause's transaction (a transactional outbox): it exists iff its
    cause committed. `key` is unique: the same cause emitted twice writes one event."""

    __tablename__ = "notify_events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class NotifyDeliveryRow(Base):
    """One event to one channel: `pending` until due at `next_at`, `sending` while a leader
    holds it (`claimed_by`), then `delivered` or, after its last attempt, `failed`."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (Index("ix_notify_deliveries_state_next", "state", "next_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("notify_events.id"), index=True)
    channel_id: Mapped[str | None] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="SET NULL"), index=True
    )
    channel_kind: Mapped[str] = mapped_column(String(16))  # kept when the channel is deleted
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    latency_s: Mapped[float | None]  # from the event to its delivery, for /metrics


class NotifyInboxRow(Base):
    """An event in one user's inbox (the portal's bell, `aicc notify list`), read or not."""

    __tablename__ = "notify_inbox"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("notify_events.id"), primary_key=True)
    at: Mapped[datetime]
    read_at: Mapped[datetime | None]


# --- burn-in (issue 40): a node's checks before service ---


class BurnInRow(Base):
    """One burn-in of one node (services/center/burn_in.py): its job, then its verdict and the
    figures it was judged by (each `{value, unit, reference, passed}`), and why it failed."""

    __tablename__ = "burn_ins"
    __table_args__ = (Index("ix_burn_ins_node_started", "node_id", "started_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(128))  # the node kind its figures are compared in
    state: Mapped[str] = mapped_column(String(16), index=True)  # running | passed | failed
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checks: Mapped[dict[str, Any]] = mapped_column(default=dict)  # skipped ones, the GPU's
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str | None] = mapped_column(String(40))  # an operator; None: AICC
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


# --- node changes (issue 40, SLA reports): each node state and device health change ---


class NodeChangeRow(Base):
    """Append-only: a node's new state (`index` None) or a device's health (`state` healthy or
    unhealthy), `at` the time it changed, written with the change (services/nodes/history.py);
    the leases' SLA reports read availability from it."""

    __tablename__ = "node_changes"
    __table_args__ = (Index("ix_node_changes_node_at", "node_id", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    index: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]


# --- needs and challenges (issue 41, services/needs): 供需对接 and 揭榜挂帅 ---


class NeedRow(Base):
    """A need an organization posts for providers to answer: the problem, the data it shares,
    the metric, the reward held in escrow from `created_at` until it is awarded or withdrawn
    (`closed_at`), the deadline and the terms. `state`: open | awarded | withdrawn."""

    __tablename__ = "needs"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(String(300))  # a data set it shares, ORG/PRJ/NAME@N
    metric: Mapped[str] = mapped_column(String(32))
    reward: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    deadline: Mapped[datetime]
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # the poster's voucher the reward is held from (its moves); None: money in escrow on the
    # poster's invoice
    voucher_id: Mapped[str | None] = mapped_column(String(40))


class NeedQuestionRow(Base):
    """A provider's question on a need and the poster's public answer."""

    __tablename__ = "need_questions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ChallengeRow(Base):
    """A need with a hidden test set: the poster's version and table, its target column, and
    the inputs AICC derived from it (the table without the target) that scoring jobs read."""

    __tablename__ = "challenges"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), unique=True)
    hidden_version_id: Mapped[str] = mapped_column(String(40))
    hidden_table: Mapped[str] = mapped_column(String(1024))
    target: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[str] = mapped_column(String(300))  # ORG/PRJ/NAME@N in the center's project
    public_pct: Mapped[int] = mapped_column(Integer)
    per_day: Mapped[int] = mapped_column(Integer)
    max_runtime_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    # the poster's voucher that gives each new team `subsidy_per_team` for its training
    subsidy_voucher: Mapped[str | None] = mapped_column(String(40))
    subsidy_per_team: Mapped[str] = mapped_column(String(MONEY), default="0", server_default="0")
    # the secret that draws the public board's rows (core/scoring.py `public_rows`); no view
    # has it. NULL for challenges made before it was kept: their rows are drawn by their id
    split_key: Mapped[str | None] = mapped_column(String(64))


class ChallengeTeamRow(Base):
    """A team that took a challenge: one organization or several (`orgs`, ids)."""

    __tablename__ = "challenge_teams"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    orgs: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    # the training subsidy its first organization received (a voucher), if the challenge
    # offered one and the poster's voucher had it left
    subsidy_voucher: Mapped[str | None] = mapped_column(String(40))


class ChallengeSubmissionRow(Base):
    """A team's model scored on the hidden set: `scoring` while its job runs, then `scored`
    (both boards' scores) or `failed` (`error`)."""

    __tablename__ = "challenge_submissions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("challenge_teams.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(300))
    model_version_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    state: Mapped[str] = mapped_column(String(16))
    public_score: Mapped[float | None]
    private_score: Mapped[float | None]
    error: Mapped[str] = mapped_column(Text, default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    scored_at: Mapped[datetime | None]


class ChallengeAwardRow(Base):
    """What the poster awarded a team: credit moved from the need's escrow to the team's
    organizations as vouchers (`vouchers`, ids), once per team; and, where the terms give the
    poster the results, the team's model as the poster received it (`model`)."""

    __tablename__ = "challenge_awards"
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("challenge_teams.id"), primary_key=True)
    amount: Mapped[str] = mapped_column(String(MONEY))
    vouchers: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    model: Mapped[str | None] = mapped_column(String(300))  # the poster's copy, ORG/PRJ/NAME@N


class NeedOfferRow(Base):
    """A provider's answer to a need without a challenge: its template or deployment at a price
    for the poster (`unit`: per `run` of the template, per `1k_requests` to the deployment).
    `state`: open | accepted | declined | withdrawn | ended. An accepted deployment offer names
    the key (`key_id`) the poster calls it with; an accepted template offer, its grant."""

    __tablename__ = "need_offers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    kind: Mapped[str] = mapped_column(String(16))  # template | deployment
    target_id: Mapped[str] = mapped_column(String(80))  # the template's id, the deployment's
    target: Mapped[str] = mapped_column(String(300))  # as the poster names it
    price: Mapped[str] = mapped_column(String(MONEY))
    unit: Mapped[str] = mapped_column(String(16))  # run | 1k_requests
    currency: Mapped[str] = mapped_column(String(3))
    message: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class TemplateGrantRow(Base):
    """A template one organization may run at its own price (an accepted offer, `reference`),
    whatever the template's visibility, until `ended_at`."""

    __tablename__ = "template_grants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(80), index=True)  # the template's datasets id
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    price: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class MlflowExperimentRow(Base):
    """An MLflow experiment: a named group of runs within one project (docs/interop.md)."""

    __tablename__ = "mlflow_experiments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MlflowRunRow(Base):
    """An MLflow run: logged through `/mlflow` (no job), or found in a job's `mlruns` once the
    job ended (`job_id`; its metrics and artifacts stay the job's files)."""

    __tablename__ = "mlflow_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # MLflow's run id, 32 hex
    experiment_id: Mapped[str] = mapped_column(ForeignKey("mlflow_experiments.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # RUNNING, FINISHED, FAILED, KILLED
    start_time: Mapped[int] = mapped_column(BigInteger)  # ms since the epoch, as MLflow counts
    end_time: Mapped[int | None] = mapped_column(BigInteger)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime]


class MlflowRunValueRow(Base):
    """A run's param (written once) or tag (changes)."""

    __tablename__ = "mlflow_run_values"
    run_id: Mapped[str] = mapped_column(ForeignKey("mlflow_runs.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # param | tag
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MlflowMetricRow(Base):
    """One point of a run's metric, as MLflow logs it."""

    __tablename__ = "mlflow_metrics"
    __table_args__ = (Index("ix_mlflow_metrics_run_key", "run_id", "key", "step"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("mlflow_runs.id"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MlflowJobImportRow(Base):
    """A job whose `mlruns` were looked at once it ended (`runs` found): each job once."""

    __tablename__ = "mlflow_job_imports"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime]


# --- owners (issue 59): each table belongs to one bounded context of aicc/services, which alone
# reads and writes it; the others go through that context's read functions and writers, or keep a
# record of their own. tests/services/test_table_owners.py holds the services to it, with an
# allow-list of the uses still left that only shrinks. A new table joins one group here. ---

OWNERS: dict[str, tuple[type[Base], ...]] = {
    "tenancy": (
        OrgRow,
        ProjectRow,
        UserRow,
        UserIdentityRow,
        MembershipRow,
        TokenRow,
        S3KeyRow,
        QueueRow,
        SecretRow,
        AuditRow,
        PortalSessionRow,
        SignInFailureRow,
    ),
    "notify": (NotifyChannelRow, NotifyEventRow, NotifyDeliveryRow, NotifyInboxRow),
    "data": (
        DatasetRow,
        DatasetVersionRow,
        ChunkRow,
        DatasetMountRow,
        DatasetChunkRow,
        StorageLevelRow,
        UploadRow,
        UploadChunkRow,
        S3StagedRow,
        S3MultipartRow,
        S3PartRow,
        NodeDataRow,
    ),
    "nodes": (
        NodeRow,
        NodeBmcRow,
        DeviceRow,
        MaintenanceWindowRow,
        BurnInRow,
        NodeChangeRow,
    ),
    "images": (
        ImageRepositoryRow,
        ImageTagRow,
        ImageBlobRow,
        ImageStorageLevelRow,
        NodeImageRow,
    ),
    "billing": (
        PricePlanRow,
        VoucherRow,
        VoucherMoveRow,
        SubsidyRow,
        BudgetRow,
        UsageRow,
        InvoiceRow,
        InvoiceLineRow,
        AdjustmentRow,
        MeterSampleRow,
        FacilityHourRow,
    ),
    "leases": (CapacityLeaseRow,),
    "jobs": (
        JobRow,
        JobChangesRow,
        WaitingRow,
        ReplicaRow,
        EventRow,
        WorkdirRow,
        NotebookRow,
        TesTaskRow,
        OpenAIFileRow,
        LeaseRow,  # LeaseRow: the leader that binds jobs
    ),
    "telemetry": (DeviceSampleRow,),
    "federation": (FederationAdvertRow, FederationJobRow, SettlementRow, FederationNonceRow),
    "serving": (
        DeploymentRow,
        DeploymentRevisionRow,
        DeploymentReplicaRow,
        DeploymentAdapterRow,
        ApiKeyRow,
        GatewayRequestRow,
        SafetyEventRow,
        GatewayLoadRow,
        OpenAIBatchRow,
    ),
    "models": (
        ModelVersionRow,
        TemplateVersionRow,
        ReviewRow,
        TemplateUseRow,
        TemplateGrantRow,
        JobOutputRow,
        OpenAIFineTuneRow,
        MlflowExperimentRow,
        MlflowRunRow,
        MlflowRunValueRow,
        MlflowMetricRow,
        MlflowJobImportRow,
    ),
    "center": (SettingRow,),
    "needs": (
        NeedRow,
        NeedQuestionRow,
        ChallengeRow,
        ChallengeTeamRow,
        ChallengeSubmissionRow,
        ChallengeAwardRow,
        NeedOfferRow,
    ),
}


def owner_of(table: type[Base] | str) -> str:
    """The context that owns `table` (its class or class name): KeyError for one in no group."""
    name = table if isinstance(table, str) else table.__name__
    return _OWNER_BY_NAME[name]


_OWNER_BY_NAME = {row.__name__: ctx for ctx, rows in OWNERS.items() for row in rows}
