"""The tables of `services/tenancy`: organizations, projects, users, their tokens, keys, secrets and
sign-ins. Only that context names them."""

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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import Base


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
