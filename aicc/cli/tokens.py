"""`aicc token ...`: API tokens; a secret is printed once, when it is made."""

from typing import Annotated

import typer
from rich.markup import escape

from aicc.cli.nouns import CREATED, ID, Noun
from aicc.cli.output import JsonFlag, client, col, handle_errors, local_time, print_secret

app = typer.Typer(help="API tokens.", no_args_is_help=True)


TOKENS = Noun(
    "token",
    [
        ID,
        col("NAME", "name"),
        col("USER", "user_id"),
        CREATED,
        col("EXPIRES", "expires_at", local_time),
        col("LAST USED", "last_used_at", local_time),
        col("REVOKED", "revoked_at", local_time),
        col("SCOPES", "scopes", lambda v: ",".join(v)),
    ],
    empty="no tokens",
    sdk="tokens",
)


TOKENS.list(app)(TOKENS.call("list", "Your tokens (never their secrets)."))


@app.command("create")
@handle_errors
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. `ci`.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Lifetime in days.")] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Create it for this user id (admins).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Only this: read, jobs, data or deployments (each with the reads); "
            "repeatable. Default: all the user may.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token. Prints its secret on stdout: the only time it is shown."""
    with client() as api:
        token = api.tokens.create(
            name, expires_in_days=expires_in_days, user_id=user, scopes=scope or None
        )
    message = f"created token {escape(token.id)}; store the secret now, it will not be shown again"
    print_secret(token, message, as_json=as_json)


TOKENS.delete(app, "revoke", "revoked token {}")(
    TOKENS.call(
        "revoke",
        "Revoke a token at once.",
        token_id=Annotated[str, typer.Argument(help="Token id.")],
    )
)
