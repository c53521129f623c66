"""The jobs context's read models: what the services return, the API answers as JSON, the portal
shows and the SDK parses (`client.jobs.get(id)` is a `Job`). One class per resource view.

Pydantic, the standard library and `services.common` (the base `View`) only, so the SDK imports them
cheaply. Fields in the order of the REST answers (docs/api.md); a field the server reads but never
sends (a replica's executor `handle`, a job's `queue_id`) is `exclude=True`: kept out of the JSON
and the OpenAPI schema, and None in what a client parsed. The classes name no docstring where the
API's schema had none, so the OpenAPI document stays as it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from aicc.core.tes import TesExecutor, TesInput, TesOutput, TesResources
from aicc.services.common import View


class ReplicaDevice(View):
    # a device (or a share, or a MIG slice of it) that a replica holds

    index: int
    milli: int
    model: str | None = None
    memory_mib: int | None = None
    mig_slice: int | None = None  # the MIG slice of the device this replica holds


class Replica(View):
    # one replica of a job's latest attempt, with its node by name: what a user sees

    index: int
    attempt: int
    node: str
    devices: list[ReplicaDevice]
    state: str
    exit_code: int | None
    reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    peak_rss_mib: int | None
    # an elastic job's replica given back to a waiting job (a shrink): stopped since
    released_at: datetime | None = None
    # the server's own: the node by id, and the executor's reference logs and outputs are read by
    node_id: str | None = Field(default=None, exclude=True)
    handle: str | None = Field(default=None, exclude=True)


class Job(View):
    # a job as its readers see it: the stored job, its project, queue and user by name, and its
    # latest replicas; read once, so faces never query

    id: str
    name: str
    org_id: str
    project_id: str
    project: str
    queue: str
    user: str
    kind: str
    state: str
    reason: str
    message: str
    attempt: int
    exit_code: int | None
    priority: int
    cancel_requested: bool
    spec: dict[str, Any] = Field(
        title="Stored spec", description="the JobSpec as stored, with what submit filled in"
    )
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    replicas: list[Replica]
    queue_id: str | None = Field(default=None, exclude=True)  # the server's own
    user_id: str | None = Field(default=None, exclude=True)


class Event(View):
    # one entry of a job's history (or a node's, when `job_id` is None)

    id: int
    job_id: str | None
    kind: str
    from_state: str | None
    to_state: str | None
    reason: str
    message: str
    attempt: int
    at: datetime
    data: dict[str, Any]


NotebookState = Literal["stopped", "starting", "running", "culled", "failed"]


class Notebook(View):
    # a notebook as its owner sees it: what it asks for and how its current job stands

    id: str
    name: str
    project_id: str
    project: str
    user: str
    resources: dict[str, Any]
    idle_timeout_s: int
    datasets: list[str] | None  # None: every data set of the project
    image: str | None = None  # the image it runs in, as named (None: the node's own Python)
    state: NotebookState
    reason: str  # the job's reason (`idle_culled` after a cull)
    message: str
    job_id: str | None
    url: str | None  # `/notebooks/JOB/lab` on this server while it runs
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    culled_at: datetime | None  # when an idle one was stopped (state `culled`)
    org_id: str | None = Field(default=None, exclude=True)  # the server's own
    user_id: str | None = Field(default=None, exclude=True)


class Workdir(View):
    # an uploaded workdir archive, by its digest

    sha256: str
    size: int


class ExplainReason(View):
    code: str
    message: str


class Explain(View):
    # why a job waits (`services.jobs.explain`), as the API answers it

    state: str
    reasons: list[ExplainReason]
    position: int | None
    estimated_start: datetime | None = Field(
        None, description="null until the scheduler can forecast (issue 3: what-if runs)"
    )


class Metrics(View):
    """A job's training curves from its `metrics.jsonl` (`services.metrics`)."""

    job_id: str
    running: bool = Field(description="the job has not ended: poll again with `since=last_step`")
    # `[step, value]` pairs as lists: a tuple's `prefixItems` under `additionalProperties` is a
    # schema some OpenAPI tools (schemathesis) cannot read.
    metrics: dict[str, list[list[int | float]]] = Field(
        description="each metric's `[step, value]` points, by step as written"
    )
    last_step: int | None = Field(description="the largest step written so far")
    points: int = Field(
        description="points that matched, before thinning to `max_points` (of a very long run, "
        "the evenly spread ones the server keeps)"
    )
    thinned: bool = Field(description="some metric had more points and was evenly downsampled")


# --- GA4GH TES 1.1 (services/jobs/tes.py): the answers of /ga4gh/tes/v1, in TES's own names ----


class TesExecutorLog(View):
    # what one executor did: its times (RFC 3339), exit code, and in the FULL view the tails of
    # its stdout and stderr

    start_time: str | None = None
    end_time: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None


class TesOutputFileLog(View):
    # one file the task left in its job's outputs (a folder's files one by one)

    url: str
    path: str
    size_bytes: str = Field(description="in bytes, as a string (TES's int64)")


class TesTaskLog(View):
    # the task's one attempt as its job ran it

    logs: list[TesExecutorLog]
    metadata: dict[str, str] | None = None
    start_time: str | None = None
    end_time: str | None = None
    outputs: list[TesOutputFileLog]
    system_logs: list[str] | None = None


class TesTask(View):
    # a tesTask: the document as sent (what AICC does not read left out), its state and logs;
    # the view (MINIMAL, BASIC, FULL) decides which fields are answered

    id: str
    state: str
    name: str | None = None
    description: str | None = None
    inputs: list[TesInput] | None = None
    outputs: list[TesOutput] | None = None
    resources: TesResources | None = None
    executors: list[TesExecutor] | None = None
    volumes: list[str] | None = None
    tags: dict[str, str] | None = None
    logs: list[TesTaskLog] | None = None
    creation_time: str | None = None


class TesTaskList(View):
    # a page of tasks, newest first; `next_page_token` names the next page

    tasks: list[TesTask]
    next_page_token: str | None = None


class TesCreated(View):
    # the task's id: its job's

    id: str


class TesCancelled(View):
    # TES's empty answer to a cancel

    model_config = ConfigDict(frozen=True, extra="forbid")


class TesServiceType(View):
    group: str
    artifact: str
    version: str


class TesOrganization(View):
    name: str
    url: str


class TesServiceInfo(View):
    # GA4GH service-info, with what TES adds: the storage AICC reads and writes, and the
    # backend_parameters it knows

    id: str
    name: str
    type: TesServiceType
    description: str
    organization: TesOrganization
    documentationUrl: str  # GA4GH service-info's own name
    environment: str
    version: str
    storage: list[str]
    tesResources_backend_parameters: list[str]  # TES's own name


class ProjectSlowdown(View):
    # how long a project's finished jobs took beside how long they ran (issue 63.3): slowdown
    # = (wait + run) / run, the mean and 95th percentile over its jobs that succeeded or failed
    # at or after `since` (services/jobs/slowdown.py)
    project_id: str
    project: str  # its name
    jobs: int
    mean: float
    p95: float
    since: datetime


class OpenAIFile(View):
    # A file of OpenAI's `/v1/files`, in OpenAI's shape (created_at in Unix seconds).

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None
