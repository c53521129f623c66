"""What clients send to make an API key (`services/serving/api_keys.py`); keys and the gateway's
request log come back as `services/serving/views.py`'s."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aicc.api.schemas.common import Body
from aicc.core.text import LINE


class ApiKeyIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=64), LINE]
    deployments: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64), LINE]] | None,
        Field(max_length=1000, description="the deployments it may call; absent: all"),
    ] = None
    rpm: Annotated[int | None, Field(ge=1, le=10**7, description="requests per minute")] = None
    tokens_per_month: Annotated[int | None, Field(ge=1, le=10**15)] = None
    tier: Annotated[
        int | None,
        Field(
            ge=1,
            le=3,
            description="service tier: 1 served first when busy .. 3; absent: the "
            "organization's price plan's `api_tier`, else 2. Better than the plan's: admins",
        ),
    ] = None
