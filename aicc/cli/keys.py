"""`aicc key ...`: API keys to a project's deployments through the gateway (`/v1`); a secret is
printed once, when it is made."""

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aicc.cli.nouns import CREATED, ID, PROJECT, Noun, ProjectOption
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    handle_errors,
    local_time,
    print_secret,
)

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.serving.views import ApiKey

app = typer.Typer(help="API keys to deployments (the gateway at /v1).", no_args_is_help=True)


def _scope(value: object) -> str:
    return "all" if value is None else ", ".join(str(v) for v in value)  # type: ignore[attr-defined]


KEYS = Noun(
    "key",
    [
        col("NAME", "name"),
        ID,
        PROJECT,
        Column("DEPLOYMENTS", lambda key: _scope(key.get("deployments"))),
        col("RPM", "rpm", lambda v: "-" if v is None else str(v), justify="right"),
        col("TOKENS/MONTH", "tokens_per_month", lambda v: "-" if v is None else f"{v:,}"),
        col("TIER", "tier", lambda v: str(v or 2), justify="right"),
        CREATED,
        col("REVOKED", "revoked_at", local_time),
    ],
    empty="no API keys",
    sdk="keys",
)


@KEYS.list(app)
def key_list(
    api: "Client",
    project: ProjectOption = None,
    revoked: Annotated[bool, typer.Option(help="Include revoked keys.")] = False,
) -> "list[ApiKey]":
    """A project's API keys (never their secrets)."""
    return api.keys.list(project=project, revoked=revoked)


@app.command("create")
@handle_errors
def key_create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. `chatbot`.")],
    deployment: Annotated[
        list[str] | None,
        typer.Option("--deployment", help="A deployment it may call (repeat); default: all."),
    ] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute at most.")] = None,
    tokens_per_month: Annotated[
        int | None, typer.Option(min=1, help="Prompt + completion tokens a month at most.")
    ] = None,
    tier: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=3,
            help="Service tier: 1 served first when busy .. 3; default: your organization's "
            "price plan's, else 2. Better than the plan's: admins only.",
        ),
    ] = None,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key. Prints its secret on stdout: the only time it is shown."""
    with client() as api:
        answer = api.keys.create(
            name, deployments=deployment, rpm=rpm, tokens_per_month=tokens_per_month,
            project=project, tier=tier,
        )  # fmt: skip
    print_secret(
        answer,
        f"created API key {escape(name)}; store the secret now, it will not be shown again. "
        "Use it as `Authorization: Bearer` (or OPENAI_API_KEY) against <server>/v1",
        as_json=as_json,
    )


KEYS.delete(app, "rm", "revoked API key {}")(
    KEYS.call(
        "revoke",
        "Revoke a key: the gateway refuses it within seconds (docs/gateway.md).",
        ref=Annotated[str, typer.Argument(help="Key name or id.")],
        project=ProjectOption,
    )
)
