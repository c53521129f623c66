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
