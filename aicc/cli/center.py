"""`aicc audit` and `aicc accelerator list`: what happened in the center, and the devices
it knows."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from aicc.cli.nouns import Noun
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    confirm,
    fail,
    handle_errors,
    local_time,
    memory_text,
    parse_time,
    print_fields,
    print_json,
    print_table,
    status,
)

accelerator_app = typer.Typer(help="The accelerator catalog.", no_args_is_help=True)


def _object(entry: dict[str, Any]) -> str:
    kind, ident = entry.get("object_type") or "", entry.get("object_id") or ""
    return f"{kind} {ident}".strip()


AUDIT = Noun(
    "audit entry",
    [
        col("AT", "at", local_time),
        Column("USER", lambda entry: entry.get("user_name") or entry.get("user_id")),
        col("ACTION", "action"),
        Column("OBJECT", _object),
    ],
)


audit_app = typer.Typer(
    help="The audit trail: who did what, newest first (admins and org admins); "
    "`aicc audit verify` checks its hash chain.",
    invoke_without_command=True,
)


@audit_app.callback()
@handle_errors
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest entries to show.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The audit trail: who did what, newest first (admins and org admins)."""
    if ctx.invoked_subcommand is not None:
        return
    with client() as api:
        AUDIT.print_list(api.audit.list(limit=limit, action=action), as_json=as_json)


@audit_app.command("verify")
@handle_errors
def audit_verify(as_json: JsonFlag = False) -> None:
    """Walk the audit log's hash chain (center admins): exit 1 if an entry was changed, removed
    or slipped in. Note the head it prints: a later run that ends before it was cut short."""
    with client() as api:
        found = api.audit.verify().model_dump(mode="json")
    if as_json:
        print_json(found)
    else:
        print_fields(
            [
                ("intact", "yes" if found["intact"] else "NO"),
                ("verified", found["verified"]),
                ("pending", found["pending"]),
                ("head", f"{found['last_seq']} {found['last_hash']}" if found["last_seq"] else "-"),
            ]
        )
    if not found["intact"]:
        fail(f"the audit log is broken at entry {found['broken_at']}: {found['reason']}")


def _memory(model: dict[str, Any]) -> str | None:
    if model.get("memory_mib") is not None:
        return memory_text(model["memory_mib"])
    gib = model.get("memory_gib")
    return f"{gib}GiB" if gib is not None else None


def _tflops(model: dict[str, Any]) -> str | None:
    value = model.get("fp16_tflops")
    if value is None and model.get("pflops") is not None:
        value = float(model["pflops"]) * 1000
    return f"{float(value):g}" if value is not None else None


ACCELERATORS = Noun(
    "accelerator",
    [
        Column("MODEL", lambda model: model.get("name") or model.get("model")),
        col("VENDOR", "vendor"),
        col("KIND", "kind"),
        Column("MEMORY", _memory, justify="right"),
        Column("FP16 TFLOPS", _tflops, justify="right"),
        col("INTERCONNECT", "interconnect"),
    ],
    sdk="accelerators",
)


ACCELERATORS.list(accelerator_app)(
    ACCELERATORS.call("list", "Accelerator models AICC knows, with their peak figures.")
)


