"""`aicc notebook ...`: your JupyterLab in a project (docs/notebooks.md). `open` prints the
address to open in a browser signed in to the portal."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import CREATED, PROJECT, Noun, ProjectOption
from aicc.cli.output import JsonFlag, client, col, fail, handle_errors, local_time, print_json
from aicc.core.units import parse_duration_s

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.jobs.views import Notebook

app = typer.Typer(help="Notebooks: your JupyterLab, run as a job.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The notebook's name (or id).")]
#: What the commands on one notebook take: its name and its project.
BY_NAME = {"name": NameArg, "project": ProjectOption}


def _resources(row: Any) -> str | None:
    if not isinstance(row, dict):
        return None
    cpu = row.get("cpu_milli", 0) / 1000
    memory = row.get("memory_mib", 0) / 1024
    gpus = (row.get("accelerator") or {}).get("count") or 0
    return f"{cpu:g} CPU, {memory:g} GiB" + (f", {gpus} GPU" if gpus else "")


NOTEBOOKS = Noun(
    "notebook",
    [
        col("NAME", "name"),
        PROJECT,
        col("STATE", "state"),
        col("RESOURCES", "resources", _resources),
        col("IDLE TIMEOUT", "idle_timeout_s", lambda s: f"{s}s"),
        col("URL", "url"),
        col("STARTED", "started_at", local_time),
    ],
    empty="no notebooks; `aicc notebook create NAME` makes one",
    fields=[
        col("NAME", "name"),
        col("ID", "id"),
        PROJECT,
        col("STATE", "state"),
        col("REASON", "reason"),
        col("MESSAGE", "message"),
        col("JOB", "job_id"),
        col("URL", "url"),
        col("RESOURCES", "resources", _resources),
        col("IDLE TIMEOUT", "idle_timeout_s", lambda s: f"{s}s"),
        col(
            "DATA SETS", "datasets", lambda d: "all of the project's" if d is None else ", ".join(d)
        ),
        CREATED,
        col("STARTED", "started_at", local_time),
        col("ENDED", "ended_at", local_time),
    ],
    sdk="notebooks",
)


NOTEBOOKS.list(app)(NOTEBOOKS.call("list", "Your notebooks.", project=ProjectOption))
NOTEBOOKS.get(app)(
    NOTEBOOKS.call("get", "One notebook: its state, why, and where to open it.", **BY_NAME)
)


@NOTEBOOKS.create(app, done="created and starting notebook")
def notebook_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and dashes.")],
    project: ProjectOption = None,
    cpu: Annotated[str | None, typer.Option(help="CPU cores (`2`, `500m`); default 1.")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory (`8Gi`); default 2Gi.")] = None,
    gpus: Annotated[int | None, typer.Option(help="Whole GPUs; default 0.", min=0)] = None,
    idle_timeout: Annotated[
        str | None,
        typer.Option(help="Stopped after this long idle (`30m`, `2h`); default the server's."),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", help="A data set to mount (repeat); default all the project's."),
    ] = None,
    no_start: Annotated[bool, typer.Option("--no-start", help="Create it stopped.")] = False,
    image: Annotated[
        str | None,
        typer.Option(help="Run it in this image (NAME:TAG of the project's), with JupyterLab."),
    ] = None,
) -> "Notebook":
    """Create a notebook and start it."""
    resources: dict[str, Any] = {}
    for key, value in (("cpu", cpu), ("memory", memory), ("gpu", gpus)):
        if value is not None:
            resources[key] = value
    timeout = None
    if idle_timeout is not None:
        try:
            timeout = parse_duration_s(idle_timeout)
        except ValueError as err:
            fail(f"--idle-timeout: {err}")
    return api.notebooks.create(
        name,
        project=project,
        resources=resources or None,
        idle_timeout_s=timeout,
        datasets=data or None,
        start=not no_start,
        **_image(image),
    )


def _image(image: str | None) -> dict[str, Any]:
    """`image=` for the SDK only when given: an SDK without the argument still creates
    notebooks without one."""
    return {"image": image} if image is not None else {}


NOTEBOOKS.action(app, "start", "starting notebook")(
    NOTEBOOKS.call("start", "Start it again, with the same files in its home.", **BY_NAME)
)
NOTEBOOKS.action(app, "stop", "stopping notebook")(
    NOTEBOOKS.call("stop", "Stop it; the files in its home stay.", **BY_NAME)
)
NOTEBOOKS.delete(app, "rm", done="notebook {} deleted; the files in its home stay")(
    NOTEBOOKS.call("delete", "Stop and delete a notebook.", **BY_NAME)
)


@app.command("open")
@handle_errors
def notebook_open(name: NameArg, project: ProjectOption = None, json: JsonFlag = False) -> None:
    """Print the address to open in a browser signed in to the portal."""
    with client() as api:
        found = api.notebooks.get(name, project=project).model_dump(mode="json")
        url = api.notebooks.url(name, project=project)
    if json:
        print_json({**found, "url": url})
        return
    if url is None:
        fail(
            f"notebook {name} is {found['state']}, not running",
            f"`aicc notebook start {name}` starts it",
        )
    typer.echo(url)
