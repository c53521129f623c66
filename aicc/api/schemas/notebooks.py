"""A new notebook (`services.jobs.notebooks`); what notebooks answer is
`services.jobs.views.Notebook`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aicc.api.schemas.common import Body, Name
from aicc.core.jobspec import NAME_PATTERN, Resources
from aicc.core.text import LINE
from aicc.services.jobs.notebooks import MAX_IDLE_TIMEOUT_S


class NotebookIn(Body):
    """A new notebook. `resources` as a job spec's (`cpu`, `memory`, `gpu`); `datasets`: the
    project's data sets to mount by name (left out: all of them); started unless `start` is
    false. `image`: what it runs in, which must hold JupyterLab (a job spec's `image:`; left
    out: the node's own Python)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN), LINE]
    project: Annotated[str | None, Field(max_length=200)] = None
    resources: Resources = Field(default_factory=Resources)
    idle_timeout_s: Annotated[int | None, Field(ge=1, le=MAX_IDLE_TIMEOUT_S)] = None
    datasets: Annotated[list[Name] | None, Field(max_length=64)] = None
    start: bool = True
    image: Annotated[str | None, Field(min_length=1, max_length=512), LINE] = None
