"""Project secrets (`services.secrets`): names and dates, never values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from aicc.api.schemas.common import Body


class SecretIn(Body):
    value: Annotated[str, Field(min_length=1, max_length=64 * 1024)]


class Secret(BaseModel):
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime
