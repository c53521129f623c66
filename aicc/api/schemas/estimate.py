"""The compute service's estimate: a scenario in; what it answers is `aicc.estimate.Estimate`,
the estimator's own read model, returned by `services.jobs.estimates.run` as it is."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aicc.estimate import Overrides


class EstimateIn(BaseModel):
    """A scenario (docs/estimate.md) and how to narrow and rank its options."""

    model_config = ConfigDict(extra="forbid")
    scenario: dict[str, Any] = Field(
        description='e.g. {"scenario": "llm-pretrain", "params": 7e9, "tokens": "2T"}'
    )
    accelerator: list[str] | None = Field(
        default=None, description="catalog names or aliases to consider (default: all)"
    )
    count: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    sort: Literal["time", "cost"] = "time"
    project: str | None = Field(default=None, description="default: the caller's project")
    overrides: Overrides | None = None
