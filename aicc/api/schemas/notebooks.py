"""Notebooks (`services.notebooks`): a person's JupyterLab in a project."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from aicc.api.schemas.common import Body, Name
from aicc.core.jobspec import NAME_PATTERN, Resources
from aicc.services.jobs.notebooks import MAX_IDLE_TIMEOUT_S


class Notebook(BaseModel):
    id: str
    name: str
    project_id: str
    project: str
    user: str
    resources: dict[str, Any]
    idle_timeout_s: int
    datasets: list[str] | None  # None: every data set of the project
    state: Literal["stopped", "starting", "running", "culled", "failed"]
    reason: str
    message: str
    job_id: str | None
    url: str | None  # `/notebooks/JOB/lab` on this server while it runs
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    culled_at: datetime | None  # when an idle one was stopped (state `culled`)


class NotebookIn(Body):
    """A new notebook. `resources` as a job spec's (`cpu`, `memory`, `gpu`); `datasets`: the
    project's data sets to mount by name (left out: all of them); started unless `start` is
    false."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    project: Annotated[str | None, Field(max_length=200)] = None
    resources: Resources = Field(default_factory=Resources)
    idle_timeout_s: Annotated[int | None, Field(ge=1, le=MAX_IDLE_TIMEOUT_S)] = None
    datasets: Annotated[list[Name] | None, Field(max_length=64)] = None
    start: bool = True
