"""Models and their versions (`services.models`), and templates (`services.templates`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from aicc.api.schemas.common import Body, Name

Stage = Literal["staging", "production", "archived"]


class ModelFile(BaseModel):
    path: str
    size: int


class ModelVersion(BaseModel):
    name: str
    number: int
    ref: str
    stage: Stage
    format: str
    framework: str
    metrics: dict[str, float]
    params: dict[str, Any]
    lineage: dict[str, Any]
    card: str
    file_count: int
    logical_bytes: int
    files: list[ModelFile]
    created_by: str
    created_at: datetime


class Model(BaseModel):
    id: str
    name: str
    project: str
    visibility: Literal["private", "org", "public"]
    description: str
    licence: str
    tags: list[str]
    latest: int | None
    writable: bool
    created_at: datetime
    updated_at: datetime
    versions: list[ModelVersion]


class ModelPatch(Body):
    visibility: Literal["private", "org", "public"] | None = None
    description: Annotated[str | None, Field(max_length=4000)] = None
    licence: Annotated[str | None, Field(max_length=128)] = None
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]] | None, Field(max_length=32)
    ] = None


class RegisterIn(Body):
    """Register a succeeded job's outputs (or the folder `path` of them) as the next version."""

    job_id: Annotated[str, Field(max_length=64)]
    path: Annotated[str, Field(max_length=1000)] = ""
    format: Annotated[str, Field(max_length=40)] = ""
    framework: Annotated[str, Field(max_length=40)] = ""
    metrics: Annotated[
        dict[Annotated[str, Field(max_length=64)], float] | None, Field(max_length=100)
    ] = None
    card: Annotated[str, Field(max_length=100_000)] = ""
    project: Annotated[str | None, Field(max_length=200)] = None


class StageIn(Body):
    stage: Stage


class TemplateMetric(BaseModel):
    name: str
    goal: Literal["maximize", "minimize"]
    expected: float


class Fit(BaseModel):
    ok: bool
    reason: str
    table: str | None
    columns: dict[str, str] | None


class Template(BaseModel):
    """A template of the marketplace: `manifest` is its whole `template.yaml`; `fit` says
    whether the data set of `?data=` fits it."""

    name: str
    title: dict[str, str]
    summary: dict[str, str]
    industry: str
    task: str
    framework: str
    licence: str
    source: str
    metric: TemplateMetric
    manifest: dict[str, Any]
    fit: Fit | None = None
    ref: str = Field(description="how a run names it: NAME (built-in) or ORG/PROJECT/NAME@N")
    version: int | None = None
    visibility: Literal["private", "org", "public"] = "public"
    price: str = Field("0.00", description="per run, charged to other organizations")
    currency: str = "CNY"
    writable: bool = False
    rating: float | None = Field(None, description="the mean rating, 1 to 5")
    ratings: int = 0
    uses: int = Field(0, description="runs submitted")


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
    licence: Annotated[str | None, Field(max_length=128)] = None
    price: Annotated[
        Decimal | None,
        Field(ge=0, le=10**12, allow_inf_nan=False, description="CNY per run; 0 is free"),
    ] = None
    description: Annotated[str, Field(max_length=2000)] = ""


class ReviewIn(Body):
    rating: Annotated[int, Field(ge=1, le=5)]
    text: Annotated[str, Field(max_length=2000)] = ""


class Review(BaseModel):
    user: str
    rating: int
    text: str
    updated_at: datetime


class Reviews(BaseModel):
    """An object's rating (mean and count) and its reviews, newest first."""

    rating: float | None
    ratings: int
    reviews: list[Review]


ColumnName = Annotated[str, Field(min_length=1, max_length=200)]
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
