"""The request bodies of models, their versions, templates and reviews; what they answer is
`services/models/views.py`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from aicc.api.schemas.common import Body, Name
from aicc.core.text import LINE, PROSE

Stage = Literal["staging", "production", "archived"]


class ModelPatch(Body):
    visibility: Literal["private", "org", "public"] | None = None
    description: Annotated[str | None, Field(max_length=4000), PROSE] = None
    licence: Annotated[str | None, Field(max_length=128), LINE] = None
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64), LINE]] | None, Field(max_length=32)
    ] = None


class RegisterIn(Body):
    """Register a succeeded job's outputs (or the folder `path` of them) as the next version."""

    job_id: Annotated[str, Field(max_length=64)]
    path: Annotated[str, Field(max_length=1000)] = ""
    format: Annotated[str, Field(max_length=40), LINE] = ""
    framework: Annotated[str, Field(max_length=40), LINE] = ""
    metrics: Annotated[
        dict[Annotated[str, Field(max_length=64), LINE], float] | None, Field(max_length=100)
    ] = None
    card: Annotated[str, Field(max_length=100_000), PROSE] = ""
    project: Annotated[str | None, Field(max_length=200)] = None


class StageIn(Body):
    stage: Stage


class PredictIn(Body):
    """Run the model version on data set version `data` (`NAME@N`); its predictions become
    the next version of data set `output` (default `MODEL-predictions`), in `project`."""

    data: Annotated[str, Field(min_length=1, max_length=300)]
    output: Name | None = None
    project: Annotated[str | None, Field(max_length=200)] = None
    table: Annotated[str | None, Field(min_length=1, max_length=1000)] = None
    queue: Annotated[str | None, Field(max_length=64)] = None


TemplatePath = Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,200}$")]


class PublishIn(Body):
    """A template directory: `files` maps each path (template.yaml, train.py, predict.py,
    example.py, and modules they import) to its text."""

    files: Annotated[
        dict[TemplatePath, Annotated[str, Field(max_length=4 * 1024 * 1024)]],
        Field(min_length=1, max_length=64),
    ]
    project: Annotated[str | None, Field(max_length=200)] = None
    visibility: Literal["private", "org", "public"] | None = None
    licence: Annotated[str | None, Field(max_length=128), LINE] = None
    price: Annotated[
        Decimal | None,
        Field(ge=0, le=10**12, allow_inf_nan=False, description="CNY per run; 0 is free"),
    ] = None
    description: Annotated[str, Field(max_length=2000), PROSE] = ""


class ReviewIn(Body):
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, Field(max_length=2000), PROSE] = ""


ColumnName = Annotated[str, Field(min_length=1, max_length=200), LINE]
Value = str | int | float | bool


class RunIn(Body):
    """Train the template: on data set `data` (`NAME@N`; its example data when left out), with
    `params` (hyperparameters, the others at their defaults), into model `model`; with `search`,
    a hyperparameter search whose best trial becomes the model (`trials`: how many to draw)."""

    data: Annotated[str | None, Field(max_length=300)] = None
    params: Annotated[dict[Annotated[str, Field(max_length=40)], Value], Field(max_length=50)] = (
        Field(default_factory=dict)
    )
    model: Name | None = None
    columns: Annotated[dict[ColumnName, ColumnName], Field(max_length=50)] = Field(
        default_factory=dict
    )
    project: Annotated[str | None, Field(max_length=200)] = None
    queue: Annotated[str | None, Field(max_length=64)] = None
    gpus: Annotated[int | None, Field(ge=0, le=64)] = None
    # cores (each trial's): at least one millicore, what a job's spec can hold (issue 35: 5e-324
    # passed `gt=0` and became a 0-millicore spec)
    cpu: Annotated[float | None, Field(ge=0.001, le=256, allow_inf_nan=False)] = None
    search: Annotated[
        dict[Annotated[str, Field(max_length=40)], Annotated[list[Value], Field(max_length=100)]],
        Field(max_length=50),
    ] = Field(default_factory=dict)  # values to try by hyperparameter: a search, one job
    trials: int | None = None  # draw this many combinations of `search` (at most 16)

    def shared(self) -> dict[str, Any]:
        """What a run and its estimate both take from the body (`model` and `queue` are the
        run's alone), as keyword arguments of `template_runs.run` and
        `template_estimate.estimate`."""
        return self.model_dump(exclude={"model", "queue"})
