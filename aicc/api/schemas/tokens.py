"""What clients send to make an API token; the answer is `services.tenancy.views.Token`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aicc.api.schemas.common import Body
from aicc.core.tenancy import Scope
from aicc.core.text import LINE


class TokenIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=100), LINE]
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    user_id: str | None = None
    scopes: list[Scope] | None = Field(
        None,
        max_length=5,
        description="what the token may do: `read`, `jobs`, `data`, `deployments` (each with "
        "the reads), or `all` (the default: whatever its user may)",
    )


class S3KeyIn(Body):
    """What clients send to make an S3 access key; the answer is `views.S3Key`."""

    name: Annotated[str, Field(min_length=1, max_length=100), LINE]
    writable: bool = Field(
        False,
        description="the key also writes new versions of the data sets you may push to "
        "(docs/interop.md); members only",
    )
