"""The API's request and answer bodies (docs/api.md). Converters from store rows live here too,
so routes stay one call to a service and one conversion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from aicc.core.tenancy import Role
from aicc.services import jobs as jobs_service
from aicc.services import nodes as nodes_service
from aicc.store import tables

T = TypeVar("T")
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors ---


class Error(BaseModel):
    """Every error answer: a sentence saying what to fix, or FastAPI's list naming the fields
    (`loc`, `msg`, `type`)."""

    detail: str | list[dict[str, Any]]


# Documented on every API route, so a client (and the fuzzer, tests/api/test_fuzz.py) knows each
# status it may get; any other is a bug. Spelled out as JSON: FastAPI would give `model` the media
# type of a plain-text route, but its errors are JSON too.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": Error.model_json_schema()}},
    }
    for status, description in {
        400: "The request cannot be done as asked",
        401: "Missing, invalid, expired or revoked bearer token",
        403: "Your own tenant's object, but your role may not do this",
        404: "No such object, or another tenant's",
        409: "Conflicts with the object's current state",
        413: "The request or an upload is too large",
        422: "Invalid input: `detail` names the field",
        429: "Too many requests, or over a quota",
    }.items()
}


# --- tenancy ---


class OrgIn(Body):
    name: Name
    display_name: Annotated[str | None, Field(max_length=200)] = None


class QuotaOut(BaseModel):
    guaranteed: dict[str, float] = Field(default_factory=dict)
    max: dict[str, float] = Field(default_factory=dict)


class Org(BaseModel):
    id: str
    name: str
    display_name: str
    quota: QuotaOut = Field(default_factory=QuotaOut)
    created_at: datetime


class ProjectIn(Body):
    name: Name
    org_id: str | None = None


class Project(BaseModel):
    id: str
    org_id: str
    name: str
    quota: QuotaOut = Field(default_factory=QuotaOut)
    created_at: datetime


class MemberIn(Body):
    user_id: str


class UserIn(Body):
    name: Name
    role: Role = Role.MEMBER
    org_id: str | None = None
    projects: list[str] | None = None
    password: Annotated[str | None, Field(min_length=8, max_length=200)] = None
    email: Annotated[str | None, Field(max_length=200)] = None


class UserPatch(Body):
    """What `PATCH /users/{id}` may change: whether the user is disabled."""

    disabled: StrictBool


class User(BaseModel):
    id: str
    name: str
    org_id: str
    role: str
    email: str | None
    language: str
    default_project_id: str | None
    disabled: bool
    created_at: datetime


class Me(BaseModel):
    user: User
    org: Org
    projects: list[Project]


class TokenIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None
    user_id: str | None = None


class Token(BaseModel):
    id: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    secret: str | None = Field(None, description="only in the answer that creates the token")


MAX_QUEUE_JOBS = 1_000_000  # a lane's max_pending and max_running
MAX_QUEUE_RUNTIME_S = 3650 * 86400  # ten years; the column holds 32 bits


class QueueIn(Body):
    name: Name
    project: Annotated[str | None, Field(max_length=100)] = None
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 100
    max_runtime: Annotated[str, Field(max_length=100)] | int | None = None
    max_pending: Annotated[int | None, Field(ge=1, le=MAX_QUEUE_JOBS)] = None
    max_running: Annotated[int | None, Field(ge=1, le=MAX_QUEUE_JOBS)] = None


class Queue(BaseModel):
    id: str
    project_id: str
    name: str
    priority: int
    max_runtime_s: int | None
    max_pending: int | None
    max_running: int | None


class SecretIn(Body):
    value: Annotated[str, Field(min_length=1, max_length=64 * 1024)]


class Secret(BaseModel):
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime


# --- nodes ---


class MigSliceOut(BaseModel):
    index: int
    profile: str
    uuid: str | None = None
    allocated: bool


class DeviceOut(BaseModel):
    index: int
    model: str
    memory_mib: int
    uuid: str | None
    simulated: bool
    healthy: bool
    allocated_milli: int
    mig: list[MigSliceOut] = Field(default_factory=list)  # empty unless the GPU is in MIG mode


class Allocated(BaseModel):
    cpu_milli: int
    memory_mib: int
    accelerator_milli: int


class Node(BaseModel):
    id: str
    name: str
    executor: str
    state: str
    state_reason: str
    labels: dict[str, str]
    cpu_milli: int
    memory_mib: int
    allocated: Allocated
    devices: list[DeviceOut]
    simulated: bool
    heartbeat_at: datetime | None


def node_out(session: Session, rows: list[tables.NodeRow]) -> list[Node]:
    used = nodes_service.allocations(session)
    devices = nodes_service.devices_of(session, [r.id for r in rows])
    out = []
    for row in rows:
        alloc = used.get(row.id, nodes_service.Allocation())
        devs = [
            DeviceOut(
                index=d.index,
                model=d.model,
                memory_mib=d.memory_mib,
                uuid=d.uuid,
                simulated=d.simulated,
                healthy=d.healthy,
                allocated_milli=alloc.device_milli.get(d.index, 0),
                mig=[
                    MigSliceOut(**s, allocated=s["index"] in alloc.mig_slices[d.index])
                    for s in d.mig or ()
                ],
            )
            for d in devices.get(row.id, [])
        ]
        out.append(
            Node(
                id=row.id,
                name=row.name,
                executor=row.executor,
                state=row.state,
                state_reason=row.state_reason,
                labels=dict(row.labels),
                cpu_milli=row.cpu_milli,
                memory_mib=row.memory_mib,
                allocated=Allocated(
                    cpu_milli=alloc.cpu_milli,
                    memory_mib=alloc.memory_mib,
                    accelerator_milli=sum(alloc.device_milli.values()),
                ),
                devices=devs,
                simulated=bool(devs) and all(d.simulated for d in devs),
                heartbeat_at=row.heartbeat_at,
            )
        )
    return out


# --- jobs ---


class ReplicaDevice(BaseModel):
    index: int
    milli: int
    model: str | None = None
    memory_mib: int | None = None
    mig_slice: int | None = None  # the MIG slice of the device this replica holds


class Replica(BaseModel):
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


class Job(BaseModel):
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
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    replicas: list[Replica]


def job_out(session: Session, job: tables.JobRow) -> Job:
    user = session.get(tables.UserRow, job.user_id)
    replicas = []
    for rep in jobs_service.replicas(session, job):
        node = session.get(tables.NodeRow, rep.node_id)
        models = {
            d.index: d.model
            for d in nodes_service.devices_of(session, [rep.node_id]).get(rep.node_id, [])
        }
        replicas.append(
            Replica(
                index=rep.index,
                attempt=rep.attempt,
                node=node.name if node else rep.node_id,
                devices=[ReplicaDevice(**d, model=models.get(d["index"])) for d in rep.devices],
                state=rep.state,
                exit_code=rep.exit_code,
                reason=rep.reason,
                started_at=rep.started_at,
                ended_at=rep.ended_at,
                peak_rss_mib=rep.peak_rss_mib,
            )
        )
    return Job(
        id=job.id,
        name=job.name,
        org_id=job.org_id,
        project_id=job.project_id,
        project=job.spec.get("project") or "",
        queue=job.spec.get("queue") or "",
        user=user.name if user else job.user_id,
        kind=job.kind,
        state=job.state,
        reason=job.reason,
        message=job.message,
        attempt=job.attempt,
        exit_code=job.exit_code,
        priority=job.priority,
        cancel_requested=job.cancel_requested,
        spec=job.spec,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        replicas=replicas,
    )


class Event(BaseModel):
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


class ExplainReason(BaseModel):
    code: str
    message: str


class Explain(BaseModel):
    state: str
    reasons: list[ExplainReason]
    position: int | None
    estimated_start: datetime | None = Field(
        None, description="null until the scheduler can forecast (issue 3: what-if runs)"
    )


class AuditEntry(BaseModel):
    id: int
    at: datetime
    user_id: str | None
    user_name: str
    org_id: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


class Workdir(BaseModel):
    sha256: str
    size: int


class Health(BaseModel):
    status: str
    version: str
    database: str
    leader: bool
