"""The API's request and answer bodies (docs/api.md), one module per resource. Services hand
routes read models; these modules only say how they look as JSON, and never query."""

from aicc.api.schemas.audit import AuditEntry
from aicc.api.schemas.common import ERRORS, Body, Error, Name, Page, Problem, document_errors
from aicc.api.schemas.estimate import Estimate, EstimateIn
from aicc.api.schemas.jobs import (
    Event,
    Explain,
    ExplainReason,
    Job,
    Replica,
    ReplicaDevice,
    job_out,
)
from aicc.api.schemas.nodes import (
    Accelerator,
    Allocated,
    DeviceOut,
    MigSliceOut,
    Node,
    node_out,
)
from aicc.api.schemas.secrets import Secret, SecretIn
from aicc.api.schemas.system import Health
from aicc.api.schemas.tenancy import (
    MAX_QUEUE_JOBS,
    MAX_QUEUE_RUNTIME_S,
    Me,
    MemberIn,
    Org,
    OrgIn,
    Project,
    ProjectIn,
    Queue,
    QueueIn,
    QuotaOut,
    User,
    UserIn,
    UserPatch,
)
from aicc.api.schemas.tokens import Token, TokenIn
from aicc.api.schemas.workdirs import Workdir

__all__ = [
    "ERRORS",
    "MAX_QUEUE_JOBS",
    "MAX_QUEUE_RUNTIME_S",
    "Accelerator",
    "Allocated",
    "AuditEntry",
    "Body",
    "DeviceOut",
    "Error",
    "Estimate",
    "EstimateIn",
    "Event",
    "Explain",
    "ExplainReason",
    "Health",
    "Job",
    "Me",
    "MemberIn",
    "MigSliceOut",
    "Name",
    "Node",
    "Org",
    "OrgIn",
    "Page",
    "Problem",
    "Project",
    "ProjectIn",
    "Queue",
    "QueueIn",
    "QuotaOut",
    "Replica",
    "ReplicaDevice",
    "Secret",
    "SecretIn",
    "Token",
    "TokenIn",
    "User",
    "UserIn",
    "UserPatch",
    "Workdir",
    "document_errors",
    "job_out",
    "node_out",
]
