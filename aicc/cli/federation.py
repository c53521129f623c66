"""`aicc federation key|sites`: this site's public key (to hand to peers) and the peers."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import Noun
from aicc.cli.output import col, fail, handle_errors, local_time

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.federation.views import Settlement

app = typer.Typer(help="Federation: several AICC sites as one market.", no_args_is_help=True)


def _age(seconds: Any) -> str | None:
    return None if seconds is None else f"{float(seconds):.0f} s"


def _free(advert: Any) -> str | None:
    models = (advert or {}).get("models") or {}
    return ", ".join(f"{m['free']}/{m['count']} {name}" for name, m in models.items()) or None


SITES = Noun(
    "site",
    [
        col("SITE", "site"),
        col("KIND", "kind"),  # aicc, or tes: any GA4GH TES server (sends no adverts)
        col("STATE", "state"),
        col("JURISDICTION", "jurisdiction"),
        col("LAST ADVERT", "received_at", local_time),
        col("AGE", "age_s", _age),
        col("FREE", "advert", _free),
        col("URL", "url"),
    ],
    empty="no peers: add them under federation.peers in config.yaml",
    sdk="federation",
)


SITES.list(app, "sites")(
    SITES.call("sites", "The peers with their last advert, its age and whether each is up or lost.")
)


SETTLEMENTS = Noun(
    "settlement",
    [
        col("ID", "id"),
        col("SITE", "site"),
        col("JOB", "job_id"),
        col("ATTEMPT", "attempt"),
        col("REMOTE JOB", "remote_job_id"),
        col("AMOUNT", "amount"),
        col("CURRENCY", "currency"),
        col("STATE", "state"),
        col("CREATED", "created_at", local_time),
    ],
    empty="nothing owed to other sites",
)


@SETTLEMENTS.list(app, "settlements")
def federation_settlements(
    api: "Client",
    site: Annotated[str | None, typer.Option(help="Only this peer.")] = None,
    state: Annotated[str | None, typer.Option(help="open or settled.")] = None,
) -> "list[Settlement]":
    """What this site owes its peers, one row per job attempt that ran at one."""
    return api.federation.settlements(site=site, state=state)


@SETTLEMENTS.action(
    app, "settle", lambda s: f"settled {s['amount']} {s['currency']} to site {s['site']}"
)
def federation_settle(
    api: "Client", settlement_id: Annotated[int, typer.Argument(help="The settlement's ID.")]
) -> "Settlement":
    """Mark a settlement paid (once)."""
    return api.federation.settle(settlement_id)


@app.command("key")
@handle_errors
def federation_key(
    home: Annotated[
        str | None, typer.Option(help="The server's home (default $AICC_HOME).")
    ] = None,
) -> None:
    """Print this site's public key (made on first use), for its peers' federation.peers."""
    from pathlib import Path

    from aicc import config
    from aicc.services.federation import signing

    settings = config.load(Path(home) if home else None)
    if settings.federation.site is None:
        fail("federation.site is not set in config.yaml: this server is not in a federation")
    key_file = settings.federation.key_file or settings.home / "federation.key"
    print(signing.public_text(signing.load_key(key_file)))
