"""The read models of models, templates and reviews: what the models services return and the
API answers as-is, the portal shows and the SDK parses (`client.models.get()` is a `Model`).

One class per view of a resource, in the order of its REST fields, so that the JSON of a route
is this model's dump; a class has a docstring only where its REST schema had one (it is the
OpenAPI description). Only pydantic, the standard library and `aicc.core` are imported here:
the SDK imports this module without the server's packages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["staging", "production", "archived"]
Visibility = Literal["private", "org", "public"]


class View(BaseModel):
    """A read model: frozen, as what a service hands out is read once and never written back."""

    model_config = ConfigDict(frozen=True)


class ModelFile(View):
    path: str
    size: int


# One immutable version of a model; only its `stage` changes
class ModelVersion(View):
    name: str
    number: int
    ref: str
    stage: Stage
    format: str
    framework: str
    metrics: dict[str, float]
    params: dict[str, Any]
    lineage: dict[str, Any]  # {"job_id", "datasets": [refs], "template": ref}
    card: str
    file_count: int
    logical_bytes: int
    files: list[ModelFile]  # empty in lists
    created_by: str
    created_at: datetime


class Model(View):
    id: str
    name: str
    project: str  # ORG/PROJECT
    visibility: Visibility
    description: str
    licence: str
    tags: list[str]
    latest: int | None
    writable: bool
    created_at: datetime
    updated_at: datetime
    versions: list[ModelVersion]


class TemplateMetric(View):
    name: str
    goal: Literal["maximize", "minimize"]
    expected: float


class Fit(View):
    ok: bool
    reason: str
    table: str | None
    columns: dict[str, str] | None


class Template(View):
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
    visibility: Visibility = "public"
    price: str = Field("0.00", description="per run, charged to other organizations")
    currency: str = "CNY"
    writable: bool = False
    rating: float | None = Field(None, description="the mean rating, 1 to 5")
    ratings: int = 0
    uses: int = Field(0, description="runs submitted")


class Review(View):
    user: str  # the reviewer's name
    rating: int
    text: str
    updated_at: datetime


class Reviews(View):
    """An object's rating (mean and count) and its reviews, newest first."""

    rating: float | None
    ratings: int
    reviews: list[Review]
