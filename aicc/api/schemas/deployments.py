"""What clients send to deployments (`services/serving/deployments.py`); what they get back is
`services/serving/views.py`'s."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from aicc.api.schemas.common import Body, Name
from aicc.core.text import LINE

Engine = Literal["auto", "transformers", "predict", "vllm"]
Replicas = Annotated[int, Field(ge=0, le=10_000)]
# requests in flight per replica the autoscaler aims for
Target = Annotated[float, Field(gt=0, le=10_000)]
Ref = Annotated[str, Field(min_length=1, max_length=300), LINE]
Command = Annotated[str, Field(min_length=1, max_length=16_384)]
# `NAME:TAG` of the project in the center registry, or `ORG/PROJECT/NAME:TAG` (a job's `image:`)
Image = Annotated[str, Field(min_length=1, max_length=512), LINE]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Path = Annotated[str, Field(pattern=r"^/[^\s]{0,254}$")]
Env = Annotated[dict[str, Annotated[str, Field(max_length=16_384)]], Field(max_length=256)]
Resources = Annotated[dict[str, Any], Field(max_length=8)]


class DeploymentIn(Body):
    """A model version (`model`: `NAME@N`, `NAME` for the latest) or a `command` listening on
    `$PORT`; `resources` per replica as a job spec's (`cpu`, `memory`, `gpus`, `accelerator`);
    `image`: what the replicas run in (left out: the node's own runtime)."""

    name: Name
    project: Annotated[str | None, Field(max_length=200)] = None
    model: Ref | None = None
    command: Command | None = None
    workdir_sha256: Sha256 | None = None
    image: Image | None = None
    min_replicas: Replicas = 1
    max_replicas: Replicas = 1
    resources: Resources = Field(default_factory=dict)
    engine: Engine = "auto"
    env: Env = Field(default_factory=dict)
    readiness_path: Path = "/health"
    target_concurrency: Target | None = None


class DeploymentPatch(Body):
    """What a new revision changes; fields left out keep their value (`image: ""`: back to
    the node's own runtime)."""

    model: Ref | None = None
    command: Command | None = None
    workdir_sha256: Sha256 | None = None
    image: Annotated[str, Field(max_length=512), LINE] | None = None
    resources: Resources | None = None
    engine: Engine | None = None
    env: Env | None = None
    readiness_path: Path | None = None


class ScaleIn(Body):
    min_replicas: Replicas | None = None
    max_replicas: Replicas | None = None
    target_concurrency: Target | None = None


class AdapterIn(Body):
    """A LoRA adapter's model version to serve on the deployment (`model`: `NAME@N`, `NAME` for
    the latest, `ORG/PROJECT/NAME@N` shared with you), called as `DEPLOYMENT:NAME` (`name`: the
    model's name when left out) and, with an `alias`, as that alone."""

    model: Ref
    name: Name | None = None
    alias: Name | None = None
