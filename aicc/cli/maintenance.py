"""`aicc maintenance ...`: maintenance windows of nodes. Center admins announce (`create`) and
cancel them; everyone lists them. Times are ISO 8601 (UTC without an offset) or relative to
now: `+30m`, `+2h`, `+1d`."""

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.nouns import ID, Noun
from aicc.cli.output import Column, col, local_time

if TYPE_CHECKING:
    from aicc.sdk.client import Client

app = typer.Typer(help="Maintenance windows of nodes.", no_args_is_help=True)

_RELATIVE = re.compile(r"^\+(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def when(text: str) -> str:
    """A time as the API takes it (ISO 8601): `now`, `+N[smhd]`, or ISO text as it is."""
    found = _RELATIVE.match(text.strip())
    if text.strip() == "now":
        return datetime.now(UTC).isoformat()
    if found:
        delta = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
        return (datetime.now(UTC) + delta).isoformat()
    return text


def _nodes(row: dict[str, Any]) -> str:
    target = f"{row.get('scope')} {row.get('target')}: " if row.get("target") else ""
    names = row.get("nodes") or []
    return target + ", ".join(names[:6]) + (f" +{len(names) - 6}" if len(names) > 6 else "")


WINDOWS = Noun(
    "maintenance window",
    [
        ID,
        col("STATE", "state"),
        col("FROM", "starts_at", local_time),
        col("TO", "ends_at", local_time),
        Column("NODES", _nodes),
        col("REASON", "reason"),
    ],
    empty="no maintenance windows; `aicc maintenance create` announces one",
    sdk="maintenance",
)

WindowArg = Annotated[str, typer.Argument(help="Window id.")]
From = Annotated[str, typer.Option("--from", help="When it starts: ISO 8601, now, +2h...")]
To = Annotated[str, typer.Option("--to", help="When it ends: ISO 8601, +4h...")]


@WINDOWS.list(app)
def maintenance_list(
    api: "Client",
    past: Annotated[bool, typer.Option(help="Ended and cancelled windows too.")] = False,
) -> Any:
    """Windows to come and going on, by start."""
    return api.maintenance.list(past=past)


@WINDOWS.get(app)
def maintenance_get(api: "Client", window: WindowArg) -> Any:
    """One window."""
    return api.maintenance.get(window)


@WINDOWS.create(app, done=lambda w: f"announced maintenance window {w.get('id')}")
def maintenance_create(
    api: "Client",
    starts: From,
    ends: To,
    reason: Annotated[str, typer.Option(help="Why: tenants read it.")],
    nodes: Annotated[str | None, typer.Option(help="Node names, comma-separated.")] = None,
    rack: Annotated[str | None, typer.Option(help="Every node of a rack.")] = None,
    pool: Annotated[str | None, typer.Option(help="Every node of a pool.")] = None,
) -> Any:
    """Announce a window (center admins): jobs that would run into it do not start there, and
    what runs there at its start is evicted and requeued."""
    names = [n.strip() for n in nodes.split(",") if n.strip()] if nodes else None
    return api.maintenance.create(
        starts_at=when(starts), ends_at=when(ends), reason=reason, nodes=names, rack=rack, pool=pool
    )


@WINDOWS.action(app, "cancel", done=lambda w: f"cancelled maintenance window {w.get('id')}")
def maintenance_cancel(api: "Client", window: WindowArg) -> Any:
    """Call a window off (center admins); one going on gives its nodes back now."""
    return api.maintenance.cancel(window)
