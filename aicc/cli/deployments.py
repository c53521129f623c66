"""`aicc deploy ...`: model APIs (or commands listening on `$PORT`) kept running as replicas
(docs/deployments.md)."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import CREATED, PROJECT, Json, Noun, ProjectOption
from aicc.cli.output import Column, col, env_pairs

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.serving.views import Deployment, DeploymentAdapter

app = typer.Typer(help="Deployments: model APIs kept running.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="Deployment name.")]
#: What the commands on one deployment take: its name and its project.
BY_NAME = {"name": Name, "project": ProjectOption}


def _ready(row: Json) -> str:
    ready = sum(1 for r in row.get("replicas") or [] if r.get("ready"))
    return f"{ready}/{row.get('desired', 0)}"


def _serves(row: Json) -> str:
    return str(row.get("model") or row.get("command") or "")


DEPLOYMENTS = Noun(
    "deployment",
    [
        col("NAME", "name"),
        col("STATE", "state"),
        Column("READY", _ready),
        col("REVISION", "revision"),
        Column("SERVES", _serves),
        PROJECT,
        CREATED,
    ],
    empty="no deployments; `aicc deploy create NAME --model REF` makes one",
    fields=[
        col("NAME", "name"),
        col("ID", "id"),
        col("STATE", "state"),
        col("MESSAGE", "message"),
        Column("READY", _ready),
        col("REVISION", "revision"),
        col("MODEL", "model"),
        col("COMMAND", "command"),
        col("IMAGE", "image"),
        col("ENGINE", "engine"),
        Column("REPLICAS", lambda r: f"min {r.get('min_replicas')}, max {r.get('max_replicas')}"),
        Column(
            "JOBS",
            lambda r: ", ".join(
                f"{x['job_id']} (r{x['revision']}, {x['state']}{', ready' if x['ready'] else ''})"
                for x in r.get("replicas") or []
            ),
        ),
        PROJECT,
        CREATED,
    ],
    sdk="deployments",
)

Model = Annotated[str | None, typer.Option("--model", help="Model version: NAME@N, or NAME.")]
Command = Annotated[
    str | None, typer.Option("--command", help="Instead of a model: a command serving on $PORT.")
]
Cpu = Annotated[str | None, typer.Option("--cpu", help="CPU per replica, e.g. 2 or 500m.")]
Memory = Annotated[str | None, typer.Option("--memory", help="Memory per replica, e.g. 8Gi.")]
Gpus = Annotated[
    float | None, typer.Option("--gpus", help="Accelerators per replica (0.5: half of one).")
]
Env = Annotated[
    list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE for the replicas; repeat.")
]
Engine = Annotated[
    str | None, typer.Option("--engine", help="auto, transformers, predict or vllm.")
]
Image = Annotated[
    str | None,
    typer.Option(
        "--image", help="What the replicas run in: NAME:TAG of the project's images (`aicc image`)."
    ),
]


def _resources(cpu: str | None, memory: str | None, gpus: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cpu is not None:
        out["cpu"] = cpu
    if memory is not None:
        out["memory"] = memory
    if gpus is not None:
        out["gpus"] = int(gpus) if float(gpus).is_integer() else gpus
    return out


Target = Annotated[
    float | None,
    typer.Option(
        "--target",
        help="Requests in flight per replica the autoscaler aims for (default: the center's).",
    ),
]


@DEPLOYMENTS.create(app)
def deploy_create(
    api: "Client",
    name: Name,
    model: Model = None,
    command: Command = None,
    min_replicas: Annotated[int, typer.Option("--min-replicas", help="Never fewer.")] = 1,
    max_replicas: Annotated[int, typer.Option("--max-replicas", help="Never more.")] = 1,
    cpu: Cpu = None,
    memory: Memory = None,
    gpus: Gpus = None,
    env: Env = None,
    engine: Engine = None,
    readiness_path: Annotated[
        str, typer.Option("--readiness-path", help="Answers 2xx when a replica is ready.")
    ] = "/health",
    target: Target = None,
    image: Image = None,
    project: ProjectOption = None,
) -> "Deployment":
    """Deploy a model version (or a command); its replicas start at once. With
    --min-replicas 0 it scales to zero when idle, and its next request starts one."""
    return api.deployments.create(
        name,
        model=model,
        command=command,
        **({"image": image} if image is not None else {}),  # an older SDK takes none
        project=project,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        resources=_resources(cpu, memory, gpus),
        engine=engine or "auto",
        env=env_pairs(env),
        readiness_path=readiness_path,
        target_concurrency=target,
    )


DEPLOYMENTS.list(app)(DEPLOYMENTS.call("list", "A project's deployments.", project=ProjectOption))
DEPLOYMENTS.get(app)(
    DEPLOYMENTS.call("get", "A deployment, its state and its replicas.", **BY_NAME)
)


@DEPLOYMENTS.action(app, "update", "updated deployment")
def deploy_update(
    api: "Client",
    name: Name,
    model: Model = None,
    command: Command = None,
    cpu: Cpu = None,
    memory: Memory = None,
    gpus: Gpus = None,
    env: Env = None,
    engine: Engine = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Run the replicas in this image; '' for the node's own."),
    ] = None,
    project: ProjectOption = None,
) -> "Deployment":
    """A new revision (a new model version, resources, env, image...), rolled out one replica
    at a time."""
    changes: dict[str, Any] = {"model": model, "command": command, "engine": engine}
    changes["image"] = image
    resources = _resources(cpu, memory, gpus)
    if resources:
        current = api.deployments.get(name, project=project)
        changes["resources"] = {**current.resources, **resources}
    changes["env"] = env_pairs(env)
    return api.deployments.update(name, project=project, **changes)


DEPLOYMENTS.action(app, "rollback", "rolling back deployment")(
    DEPLOYMENTS.call(
        "rollback", "Back to the revision before the current one (as a new revision).", **BY_NAME
    )
)


@DEPLOYMENTS.action(app, "scale", "scaled deployment")
def deploy_scale(
    api: "Client",
    name: Name,
    min_replicas: Annotated[int | None, typer.Option("--min", help="Never fewer.")] = None,
    max_replicas: Annotated[int | None, typer.Option("--max", help="Never more.")] = None,
    target: Target = None,
    project: ProjectOption = None,
) -> "Deployment":
    """New bounds for the number of replicas (and the autoscaler's target per replica)."""
    return api.deployments.scale(
        name,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_concurrency=target,
        project=project,
    )


DEPLOYMENTS.action(app, "stop", "stopped deployment")(
    DEPLOYMENTS.call("stop", "Stop every replica until `start`.", **BY_NAME)
)
DEPLOYMENTS.action(app, "start", "started deployment")(
    DEPLOYMENTS.call("start", "Start a stopped (or failed) deployment again.", **BY_NAME)
)
DEPLOYMENTS.delete(app, "rm")(
    DEPLOYMENTS.call("delete", "Stop its replicas and delete the deployment.", **BY_NAME)
)


ADAPTERS = Noun(
    "adapter",
    [
        col("NAME", "name"),
        Column("ALIAS", lambda r: str(r.get("alias") or "")),
        col("MODEL", "model"),
        col("BASE", "base"),
        col("BYTES", "bytes"),
        CREATED,
    ],
    empty="no adapters; `aicc deploy attach NAME MODEL` serves one",
    sdk="deployments",
)
DEPLOYMENT_ADAPTERS = Noun(
    "adapter", ADAPTERS.columns, fields=[col("DEPLOYMENT", "deployment"), *ADAPTERS.columns]
)

ADAPTERS.list(app, "adapters")(
    ADAPTERS.call(
        "adapters", "The LoRA adapters a deployment serves (call DEPLOYMENT:NAME).", **BY_NAME
    )
)


@DEPLOYMENT_ADAPTERS.create(app, "attach", "attached adapter")
def deploy_attach(
    api: "Client",
    name: Name,
    model: Annotated[str, typer.Argument(help="The adapter's model version: NAME@N, or NAME.")],
    adapter: Annotated[
        str | None, typer.Option("--as", help="Its name after the ':' (default: the model's).")
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", help="A model name for it alone, without a ':'.")
    ] = None,
    project: ProjectOption = None,
) -> "DeploymentAdapter":
    """Serve a LoRA adapter over the deployment's model, as NAME:ADAPTER (and --alias);
    running replicas get it on its first request."""
    return api.deployments.attach(name, model, adapter=adapter, alias=alias, project=project)


ADAPTERS.delete(app, "detach", "adapter {} detached")(
    ADAPTERS.call(
        "detach",
        "Stop serving an adapter on the deployment.",
        name=Name,
        adapter=Annotated[str, typer.Argument(help="The adapter's name on the deployment.")],
        project=ProjectOption,
    )
)
