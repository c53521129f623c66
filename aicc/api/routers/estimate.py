"""The compute service's estimate: `POST /api/v1/estimate`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.schemas import EstimateIn
from aicc.estimate import Estimate
from aicc.services.common import Invalid
from aicc.services.jobs import estimates
from aicc.services.serving import lifecycle

router = APIRouter(prefix="/api/v1", tags=["compute service"])


@router.post("/estimate", response_model=Estimate)
def estimate_run(
    body: EstimateIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> Estimate:
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
            protect=lifecycle.protected,
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