center_app = typer.Typer(
    help="The center as its operators read it, and its settings they change.", no_args_is_help=True
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _sold(report: dict[str, Any]) -> str:
    elsewhere = report.get("pflops_hours_other_sites") or 0
    return _num(report["pflops_hours"]) + (
        f" (of which {_num(elsewhere)} run at other sites)" if elsewhere else ""
    )


@center_app.command("report")
@handle_errors
def center_report(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM in the billing time zone; default this month.")
    ] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the CSV to this file.")] = (
        None
    ),
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also write the PDF to this file.")] = (
        None
    ),
    lang: Annotated[str, typer.Option(help="The PDF's language: en or zh-CN.")] = "en",
    as_json: JsonFlag = False,
) -> None:
    """The center's monthly report (center admins): utilization, tenants by kind, jobs,
    PFLOPS-hours sold, revenue, subsidies and vouchers, energy, PUE, carbon, revenue shares."""
    api = client()
    report = api.reports.monthly(month).model_dump(mode="json")
    if csv is not None:
        csv.write_text(api.reports.monthly_csv(report["month"]), encoding="utf-8")
        status(f"wrote {escape(str(csv))}")
    if pdf is not None:
        pdf.write_bytes(api.reports.monthly_pdf(report["month"], lang))
        status(f"wrote {escape(str(pdf))}")
    if as_json:
        print_json(report)
        return
    u, e, r = report["utilization"], report["energy"], report["revenue"]
    money = r["totals"]
    cur = r["currency"]
    print_fields(
        [
            ("month", f"{report['month']} ({report['zone']})"),
            ("status", "PROVISIONAL (a bill is a draft)" if report["provisional"] else "final"),
            ("capacity", f"{_num(u['capacity_device_hours'])} device-hours (real devices)"),
            (
                "allocated",
                f"{_num(u['allocated_device_hours'])} device-hours, {_pct(u['allocation_rate'])}",
            ),
            ("busy", f"{_num(u['busy_device_hours'])} device-hours, {_pct(u['busy_rate'])}"),
            ("tenants served", f"{report['tenants_served']} ({report['tenants_new']} new orgs)"),
            ("PFLOPS-hours sold", _sold(report)),
            ("billed", f"{money['gross']} {cur}"),
            ("subsidies", f"{money['subsidy']} {cur}"),
            ("vouchers", f"{money['voucher']} {cur}"),
            ("paid by tenants", f"{money['net']} {cur}"),
            ("energy", f"{_num(e['it_kwh'])} kWh IT, {_num(e['facility_kwh'])} kWh facility"),
            ("PUE", _num(e["pue"], 3)),
            ("carbon", f"{_num(e['carbon_kg'])} kg CO2e"),
        ]
    )
    print_table(
        report["tenants"],
        [col("KIND", "kind"), col("SERVED", "served"), col("NEW", "new"), col("TOTAL", "total")],
        title="tenants by kind",
    )
    jobs = [col("KIND", "kind"), col("SUBMITTED", "submitted"), col("SUCCEEDED", "succeeded")]
    jobs += [col("FAILED", "failed"), col("CANCELLED", "cancelled")]
    print_table(report["jobs"], jobs, title="jobs", empty="no jobs this month")
    print_table(
        r["shares"],
        [
            col("PARTY", "party"),
            col("FEE", "fee"),
            col("PAYMENTS", "payments"),
            col("PUBLIC", "public"),
            col("TOTAL", "total"),
        ],
        title=f"revenue shares ({cur})",
    )


power_cap_app = typer.Typer(
    help="The site's power cap (demand response): the scheduler starts no job that would take "
    "the estimated facility power over it; running jobs are not stopped. Center admins.",
    no_args_is_help=True,
)
center_app.add_typer(power_cap_app, name="power-cap")


def _kw(value: Any) -> str | None:
    return f"{float(value):.1f} kW" if value is not None else None


POWER_CAP_EVENTS = Noun(
    "power cap event",
    [
        col("ID", "id"),
        Column("CAP", lambda e: _kw(e.get("cap_kw")), justify="right"),
        col("FROM", "start", local_time),
        col("UNTIL", "end", local_time),
        Column("ACTIVE", lambda e: "yes" if e.get("active") else ""),
        col("SET BY", "set_by"),
        col("NOTE", "note"),
    ],
    empty="no power cap events",
)


