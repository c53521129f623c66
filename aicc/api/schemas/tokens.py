"""API tokens (`services.tokens`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from aicc.api.schemas.common import Body
from aicc.core.tenancy import Scope


class TokenIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    user_id: str | None = None
    scopes: list[Scope] | None = Field(
        None,
        max_length=5,
        description="what the token may do: `read`, `jobs`, `data`, `deployments` (each with "
        "the reads), or `all` (the default: whatever its user may)",
    )


class Token(BaseModel):
    id: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    scopes: list[str]
    secret: str | None = Field(None, description="only in the answer that creates the token")
