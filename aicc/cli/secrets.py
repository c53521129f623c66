"""`aicc secret ...`: values injected into jobs as environment. A value is read from an
option, stdin (`-`) or a hidden prompt, and never printed."""

from typing import Annotated

import typer
from rich.markup import escape

from aicc.cli.nouns import CREATED, PROJECT, Noun, ProjectOption
from aicc.cli.output import client, col, handle_errors, local_time, read_value, status

app = typer.Typer(help="Secrets injected into jobs as environment.", no_args_is_help=True)


SECRETS = Noun(
    "secret",
    [
        col("NAME", "name"),
        PROJECT,
        CREATED,
        col("UPDATED", "updated_at", local_time),
    ],
    empty="no secrets",
    sdk="secrets",
)


SECRETS.list(app)(
    SECRETS.call(
        "list", "Secret names of a project (values are never shown).", project=ProjectOption
    )
)


@app.command("set")
@handle_errors
def secret_set(
    name: Annotated[str, typer.Argument(help="Secret name, as jobs list it under `secrets`.")],
    value: Annotated[
        str | None,
        typer.Option(help="The value; `-` reads stdin; omitted: a hidden prompt."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Create or replace a secret. The value is never echoed."""
    if value is None:
        secret = typer.prompt(f"value of {name}", hide_input=True)
    else:
        secret = read_value(value, "secret value")
    with client() as api:
        api.secrets.set(name, secret, project=project)
    status(f"secret {escape(name)} saved")


SECRETS.delete(app)(
    SECRETS.call(
        "delete",
        "Delete a secret; jobs that name it will fail to launch.",
        name=Annotated[str, typer.Argument(help="Secret name.")],
        project=ProjectOption,
    )
)
