"""A lease as center admins make it; the answer is `services.leases.views.Lease`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from aicc.api.schemas.common import Body
from aicc.core.text import LINE

NodeName = Annotated[str, Field(min_length=1, max_length=128), LINE]


class LeaseIn(Body):
    """Whole `nodes`, or `devices` whole devices of `pool`; times in ISO 8601 (UTC when no
    offset). `tier`: the availability promised, in percent; `plan`: the price plan it is
    billed by; `lend`: others' preemptible work may use its idle capacity."""

    org: Annotated[str, Field(min_length=1, max_length=64), LINE]
    nodes: Annotated[list[NodeName], Field(max_length=1024)] = Field(default_factory=list)
    pool: Annotated[str | None, Field(min_length=1, max_length=128), LINE] = None
    devices: Annotated[int | None, Field(ge=1, le=100_000)] = None
    starts_at: datetime = Field(alias="from")
    ends_at: datetime = Field(alias="to")
    tier: Annotated[float, Field(ge=0, le=100)] = 99.9
    plan: Annotated[str | None, Field(min_length=1, max_length=64), LINE] = None
    lend: bool = False