@power_cap_app.command("set")
@handle_errors
def power_cap_set(
    cap: Annotated[str, typer.Argument(help="The facility power cap: 120kW, 1.5MW, 800W.")],
    start: Annotated[
        str | None, typer.Option("--from", help="Start, RFC 3339 (default: now).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="End, RFC 3339.")] = None,
    duration: Annotated[
        str | None, typer.Option("--for", help="How long instead of --until: 2h, 30m.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why (the grid operator's request).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Cap the site's facility power for a window (a demand-response event)."""
    if (until is None) == (duration is None):
        fail("give --until TIME or --for DURATION")
    with client() as api:
        made = api.power_cap.set(cap, start=start, end=until, duration=duration, note=note)
    event = made.model_dump(mode="json")
    if as_json:
        print_json(event)
        return
    print_fields(
        [
            ("id", event["id"]),
            ("cap", _kw(event["cap_kw"])),
            ("from", local_time(event["start"])),
            ("until", local_time(event["end"])),
        ]
    )


@power_cap_app.command("list")
@handle_errors
def power_cap_list(as_json: JsonFlag = False) -> None:
    """The estimated facility power now, the cap in force, and the events."""
    with client() as api:
        found = api.power_cap.show().model_dump(mode="json")
    if as_json:
        print_json(found)
        return
    print_fields(
        [
            ("estimated power", _kw(found["estimated_kw"])),
            ("cap now", _kw(found["cap_kw"]) or "none"),
            ("cap from", found.get("cap_source") or "-"),
            ("standing cap", _kw(found["standing_cap_kw"]) or "none"),
            ("pue", found["pue"]),
            ("jobs waiting for it", ", ".join(found["waiting_jobs"]) or "none"),
        ]
    )
    POWER_CAP_EVENTS.print_list(found["events"], as_json=False)


@power_cap_app.command("clear")
@handle_errors
def power_cap_clear(
    event_id: Annotated[
        str | None, typer.Argument(help="One event's id (default: every event not yet ended).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Remove power cap events; the standing cap (site.power_cap_kw) stays."""
    with client() as api:
        if event_id is not None:
            ids = [event_id]
        else:
            shown = api.power_cap.show().model_dump(mode="json")
            ids = [e["id"] for e in shown["events"] if _not_ended(e)]
        for one in ids:
            api.power_cap.clear(one)
    confirm({"cleared": ids}, f"cleared {', '.join(ids) or 'nothing'}", as_json=as_json)


def _not_ended(event: dict[str, Any]) -> bool:
    end = parse_time(event.get("end"))
    return end is not None and end > datetime.now(UTC)


def _window_caps(event: dict[str, Any]) -> str:
    caps = sorted({w["cap_kw"] for w in event.get("windows") or []})
    return ", ".join(f"{c:g}" for c in caps) or "-"


def _span(event: dict[str, Any]) -> str:
    windows = event.get("windows") or event.get("signals") or []
    if not windows:
        return "-"
    start = min(w["start"] for w in windows)
    end = max(w["end"] for w in windows)
    return f"{local_time(start)} - {local_time(end)}"


def _shed(event: dict[str, Any]) -> str | None:
    report = event.get("report") or {}
    return _kw(report.get("shed_kw"))


OPENADR_EVENTS = Noun(
    "OpenADR event",
    [
        col("EVENT", "id"),
        col("STATUS", "status"),
        Column("SIGNALS", lambda e: ", ".join(sorted({s["name"] for s in e["signals"]})) or "-"),
        Column("WINDOW", _span),
        Column("ASKED KW", _window_caps, justify="right"),
        col("ANSWER", "answer"),
        col("WHY", "why"),
        Column("CAP NOW", lambda e: _kw(e.get("cap_kw")), justify="right"),
        Column(
            "MEASURED",
            lambda e: _kw((e.get("report") or {}).get("measured_kw")),
            justify="right",
        ),
        Column("SHED", _shed, justify="right"),
    ],
    empty="no OpenADR events received",
)


@power_cap_app.command("openadr")
@handle_errors
def power_cap_openadr(as_json: JsonFlag = False) -> None:
    """The OpenADR events the VEN received: the VTN's signals and asked kW, AICC's answer and
    why, the cap in force while one holds, and the measured kW and shed it reported."""
    with client() as api:
        found = api.power_cap.openadr().model_dump(mode="json")
    if as_json:
        print_json(found)
        return
    OPENADR_EVENTS.print_list(found["items"], as_json=False)
