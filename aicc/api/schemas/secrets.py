"""A project secret's value as clients send it; the answer (`services.tenancy.views.Secret`)
has names and dates, never values."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aicc.api.schemas.common import Body


class SecretIn(Body):
    value: Annotated[str, Field(min_length=1, max_length=64 * 1024)]
