"""The compute service's estimate: `POST /api/v1/estimate`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.estimate import Estimate, Overrides
from aicc.services import estimates
from aicc.services.common import Invalid

router = APIRouter(prefix="/api/v1", tags=["compute service"])


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


@router.post("/estimate", response_model=Estimate)
def estimate(body: EstimateIn, who: CurrentUser, state: StateDep, session: SessionDep) -> Estimate:
    """Time, normalized compute, expected wait and price of each accelerator option, ranked.
    Prices follow the caller's organization's plan, after its subsidies and vouchers."""
    try:
        return estimates.run(
            session,
            who,
            body.scenario,
            profile=state.controller.profile,
            default_plan=state.settings.pricing,
            zone=state.settings.site.timezone,
            project=body.project,
            accelerators=body.accelerator,
            count=body.count,
            sort=body.sort,
            overrides=body.overrides,
        )
    except ValidationError as err:  # the scenario: name its field as the body spells it
        scenario = str(body.scenario.get("scenario", ""))
        errors = []
        for error in err.errors(include_url=False, include_context=False):
            loc = list(error["loc"])
            if loc and loc[0] == scenario:
                loc = loc[1:]
            errors.append({**error, "loc": ("body", "scenario", *loc)})
        raise RequestValidationError(errors) from None
    except ValueError as err:
        raise Invalid(str(err)) from None
