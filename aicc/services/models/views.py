"""The read models of models, templates and reviews: what the models services return and the
API answers as-is, the portal shows and the SDK parses (`client.models.get()` is a `Model`).

One class per view of a resource, in the order of its REST fields, so that the JSON of a route
is this model's dump; a class has a docstring only where its REST schema had one (it is the
OpenAPI description). Only pydantic, the standard library, `aicc.core`, the read models' base
`View` (`services.common`) and the data context's `Visibility` are imported here: the SDK
imports this module without the server's packages.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from aicc.services.common import View
from aicc.services.data.views import Visibility

Stage = Literal["staging", "production", "archived"]


class ModelFile(View):
    path: str
    size: int


# What a model speaks (`model/schema.json`, docs/templates.md): the user's own columns, in and out
Scalar = str | int | float | bool
ValueType = Literal["number", "integer", "category", "boolean", "datetime", "text", "image"]
Label = Annotated[str, Field(max_length=200)]
Bilingual = Annotated[dict[Literal["en", "zh-CN"], Annotated[str, Field(max_length=2000)]], Field()]
MAX_POINTS = 500  # per series of a chart
MAX_CLASSES = 50  # labels of a confusion matrix (each way)


def _short(value: Any) -> Any:
    """An example as the schema keeps it: a long text cut, a non-finite number dropped."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value[:1000] if isinstance(value, str) else value


def _finite(values: Any) -> Any:
    """A series' values, each non-finite number (a job's NaN) as a gap."""
    if not isinstance(values, list):
        return values
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


class SchemaInput(View):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: ValueType
    required: bool = True
    example: Annotated[Scalar | None, BeforeValidator(_short)] = None
    values: Annotated[list[Scalar], Field(max_length=MAX_CLASSES)] | None = None
    min: Annotated[float, Field(allow_inf_nan=False)] | None = None
    max: Annotated[float, Field(allow_inf_nan=False)] | None = None


class SchemaOutput(View):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    type: ValueType


class InputSchema(View):
    """The columns a model version takes and answers, in the user's own names: written by the
    training job (`model/schema.json`), or derived from an industry template's manifest
    (`derived`, every column optional: its predict.py names what it lacks)."""

    task: Annotated[str, Field(min_length=1, max_length=40)]
    target: Label | None = None
    inputs: Annotated[list[SchemaInput], Field(max_length=1000)]
    outputs: Annotated[list[SchemaOutput], Field(max_length=1000)] = Field(default_factory=list)
    classes: Annotated[list[Scalar], Field(max_length=1000)] | None = None
    frequency: Annotated[str, Field(max_length=8)] | None = None
    horizon: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    time: Label | None = None
    derived: bool = False


class Dropped(View):
    column: Label
    why: Bilingual


class Facts(View):
    """True facts of a version's training (`report.json`'s `facts`), as its card tells them."""

    rows: Annotated[int, Field(ge=0)] | None = None
    target: Label | None = None
    task: Annotated[str, Field(max_length=40)] | None = None
    frequency: Annotated[str, Field(max_length=8)] | None = None
    metric: Annotated[str, Field(max_length=40)] | None = None
    score: Annotated[float | None, BeforeValidator(_short)] = None
    baseline: Annotated[float | None, BeforeValidator(_short)] = None
    baseline_name: Bilingual | None = None
    model: Annotated[str, Field(max_length=200)] | None = None
    dropped: Annotated[list[Dropped], Field(max_length=500)] = Field(default_factory=list)


Series = Annotated[
    list[Annotated[float, Field(allow_inf_nan=False)] | None],
    BeforeValidator(_finite),
    Field(max_length=MAX_POINTS),
]


class Confusion(View):
    labels: Annotated[list[Scalar], Field(min_length=1, max_length=MAX_CLASSES)]
    matrix: Annotated[
        list[Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=MAX_CLASSES)]],
        Field(max_length=MAX_CLASSES),
    ]

    @model_validator(mode="after")
    def _square(self) -> Confusion:
        n = len(self.labels)
        if len(self.matrix) != n or any(len(row) != n for row in self.matrix):
            raise ValueError(f"the matrix is not {n} by {n}, one row and column per label")
        return self


