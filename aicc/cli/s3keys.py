"""`aicc s3-key ...`: access keys to the S3 endpoint (docs/interop.md); a secret is printed once,
when it is made."""

from typing import Annotated

import typer
from rich.markup import escape

from aicc.cli.nouns import CREATED, ID, Noun
from aicc.cli.output import JsonFlag, client, col, handle_errors, local_time, plain, print_json

app = typer.Typer(
    help="Access keys to the S3 endpoint (`SERVER/s3`): boto3, s3fs, DuckDB read your data sets.",
    no_args_is_help=True,
)

S3_KEYS = Noun(
    "s3-key",
    [
        ID,
        col("NAME", "name"),
        col("ACCESS KEY ID", "access_key_id"),
        col("WRITES", "writable", lambda w: "yes" if w else "no"),
        CREATED,
        col("LAST USED", "last_used_at", local_time),
    ],
    empty="no S3 keys",
    sdk="s3_keys",
)


S3_KEYS.list(app)(S3_KEYS.call("list", "Your S3 access keys (never their secrets)."))


@app.command("create")
@handle_errors
def s3_key_create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. `notebook`.")],
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="The key also writes new data set versions: PUT DATASET/new/PATH, then "
            "DATASET/new/_COMMIT (members only).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a key. Prints `ACCESS_KEY_ID SECRET` on stdout: the only time the secret shows."""
    with client() as api:
        key = api.s3_keys.create(name, writable=write)
    if as_json:
        print_json(plain(key))
        return
    typer.echo(f"{key.access_key_id} {key.secret or ''}")
    typer.echo(
        f"created S3 key {escape(key.id)}; store the secret now, it will not be shown again",
        err=True,
    )


S3_KEYS.delete(app)(
    S3_KEYS.call(
        "delete",
        "Delete an S3 key: its requests are refused at once.",
        key_id=Annotated[str, typer.Argument(help="Key id (s3k_...).")],
    )
)
