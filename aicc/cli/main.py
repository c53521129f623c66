"""The `aicc` command: the Typer app, its top-level commands, and the noun groups it mounts.

Start-up stays fast: the server, the SDK's HTTP stack, YAML and pydantic are imported inside the
commands that need them, so `aicc --help` loads neither fastapi nor sqlalchemy.
"""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from aicc.cli import (
    backups,
    bench,
    billing,
    center,
    data,
    deployments,
    estimate,
    federation,
    images,
    jobs,
    keys,
    leases,
    maintenance,
    models,
    needs,
    nodes,
    notebooks,
    notify,
    queues,
    s3keys,
    secrets,
    sim,
    tenancy,
    tokens,
)
from aicc.cli.backups import DbOption, HomeOption
from aicc.cli.output import client, env_pairs, fail, handle_errors, print_json, status

app = typer.Typer(
    name="aicc",
    help="AICC: an operating system for AI computing centers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
)
spec_app = typer.Typer(help="The job spec.", no_args_is_help=True)

app.add_typer(jobs.app, name="job")
app.add_typer(nodes.app, name="node")
app.add_typer(tenancy.org_app, name="org")
app.add_typer(tenancy.project_app, name="project")
app.add_typer(tenancy.user_app, name="user")
app.add_typer(tokens.app, name="token")
app.add_typer(s3keys.app, name="s3-key")
app.add_typer(queues.app, name="queue")
app.add_typer(secrets.app, name="secret")
app.add_typer(images.app, name="image")
app.add_typer(keys.app, name="key")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="model")
app.add_typer(models.template_app, name="template")
app.add_typer(deployments.app, name="deploy")
app.add_typer(notebooks.app, name="notebook")
app.add_typer(notify.app, name="notify")  # the inbox and notification channels
app.add_typer(maintenance.app, name="maintenance")  # maintenance windows of nodes
app.add_typer(leases.app, name="lease")  # dedicated capacity
app.add_typer(needs.app, name="need")  # the catalog of needs (供需对接)
app.add_typer(needs.challenge_app, name="challenge")  # challenges on hidden sets (揭榜挂帅)
app.add_typer(center.accelerator_app, name="accelerator")
app.add_typer(center.center_app, name="center")
app.add_typer(federation.app, name="federation")
app.add_typer(spec_app, name="spec")
app.add_typer(billing.admin_app, name="admin")
billing.admin_app.command("backup")(backups.backup)
billing.admin_app.command("restore")(backups.restore)
app.add_typer(bench.app, name="bench")
app.add_typer(sim.app, name="sim")


