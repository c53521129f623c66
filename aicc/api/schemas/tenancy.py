"""What clients send about organizations, projects, users and queues; the answers are the
tenancy context's read models (aicc/services/tenancy/views.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool

from aicc.api.schemas.common import Body, Name
from aicc.core.jobspec import MAX_REPLICAS
from aicc.core.tenancy import OrgKind, Role
from aicc.core.text import LINE


class OrgIn(Body):
    name: Name
    display_name: Annotated[str | None, Field(max_length=200), LINE] = None
    kind: OrgKind = Field(
        default=OrgKind.OTHER, description="what kind of tenant, for the center's reports"
    )


class OrgUpdate(Body):
    """What a center admin may change of an organization (absent: unchanged)."""

    kind: OrgKind | None = None
    display_name: Annotated[str | None, Field(min_length=1, max_length=200), LINE] = None


class ProjectIn(Body):
    name: Name
    org_id: str | None = None


class MemberIn(Body):
    user_id: str


class UserIn(Body):
    name: Name
    role: Role = Role.MEMBER
    org_id: str | None = None
    projects: list[str] | None = None
    password: Annotated[str | None, Field(min_length=8, max_length=200)] = None
    email: Annotated[str | None, Field(max_length=200), LINE] = None


class PasswordIn(Body):
    """A user's new password; `old_password` is the one they have now, when it is their own."""

    password: Annotated[str, Field(min_length=8, max_length=200)]
    old_password: Annotated[str | None, Field(max_length=200)] = None


class UserPatch(Body):
    """What `PATCH /users/{id}` may change: whether the user is disabled."""

    disabled: StrictBool


MAX_QUEUE_JOBS = 1_000_000  # a lane's max_pending and max_running
MAX_QUEUE_RUNTIME_S = 3650 * 86400  # ten years; the column holds 32 bits


class QueueIn(Body):
    name: Name
    project: Annotated[str | None, Field(max_length=100)] = None
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 100
    max_runtime: Annotated[str, Field(max_length=100)] | int | None = None
    max_pending: Annotated[int | None, Field(ge=1, le=MAX_QUEUE_JOBS)] = None
    max_running: Annotated[int | None, Field(ge=1, le=MAX_QUEUE_JOBS)] = None
    # a gang's bound in this queue; unset: the center's limits.max_replicas_per_job (a submit
    # meets the smaller of the two)
    max_replicas_per_job: Annotated[int | None, Field(ge=1, le=MAX_REPLICAS)] = None
