"""A maintenance window as center admins announce it; the answer is
`services.nodes.views.MaintenanceWindow`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from aicc.api.schemas.common import Body
from aicc.core.text import LINE, PROSE

NodeName = Annotated[str, Field(min_length=1, max_length=128), LINE]


class MaintenanceIn(Body):
    """Exactly one of `nodes`, `rack`, `pool`; times in ISO 8601 (UTC when no offset)."""

    nodes: Annotated[list[NodeName], Field(max_length=4096)] = Field(default_factory=list)
    rack: Annotated[str | None, Field(min_length=1, max_length=128), LINE] = None
    pool: Annotated[str | None, Field(min_length=1, max_length=128), LINE] = None
    starts_at: datetime = Field(alias="from")
    ends_at: datetime = Field(alias="to")
    reason: Annotated[str, Field(min_length=1, max_length=500), PROSE]
