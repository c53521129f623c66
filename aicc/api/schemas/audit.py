"""The audit log (`services.audit`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEntry(BaseModel):
    id: int
    at: datetime
    user_id: str | None
    user_name: str
    org_id: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


class AuditVerification(BaseModel):
    """The hash chain walked from its first entry (docs/api.md: audit)."""

    intact: bool
    verified: int
    pending: int  # committed, not sealed yet (sealed within a control pass or so)
    broken_at: int | None  # the first entry that is missing or does not match its hash
    reason: str | None
    last_seq: int | None  # the head: keep it to tell later that nothing was cut off the end
    last_hash: str | None
