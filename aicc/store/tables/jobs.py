"""The tables of `services/jobs`: jobs, their replicas, events, notebooks, TES tasks, OpenAI files
and the leader's lease. Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base


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
