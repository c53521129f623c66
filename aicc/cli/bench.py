"""`aicc bench`: the benchmarks people quote, run as users run them."""

from __future__ import annotations

from typing import Annotated

import typer

from aicc.cli.output import handle_errors, print_json

app = typer.Typer(help="Benchmarks (figures go to BENCHMARKS.md).", no_args_is_help=True)


@app.command("scheduler")
@handle_errors
def scheduler(
    nodes: Annotated[int, typer.Option(min=1, help="Nodes in the simulated center.")] = 10_000,
    gpus_per_node: Annotated[int, typer.Option(min=1, help="GPUs per node.")] = 8,
    pending: Annotated[int, typer.Option(min=1, help="Waiting jobs (the issue's mix).")] = 100_000,
    projects: Annotated[int, typer.Option(min=1, help="Projects the jobs belong to.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 42,
    policy: Annotated[str, typer.Option(help="Scheduler profile.")] = "default",
    steady: Annotated[bool, typer.Option(help="Time a cycle over a full center.")] = False,
    warm: Annotated[
        bool, typer.Option(help="Run a small cycle first, as a live server has (imports paid).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time one scheduling cycle: decisions per second and peak memory."""
    from rich.console import Console

    from aicc.bench.scheduler import Settings, run

    with Console(stderr=True).status("scheduling one cycle..."):
        result = run(Settings(nodes, gpus_per_node, pending, projects, seed, policy, steady, warm))
    if as_json:
        print_json(result)
        return
    for key in ("bound", "waiting", "decisions_per_s", "schedule_s", "peak_rss_mib"):
        typer.echo(f"{key:>18}  {result[key]}")
