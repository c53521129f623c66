"""The tenancy context's read models: organizations, projects, users, queues, tokens, secrets'
names and audit entries, as the services return them, the API answers them, the portal shows
them and the SDK parses them (`client.orgs.get(id)` is an `Org`).

Pydantic, the standard library, `aicc.core` and `services.common` (the base `View`) only, so the SDK
imports this cheaply. Frozen: a caller never holds a row, so reading a view neither writes to the
database nor goes stale with the session. Field order is the REST answer's; a field only the
services use is `exclude=True`, so the JSON stays what it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from aicc.core.tenancy import OrgKind
from aicc.services.common import View


# Guaranteed and max per resource key, in stored units (models in milli of a device). The
# classes' docstrings are the OpenAPI document's descriptions: a comment does not change it.
class QuotaOut(View):
    guaranteed: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)


class Org(View):
    id: str
    name: str
    display_name: str
    # what kind of tenant (enterprise, university, research, ...): the center's reports count them
    kind: OrgKind = OrgKind.OTHER
    quota: QuotaOut = Field(default_factory=QuotaOut)  # services/jobs/quotas.py
    created_at: datetime


class Project(View):
    id: str
    org_id: str
    name: str
    quota: QuotaOut = Field(default_factory=QuotaOut)
    created_at: datetime


# A user as others may see them: never the password hash.
class User(View):
    id: str
    name: str
    org_id: str
    role: str
    email: str | None
    language: str
    default_project_id: str | None
    disabled: bool
    created_at: datetime


# The caller: their user, organization and the projects they see (`GET /me`).
class Me(View):
    user: User
    org: Org
    projects: list[Project]


class Queue(View):
    id: str
    project_id: str
    name: str
    priority: int
    max_runtime_s: int | None
    max_pending: int | None
    max_running: int | None
    # the most replicas one job of the queue may ask; None: the center's bound (never above it)
    max_replicas_per_job: int | None
    created_at: datetime | None = Field(default=None, exclude=True)  # not in the answer


# A token as its owner sees it: never its secret's digest; the secret itself only in the
# answer that creates it.
class Token(View):
    id: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    scopes: list[str]
    secret: str | None = Field(None, description="only in the answer that creates the token")


# A user's access key to the S3 endpoint (docs/interop.md): its secret is shown once.
class S3Key(View):
    id: str
    user_id: str
    name: str
    access_key_id: str
    created_at: datetime
    last_used_at: datetime | None
    writable: bool = Field(False, description="writes new data set versions through S3")
    secret: str | None = Field(None, description="only in the answer that creates the key")


# A secret as anyone may see it: its name and dates, never its value.
class Secret(View):
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime


# Who did what to which object, and when.
class AuditEntry(View):
    id: int
    at: datetime
    user_id: str | None
    user_name: str
    org_id: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


# A page of the audit log, newest first: `next_cursor` is the id to read on from (None: the end).
class AuditEntries(View):
    items: list[AuditEntry]
    next_cursor: str | None = None


# What `audit.verify` found: the entries from the first on that are intact (`verified`, up to
# the head `last_hash`), the first that is not (`broken_at`, why in `reason`; None: all are),
# and those committed but not sealed yet.
class AuditVerification(View):
    """The hash chain walked from its first entry (docs/api.md: audit)."""

    intact: bool
    verified: int
    pending: int  # committed, not sealed yet (sealed within a control pass or so)
    broken_at: int | None  # the first entry that is missing or does not match its hash
    reason: str | None
    last_seq: int | None  # the head: keep it to tell later that nothing was cut off the end
    last_hash: str | None
