"""`aicc lease ...`: an organization's dedicated nodes or devices. Center admins make (`create`)
and end leases; the lessee's members list theirs and see how each is used (`get`). Times as
`aicc maintenance` takes them (ISO 8601, now, +2h, +30d)."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.maintenance import when
from aicc.cli.nouns import ID, Noun
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    handle_errors,
    local_time,
    print_fields,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from aicc.sdk.client import Client

app = typer.Typer(help="Dedicated capacity (leases) of organizations.", no_args_is_help=True)

LeaseArg = Annotated[str, typer.Argument(help="Lease id.")]


def _held(row: dict[str, Any]) -> str:
    devices = row.get("devices") or []
    if devices:
        nodes = sorted({d["node"] for d in devices})
        return f"{len(devices)} devices on " + ", ".join(nodes[:4])
    names = row.get("nodes") or []
    return ", ".join(names[:6]) + (f" +{len(names) - 6}" if len(names) > 6 else "")


def _use(row: dict[str, Any]) -> str:
    use = row.get("use") or {}
    return f"{use.get('in_use', 0)} used / {use.get('lent', 0)} lent / {use.get('idle', 0)} idle"


#: What a lease is, first in both its row of `list` and its fields in `get`.
_LEASE = [
    ID,
    col("ORG", "org"),
    col("STATE", "state"),
    Column("HOLDS", _held),
    col("FROM", "starts_at", local_time),
    col("TO", "ends_at", local_time),
]
LEASES = Noun(
    "lease",
    [*_LEASE, Column("USE", _use)],
    empty="no leases",
    fields=[
        *_LEASE,
        col("TIER", "tier"),
        col("PLAN", "plan"),
        col("LENDS", "lends"),
        Column("USE", _use),
        Column("RUNNING", lambda r: ", ".join(j["id"] for j in r.get("running") or []) or "-"),
        Column("WAITING", lambda r: ", ".join(j["id"] for j in r.get("waiting") or []) or "-"),
    ],
    sdk="leases",
)

LEASES.list(app)(LEASES.call("list", "Leases (yours; every one for center admins)."))
LEASES.get(app)(
    LEASES.call(
        "get",
        "One lease: what it holds, how it is used, your jobs on it and waiting.",
        lease=LeaseArg,
    )
)


@LEASES.create(app, done=lambda lease: f"leased {_held(lease)} to {lease.get('org')}")
def lease_create(
    api: "Client",
    org: Annotated[str, typer.Option(help="The lessee organization (name or id).")],
    starts: Annotated[str, typer.Option("--from", help="When it starts: ISO 8601, now, +1h.")],
    ends: Annotated[str, typer.Option("--to", help="When it ends: ISO 8601, +30d.")],
    nodes: Annotated[str | None, typer.Option(help="Whole nodes, comma-separated.")] = None,
    pool: Annotated[str | None, typer.Option(help="The pool devices are picked in.")] = None,
    devices: Annotated[int | None, typer.Option(help="How many whole devices.")] = None,
    tier: Annotated[float, typer.Option(help="Availability promised, in percent.")] = 99.9,
    plan: Annotated[str | None, typer.Option(help="The price plan it is billed by.")] = None,
    lend: Annotated[
        bool, typer.Option("--lend", help="Others' preemptible work may use idle capacity.")
    ] = False,
) -> Any:
    """Lease whole nodes (--nodes) or devices of a pool (--pool, --devices) to an organization
    (center admins)."""
    names = [n.strip() for n in nodes.split(",") if n.strip()] if nodes else None
    return api.leases.create(
        org,
        starts_at=when(starts),
        ends_at=when(ends),
        nodes=names,
        pool=pool,
        devices=devices,
        tier=tier,
        plan=plan,
        lend=lend,
    )


LEASES.action(app, "end", done=lambda lease: f"ended lease {lease.get('id')}")(
    LEASES.call(
        "end",
        "End a lease now (center admins).",
        lease=LeaseArg,
    )
)


INCIDENT_COLUMNS = [
    col("START", "start", local_time),
    Column("END", lambda r: local_time(r["end"]) if r.get("end") else "(ongoing)"),
    col("MINUTES", "minutes"),
    col("EXCLUDED", "excluded_minutes"),
    col("NODE", "node"),
    Column("DEVICES", lambda r: ",".join(str(i) for i in r["devices"])),
    col("REASON", "reason"),
]


@app.command("report")
@handle_errors
def lease_report(
    lease: LeaseArg,
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: this month, billing time zone).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A lease's SLA report of a month: availability against its tier, the incidents, and the
    service credit it earns."""
    with client() as api:
        answer = api.leases.report(lease, month).model_dump(mode="json")
    if as_json:
        print_json(answer)
        return
    title = f"lease {answer['lease_id']} ({answer['org']}), {answer['month']}"
    print_table(answer["incidents"], INCIDENT_COLUMNS, title=title, empty=f"{title}: no incidents")
    print_fields(
        [
            ("availability", f"{answer['availability_pct']:.4f}% (tier {answer['tier']}%)"),
            (
                "device-minutes",
                f"{answer['leased_device_minutes']} leased, "
                f"{answer['lost_device_minutes']} lost, "
                f"{answer['excluded_device_minutes']} in announced maintenance",
            ),
            ("maintenance", ", ".join(w["id"] for w in answer["maintenance"]) or "-"),
            ("charge", f"{answer['charge']} {answer['currency']}"),
            ("credit", f"{answer['credit']} {answer['currency']} ({answer['credit_pct']:g}%)"),
            ("final", "yes" if answer["final"] else "no, the month goes on"),
        ]
    )
