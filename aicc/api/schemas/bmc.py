"""A node's BMC and its power limit as clients send them; the answer (`services.nodes.views.Bmc`)
never holds the password."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from aicc.api.schemas.common import Body
from aicc.core.powercap import parse_power_kw
from aicc.core.text import LINE


class BmcIn(Body):
    address: Annotated[str, Field(min_length=1, max_length=200), LINE]  # https://HOST[:PORT]
    username: Annotated[str, Field(max_length=64), LINE] = ""
    password: Annotated[str | None, Field(max_length=256)] = None  # None: keep the stored one
    verify_tls: bool = True
    interval_s: Annotated[float, Field(ge=5, le=3600)] = 60.0


def _watts(value: object) -> object:
    """'500W', '1.2kW' -> watts; a number is watts as it is; None lifts the limit."""
    if isinstance(value, str):
        return parse_power_kw(value) * 1000
    return value


class PowerLimitIn(Body):
    # the limit in watts, or a quantity ('500W', '1.2kW'); null lifts it
    watts: Annotated[float | None, BeforeValidator(_watts)] = None
