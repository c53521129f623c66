"""`aicc queue ...`: a project's lanes for jobs."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import PROJECT, Noun, ProjectOption
from aicc.cli.output import Column, col, duration_text

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.jobs.views import ProjectSlowdown
    from aicc.services.tenancy.views import Queue

app = typer.Typer(help="Queues: a project's lanes for jobs.", no_args_is_help=True)


def _max_runtime(queue: dict[str, Any]) -> str | None:
    return duration_text(queue.get("max_runtime_s", queue.get("max_runtime")))


QUEUES = Noun(
    "queue",
    [
        col("NAME", "name"),
        PROJECT,
        col("PRIORITY", "priority", justify="right"),
        Column("MAX RUNTIME", _max_runtime),
        col("MAX PENDING", "max_pending", justify="right"),
        col("MAX RUNNING", "max_running", justify="right"),
        col("MAX REPLICAS", "max_replicas_per_job", justify="right"),
    ],
    empty="no queues",
    sdk="queues",
)


QUEUES.list(app)(QUEUES.call("list", "Queues of a project.", project=ProjectOption))


@QUEUES.create(app)
def queue_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Queue name, unique in its project.")],
    project: ProjectOption = None,
    priority: Annotated[
        str | None, typer.Option(help="Default priority: low | normal | high | an integer.")
    ] = None,
    max_runtime: Annotated[
        str | None, typer.Option(help="Longest runtime a job may declare, e.g. 2h.")
    ] = None,
    max_pending: Annotated[int | None, typer.Option(min=0, help="Most waiting jobs.")] = None,
    max_running: Annotated[int | None, typer.Option(min=0, help="Most running jobs.")] = None,
    max_replicas_per_job: Annotated[
        int | None,
        typer.Option(
            min=1, help="Most replicas one job may ask (at most the center's bound; unset: it)."
        ),
    ] = None,
) -> "Queue":
    """Create a queue (org admins)."""
    from aicc.core.jobspec import PRIORITIES
    from aicc.core.units import parse_duration_s

    level: int | None = None
    if priority is not None:
        if priority in PRIORITIES:
            level = PRIORITIES[priority]
        elif priority.lstrip("-").isdigit():
            level = int(priority)
        else:
            raise ValueError(f"--priority {priority!r} must be low, normal, high or an integer")
    seconds = parse_duration_s(max_runtime) if max_runtime is not None else None
    return api.queues.create(
        name,
        project,
        priority=level,
        max_runtime=seconds,
        max_pending=max_pending,
        max_running=max_running,
        max_replicas_per_job=max_replicas_per_job,
    )


SLOWDOWN = Noun(
    "slowdown",
    [
        col("PROJECT", "project"),
        col("JOBS", "jobs", justify="right"),
        col("MEAN", "mean", lambda v: f"{v:.2f}", justify="right"),
        col("P95", "p95", lambda v: f"{v:.2f}", justify="right"),
    ],
    empty="no job finished in the window",
)


@SLOWDOWN.list(app, name="slowdown")
def queue_slowdown(
    api: "Client",
    project: ProjectOption = None,
    window: Annotated[
        str, typer.Option(help="How far back finished jobs count, e.g. 7d, 24h.")
    ] = "7d",
) -> "list[ProjectSlowdown]":
    """Per project, the mean and p95 slowdown, (wait + run) / run, of the jobs that finished
    in the window, most slowed down first: whether waiting treats tenants alike."""
    from aicc.core.units import parse_duration_s

    return api.queues.slowdown(project=project, window_s=parse_duration_s(window))