class Importance(View):
    feature: Label
    importance: Annotated[float, Field(allow_inf_nan=False)]


class Residuals(View):
    actual: Series
    predicted: Series


class Forecast(View):
    time: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=MAX_POINTS)]
    actual: Series
    predicted: Series
    lower: Series = Field(default_factory=list)
    upper: Series = Field(default_factory=list)


class Charts(View):
    """The charts of a version's card (`report.json`'s `charts`), each only where it applies
    and within its size (at most 500 points per series, 50 classes a side)."""

    confusion: Confusion | None = None
    importance: Annotated[list[Importance], Field(max_length=MAX_POINTS)] | None = None
    residuals: Residuals | None = None
    forecast: Forecast | None = None


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
    input_schema: InputSchema | None = None  # what it takes and answers; None: not known
    facts: Facts | None = None  # of its training, from its report
    charts: Charts | None = None  # of its card; None in lists
    notes: list[str] = Field(default_factory=list)  # what of its report was left out, and why


class BatchPrediction(View):
    """A batch prediction: a job that runs a model version's `predict.py` on a data set
    version; when it succeeds its predictions become the next version of data set `output`
    (`state` done, `result` that version's ref), else `state` failed and `result` says why."""

    job_id: str
    job_state: str  # pending ... succeeded, failed, cancelled (docs/contracts.md §3)
    model: str  # the model version, as the job mounts it (ORG/PROJECT/NAME@N)
    data: str  # the data set version read (ORG/PROJECT/NAME@N)
    input: str  # the table (or the folder of images) of it the model read
    output: str  # the data set the predictions go to, in `project`
    project: str  # ORG/PROJECT
    state: Literal["pending", "done", "failed"]
    result: str
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
    """Whether a data set version fits a template: `choose` names the roles still to be given
    a column (`--column ROLE=COLUMN`) with the data's columns that can play each; `task` is
    what a tabular-prediction template makes of the target; `warnings` what the run will do
    about the data (a copy of the target it leaves out)."""

    ok: bool
    reason: str
    table: str | None
    columns: dict[str, str] | None
    choose: dict[str, list[str]] = Field(default_factory=dict)
    task: str | None = None
    warnings: list[str] = Field(default_factory=list)


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


class TrackedExperiment(View):
    """An MLflow experiment: a named group of runs in one project (docs/interop.md)."""

    id: str
    name: str
    project_id: str
    lifecycle_stage: str  # active | deleted
    tags: dict[str, str]
    created_at: datetime
    updated_at: datetime


class TrackedMetric(View):
    """One point of an MLflow run's metric; `timestamp` in ms since the epoch, as MLflow's."""

    key: str
    value: float
    step: int
    timestamp: int


class TrackedRun(View):
    """An MLflow run: logged through `/mlflow` (`job_id` None) or found in a job's `mlruns`
    once the job ended. `metrics` are each metric's latest point."""

    id: str
    experiment_id: str
    project_id: str
    name: str
    user: str
    job_id: str | None
    status: str  # RUNNING, FINISHED, FAILED, KILLED
    start_time: int  # ms since the epoch
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: list[TrackedMetric]


class TrackedFile(View):
    """An entry of a run's artifacts folder: `path` its name in that folder."""

    path: str
    is_dir: bool
    file_size: int | None


class FineTuningJob(View):
    # A job of OpenAI's `/v1/fine_tuning/jobs`, in OpenAI's shape (times in Unix seconds);
    # `fine_tuned_model` is the model registry's name, which a deployment takes.

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: dict[str, Any] | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: str
    trained_tokens: int | None
    training_file: str
    validation_file: str | None
    estimated_finish: int | None = None
    integrations: list[Any] | None = None
    metadata: dict[str, str] | None = None
    user_provided_suffix: str | None = None
    job_id: str  # AICC's training job, for `aicc job logs`


class FineTuningEvent(View):
    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    data: dict[str, Any] | None = None
    type: Literal["message", "metrics"] = "message"


class FineTuningCheckpoint(View):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float]
    step_number: int
