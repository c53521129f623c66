"""A figure the estimator relied on, with where it came from.

Every number that turns a scenario into hours or money is reported back to the caller as an
`Assumption`, so a tenant can see (and an operator can dispute) each one. `estimate` marks figures
that no publication states directly: our own derivations and rules of thumb.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Assumption(BaseModel):
    """One named figure: its value, unit, source and whether it is our estimate."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: int | float | str
    unit: str = ""
    source: str
    estimate: bool = False
