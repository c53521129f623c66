"""The serving context's read models: what its services return, the API answers as is, the
portal shows and the SDK parses (`client.deployments.get(name)` is a `Deployment`).

One class per resource view, pydantic and the base `View` (`services.common`) only (no store, no
other context), so the SDK imports it cheaply. Field order is the REST answer's: a view dumped with
`model_dump(mode="json")` is the API's JSON byte for byte. Frozen: a view read from a session stays
as it was read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from aicc.services.common import View

# A deployment's states (core/states.py `DeploymentState`, which says who follows whom).
State = Literal["pending", "ready", "updating", "failed", "stopped"]


class DeploymentReplica(View):
    # One replica job of a deployment, as its readers see it.

    job_id: str
    revision: int
    state: str  # the job's ("gone" once its job is)
    ready: bool
    draining: bool
    # Where the server reaches it: `socket` (sandboxed on this machine: a Unix socket in its run
    # directory, no TCP port at all, so no `url`), `tcp` (at `url`), None before it has one.
    # Clients call it through the gateway either way.
    url: str | None  # null when it is reached through a Unix socket
    reached_via: Literal["socket", "tcp"] | None


class Deployment(View):
    # A deployment at its current revision, with its replicas.

    id: str
    name: str
    project: str  # ORG/PROJECT
    project_id: str
    model: str | None  # ORG/PROJECT/NAME@N, or None for a command
    command: str | None  # the user's command (None for a model)
    workdir_sha256: str | None
    # the image its replicas run in, as the center registry names it (None: the node's own)
    image: str | None = None
    engine: str
    resources: dict[str, Any]
    env: dict[str, str]
    readiness_path: str
    revision: int
    min_replicas: int
    max_replicas: int
    desired: int
    target_concurrency: float | None
    state: State
    message: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    replicas: list[DeploymentReplica]


class DeploymentAdapter(View):
    # A LoRA adapter a deployment serves over its base (docs/deployments.md, "Adapters").

    deployment: str
    name: str  # called as `DEPLOYMENT:NAME`
    alias: str | None  # or as this alone, within the project
    model: str  # the adapter's model version, ORG/PROJECT/NAME@N
    base: str  # its adapter_config.json's base_model_name_or_path
    bytes: int
    created_by: str
    created_at: datetime


class DeploymentRevision(View):
    # One kept revision of a deployment's replica spec.

    revision: int
    model: str | None
    command: str | None
    image: str | None = None
    engine: str
    created_by: str
    created_at: datetime


class ApiKey(View):
    # A key as its project sees it: never its secret's digest; its secret only in the answer
    # that creates it. `deployments` None: all of the project's.

    id: str
    project_id: str
    name: str
    deployments: list[str] | None
    rpm: int | None
    tokens_per_month: int | None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    tier: int = Field(2, description="service tier: 1 served first when replicas are busy .. 3")
    secret: str | None = Field(None, description="only in the answer that creates the key")


class GatewayRequest(View):
    # A request through the gateway, as the project's members read the log.

    id: str
    at: datetime
    deployment: str
    key: str
    route: str
    status: int
    stream: bool
    billable: bool
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    attempts: int
    replica: str | None
    adapter: str | None = None  # the LoRA adapter asked for (`model: "BASE:NAME"`)
    tier: int = 2


class OpenAIBatchCounts(View):
    total: int
    completed: int
    failed: int


class OpenAIBatch(View):
    # A batch of OpenAI's `/v1/batches`, in OpenAI's shape (times in Unix seconds).

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: dict[str, Any] | None
    input_file_id: str
    completion_window: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    request_counts: OpenAIBatchCounts
    metadata: dict[str, str] | None
