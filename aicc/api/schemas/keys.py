"""API keys to deployments (`services.api_keys`) and the gateway's request log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from aicc.api.schemas.common import Body


class ApiKeyIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    deployments: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
        Field(max_length=1000, description="the deployments it may call; absent: all"),
    ] = None
    rpm: Annotated[int | None, Field(ge=1, le=10**7, description="requests per minute")] = None
    tokens_per_month: Annotated[int | None, Field(ge=1, le=10**15)] = None


class ApiKey(BaseModel):
    id: str
    project_id: str
    name: str
    deployments: list[str] | None
    rpm: int | None
    tokens_per_month: int | None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = Field(None, description="only in the answer that creates the key")


class GatewayRequest(BaseModel):
    id: str
    at: datetime
    deployment: str
    key: str
    route: str
    status: int
    stream: bool
    billable: bool
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    attempts: int
    replica: str | None