def _print_version(value: bool) -> None:
    if value:
        from aicc import __version__

        typer.echo(f"aicc {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """AICC: accelerators, tenants, queues and jobs for an AI computing center.

    The server comes from AICC_SERVER, else the local server of $AICC_HOME (its server.url),
    else http://127.0.0.1:8080; the token from AICC_TOKEN, `aicc login`, or the local admin
    token.
    """


@app.command("serve")
@handle_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (default 8080).")
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    executor: Annotated[
        str | None, typer.Option(help="Where jobs run: local (default), slurm, ray or kubernetes.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(help="Scheduler profile: default, fifo, easy or spread (default: default)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Server processes sharing the port: one per core (default 1)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "info",
) -> None:
    """Run the AICC server: API, scheduler and portal (several processes with --workers).

    Flags override $AICC_HOME/config.yaml and AICC_* variables; unset ones leave them be.
    """
    try:
        from aicc.server import serve as run_server
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("aicc"):
            raise
        fail(f"the server is not available in this installation ({exc.name} is missing)")
    run_server(
        host=host,
        port=port,
        home=home,
        db_url=db,
        executor=executor,
        policy=policy,
        workers=workers,
        log_level=log_level,
    )


@app.command("login")
@handle_errors
def login(
    server: Annotated[
        str | None, typer.Option(help="Server URL (default $AICC_SERVER or local).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token; asked for (hidden) when not given.")
    ] = None,
) -> None:
    """Check a token against the server and save it in $AICC_HOME/credentials.json (0600)."""
    from aicc.sdk.client import ApiError, Client, is_local, resolve_server, save_token

    url = resolve_server(server)
    if token:
        secret = token
    elif sys.stdin.isatty():
        secret = typer.prompt(f"token for {url}", hide_input=True).strip()
    else:  # `echo $TOKEN | aicc login`
        secret = sys.stdin.readline().strip()
    if not secret:
        fail("no token given", "an admin creates one with `aicc token create NAME --user ID`")
    with Client(url, secret) as api:
        try:
            me = api.me()
        except ApiError as exc:
            if exc.status_code != 401:
                raise
            fail(f"{url} does not accept this token: {exc.detail}")
    path = save_token(url, secret)
    status(
        f"logged in to {escape(url)} as [bold]{escape(me.user.name)}[/bold] "
        f"({escape(me.user.role)}, org {escape(me.org.name)}); token saved in {escape(str(path))}"
    )
    if server and url != resolve_server(None) and not is_local(url):
        status(f"[dim]use it by default with: export AICC_SERVER={escape(url)}[/dim]")


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
@handle_errors
def run(
    command: Annotated[
        list[str], typer.Argument(help="The command; one argument runs under /bin/sh -c.")
    ],
    gpus: Annotated[int | None, typer.Option(min=0, help="Whole accelerators per replica.")] = (
        None
    ),
    gpu_share: Annotated[
        float | None, typer.Option(help="A share of one accelerator, e.g. 0.5.")
    ] = None,
    cpu: Annotated[str | None, typer.Option(help="CPUs per replica: 2, 0.5, 500m.")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory per replica: 4GiB, 512MiB.")] = None,
    name: Annotated[str | None, typer.Option(help="Job name (default: generated).")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project.")] = None,
    queue: Annotated[str | None, typer.Option(help="Queue in the project.")] = None,
    max_runtime: Annotated[str | None, typer.Option(help="Runtime limit, e.g. 2h.")] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Directory to pack and run in (default: none).")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE; repeat for more.")
    ] = None,
    replicas: Annotated[int | None, typer.Option(min=1, help="Gang size.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stream the output; exit with the job's outcome.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job's JSON.")] = False,
) -> None:
    """Run a command as a job: `aicc run --gpus 1 -- python train.py`. Prints the job id."""
    from aicc.cli.submit import submit, validate_spec

    if gpu_share is not None and not 0 < gpu_share <= 1:
        fail(f"--gpu-share {gpu_share:g} must be a share of one device, between 0 and 1")
    doc: dict[str, Any] = {"command": command[0] if len(command) == 1 else list(command)}
    resources: dict[str, Any] = {}
    if cpu is not None:
        resources["cpu"] = cpu
    if memory is not None:
        resources["memory"] = memory
    if gpus is not None or gpu_share is not None:
        accelerator: dict[str, Any] = {}
        if gpus is not None:
            accelerator["count"] = gpus
        if gpu_share is not None:
            accelerator["milli"] = gpu_share
        resources["accelerator"] = accelerator
    if resources:
        doc["resources"] = resources
    optional = {
        "name": name,
        "project": project,
        "queue": queue,
        "max_runtime": max_runtime,
        "replicas": replicas,
        "workdir": str(workdir) if workdir is not None else None,
    }
    doc.update({key: value for key, value in optional.items() if value is not None})
    if env:
        doc["env"] = env_pairs(env)
    validate_spec(doc, "aicc run")
    with client() as api:
        submit(api, doc, Path.cwd(), as_json=as_json, follow=wait, wait=wait)


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the JSON Schema of the job spec (for editors and validation)."""
    from aicc.core.jobspec import job_spec_schema

    print_json(job_spec_schema())


app.add_typer(center.audit_app, name="audit")
app.command("estimate")(estimate.estimate)
app.command("bill")(billing.bill)


@app.command("version")
def version_command() -> None:
    """Print the version."""
    _print_version(True)
