"""The tables of `services/serving`: deployments, their replicas and adapters, API keys and the
gateway's records. Only that context names them."""

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
