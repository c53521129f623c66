"""The API's request and answer bodies (docs/api.md), one module per resource. Services hand
routes read models; these modules only say how they look as JSON, and never query."""

from aicc.api.schemas.common import ERRORS, Body, Error, Name, Page, Problem, document_errors
from aicc.api.schemas.datasets import (
    CleanIn,
    CommitIn,
    DatasetIn,
    DatasetPatch,
    QueryIn,
    UploadIn,
)
from aicc.api.schemas.deployments import (
    AdapterIn,
    DeploymentIn,
    DeploymentPatch,
    ScaleIn,
)
from aicc.api.schemas.estimate import EstimateIn
from aicc.api.schemas.keys import ApiKeyIn
from aicc.api.schemas.models import (
    ModelPatch,
    PredictIn,
    PublishIn,
    RegisterIn,
    ReviewIn,
    RunIn,
    StageIn,
)
from aicc.api.schemas.notebooks import NotebookIn
from aicc.api.schemas.secrets import SecretIn
from aicc.api.schemas.system import Health
from aicc.api.schemas.tenancy import (
    MAX_QUEUE_JOBS,
    MAX_QUEUE_RUNTIME_S,
    MemberIn,
    OrgIn,
    OrgUpdate,
    PasswordIn,
    ProjectIn,
    QueueIn,
    UserIn,
    UserPatch,
)
from aicc.api.schemas.tokens import S3KeyIn, TokenIn

__all__ = [
    "ERRORS",
    "MAX_QUEUE_JOBS",
    "MAX_QUEUE_RUNTIME_S",
    "AdapterIn",
    "ApiKeyIn",
    "Body",
    "CleanIn",
    "CommitIn",
    "DatasetIn",
    "DatasetPatch",
    "DeploymentIn",
    "DeploymentPatch",
    "Error",
    "EstimateIn",
    "Health",
    "MemberIn",
    "ModelPatch",
    "Name",
    "NotebookIn",
    "OrgIn",
    "OrgUpdate",
    "Page",
    "PasswordIn",
    "PredictIn",
    "Problem",
    "ProjectIn",
    "PublishIn",
    "QueryIn",
    "QueueIn",
    "RegisterIn",
    "ReviewIn",
    "RunIn",
    "S3KeyIn",
    "ScaleIn",
    "SecretIn",
    "StageIn",
    "TokenIn",
    "UploadIn",
    "UserIn",
    "UserPatch",
    "document_errors",
]
