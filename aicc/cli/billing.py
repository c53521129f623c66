"""Prices, credits, budgets and bills: `aicc admin price-plan|voucher|subsidy|budget|invoice`
and `aicc bill`. Money is shown as the API sends it: decimal strings with their currency.

The SDK answers with the billing context's read models; `--json` prints them as the API wrote
them (`model_dump(mode="json")`, a listing as its page), byte for byte."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from aicc.cli.nouns import ID, Json, Noun, shows
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    existing_file,
    fail,
    handle_errors,
    local_time,
    print_fields,
    print_json,
    print_table,
    status,
)

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization id (org_...).")]
OrgRequired = Annotated[str, typer.Option("--org", help="Organization id (org_...).")]
ModelsOption = Annotated[
    list[str] | None, typer.Option("--accelerator", "-a", help="Only this model; repeatable.")
]
FromOption = Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")]
UntilOption = Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")]
CurrencyOption = Annotated[str, typer.Option(help="ISO 4217 code.")]

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.billing.views import (
        Adjustment,
        Bill,
        Budget,
        EffectivePricePlan,
        PricePlanVersion,
        Subsidy,
        Voucher,
    )

admin_app = typer.Typer(
    help="Operators' books (price plans, vouchers, subsidies, budgets, invoices); backups.",
    no_args_is_help=True,
)
plan_app = typer.Typer(help="Price plans, versioned by effective_from.", no_args_is_help=True)
voucher_app = typer.Typer(help="Vouchers (算力券): prepaid credit.", no_args_is_help=True)
subsidy_app = typer.Typer(help="Subsidy programs: a share of the fee.", no_args_is_help=True)
budget_app = typer.Typer(
    help="Monthly budgets of projects and organizations.", no_args_is_help=True
)
invoice_app = typer.Typer(help="Issue invoices and correct them.", no_args_is_help=True)
admin_app.add_typer(plan_app, name="price-plan")
admin_app.add_typer(voucher_app, name="voucher")
admin_app.add_typer(subsidy_app, name="subsidy")
admin_app.add_typer(budget_app, name="budget")
admin_app.add_typer(invoice_app, name="invoice")


def _given(**options: Any) -> dict[str, Any]:
    """The optional fields of a request body: those given, and not given empty."""
    return {k: v for k, v in options.items() if v is not None and v != "" and v != []}


def _credit(
    fields: dict[str, Any],
    currency: str,
    accelerator: list[str] | None,
    valid_from: str | None,
    valid_until: str | None,
    **optional: Any,
) -> dict[str, Any]:
    """The body of a voucher or a subsidy program: its own `fields` and currency, then what is
    given of its `optional` fields and of the limits both share (models, validity)."""
    limits = _given(accelerators=accelerator, valid_from=valid_from, valid_until=valid_until)
    return fields | {"currency": currency} | _given(**optional) | limits


def _models(row: dict[str, Any]) -> str:
    return ", ".join(row.get("accelerators") or []) or "all"


def _prices(row: dict[str, Any]) -> str:
    parts = [f"{k} {v}/h" for k, v in (row.get("accelerator_hour") or {}).items()]
    for key, label in (
        ("pflops_hour", "PFLOPS-h"),
        ("cpu_core_hour", "core-h"),
        ("memory_gib_hour", "GiB-h"),
        ("storage_gib_day", "GiB-day"),
        ("input_mtok", "M input tokens"),
        ("output_mtok", "M output tokens"),
        ("request", "request"),
    ):
        if row.get(key) is not None:
            parts.append(f"{row[key]}/{label}")
    return "; ".join(parts) or "-"


# --- price plans -------------------------------------------------------------------------------

PLANS = Noun(
    "price plan",
    [
        ID,
        Column("SCOPE", lambda r: r.get("org_id") or "center"),
        col("NAME", "name"),
        col("FROM", "effective_from", local_time),
        col("CURRENCY", "currency"),
        Column("PRICES", _prices),
        col("DISCOUNT", "discount", justify="right"),
        col("API TIER", "api_tier", justify="right"),
    ],
    empty="no stored price plans",
    sdk="price_plans",
)


PLANS.list(plan_app)(
    PLANS.call(
        "list",
        "Every version of the center's plan and of organizations you may read.",
        org=OrgOption,
    )
)


@PLANS.action(
    plan_app,
    "set",
    lambda plan: f"price plan {escape(plan['id'])} in force from {plan['effective_from']}",
)
def plan_set(
    api: "Client",
    file: Annotated[Path, typer.Option("--file", "-f", help="The plan as YAML or JSON.")],
    org: OrgOption = None,
) -> "PricePlanVersion":
    """Add a plan version (admins): the center's, or with --org an organization's."""
    import yaml

    doc = yaml.safe_load(existing_file(file).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        fail(f"{file}: a price plan is a mapping (docs/billing.md)")
    if org is not None:
        doc["org_id"] = org
    return api.price_plans.create(doc)


def _plan_in_force(answer: Json) -> None:
    print_fields(
        [
            ("organization", answer["org_id"]),
            ("plan", answer["name"]),
            ("versions", ", ".join(answer["versions"]) or "the `pricing` setting"),
            ("currency", answer["currency"]),
            ("prices", _prices(answer)),
            ("discount", answer["discount"]),
            ("API key tier", answer.get("api_tier") or "-"),
        ]
    )


@shows(plan_app, "show", _plan_in_force)
def plan_show(
    api: "Client",
    org: OrgOption = None,
    at: Annotated[str | None, typer.Option(help="RFC 3339 time (default: now).")] = None,
) -> "EffectivePricePlan":
    """The plan in force for an organization (default: yours)."""
    return api.price_plans.effective(org, at)


# --- vouchers ----------------------------------------------------------------------------------

VOUCHERS = Noun(
    "voucher",
    [
        ID,
        col("NAME", "name"),
        col("ORG", "org_id"),
        col("PROJECT", "project_id"),
        col("AMOUNT", "amount", justify="right"),
        col("REMAINING", "remaining", justify="right"),
        col("CURRENCY", "currency"),
        Column("MODELS", _models),
        col("FROM", "valid_from"),
        col("UNTIL", "valid_until"),
    ],
    empty="no vouchers",
    sdk="vouchers",
)


VOUCHERS.list(voucher_app)(
    VOUCHERS.call(
        "list", "Vouchers you may see, with what issued invoices left of each.", org=OrgOption
    )
)


@VOUCHERS.create(
    voucher_app, done=lambda v: f"voucher {escape(v['id'])}: {v['amount']} {v['currency']}"
)
def voucher_create(
    api: "Client",
    org: Annotated[str, typer.Argument(help="Organization id (org_...).")],
    amount: Annotated[str, typer.Option(help="Credit, e.g. 5000.00.")],
    name: Annotated[str, typer.Option(help="What people call it.")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project (prj_...).")
    ] = None,
    accelerator: ModelsOption = None,
    valid_from: FromOption = None,
    valid_until: UntilOption = None,
    currency: CurrencyOption = "CNY",
) -> "Voucher":
    """Issue a voucher to an organization (admins)."""
    fields = {"org_id": org, "name": name, "amount": amount}
    body = _credit(fields, currency, accelerator, valid_from, valid_until, project_id=project)
    return api.vouchers.create(body)


# --- subsidies ---------------------------------------------------------------------------------

SUBSIDIES = Noun(
    "subsidy program",
    [
        ID,
        col("NAME", "name"),
        Column("ORG", lambda r: r.get("org_id") or "all"),
        col("RATE", "rate", justify="right"),
        col("YEARLY CAP", "yearly_cap", justify="right"),
        col("LEFT THIS YEAR", "remaining_this_year", justify="right"),
        Column("MODELS", _models),
        col("FROM", "valid_from"),
        col("UNTIL", "valid_until"),
    ],
    empty="no subsidy programs",
    sdk="subsidies",
)


SUBSIDIES.list(subsidy_app)(
    SUBSIDIES.call("list", "Subsidy programs that apply to your organization (admins: all).")
)


@SUBSIDIES.create(
    subsidy_app, done=lambda s: f"subsidy program {escape(s['id'])}: {s['rate']} of the fee"
)
def subsidy_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="The program's name.")],
    rate: Annotated[str, typer.Option(help="Share of the discounted fee, e.g. 0.5.")],
    cap: Annotated[
        str | None, typer.Option(help="Yearly cap per organization, e.g. 3000000.")
    ] = None,
    org: OrgOption = None,
    accelerator: ModelsOption = None,
    valid_from: FromOption = None,
    valid_until: UntilOption = None,
    currency: CurrencyOption = "CNY",
) -> "Subsidy":
    """Create a subsidy program for one organization or, without --org, all (admins)."""
    fields = {"name": name, "rate": rate}
    body = _credit(
        fields, currency, accelerator, valid_from, valid_until, yearly_cap=cap, org_id=org
    )
    return api.subsidies.create(body)


# --- budgets -----------------------------------------------------------------------------------

BUDGETS = Noun(
    "budget",
    [
        ID,
        col("ORG", "org_id"),
        col("PROJECT", "project_id"),
        col("MONTH", "month"),
        col("LIMIT", "limit", justify="right"),
        col("SPENT", "spent", justify="right"),
        col("COMMITTED", "committed", justify="right"),
        col("LEFT", "left", justify="right"),
        col("CURRENCY", "currency"),
        Column("ALERTS", lambda r: ", ".join(f"{t:g}" for t in r.get("alerted") or []) or "-"),
    ],
    empty="no budgets",
    sdk="budgets",
)


BUDGETS.list(budget_app)(BUDGETS.call("list", "Budgets you may see, with this month's spending."))


def _budget_set(budget: Json) -> str:
    return (
        f"budget {escape(budget['id'])}: {budget['limit']} {budget['currency']} a month, "
        f"{budget['left']} left in {budget['month']}"
    )


@BUDGETS.action(budget_app, "set", _budget_set)
def budget_set(
    api: "Client",
    limit: Annotated[str, typer.Option(help="Monthly limit, e.g. 10000.00.")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project id (prj_...).")
    ] = None,
    org: OrgOption = None,
    threshold: Annotated[
        list[float] | None,
        typer.Option("--threshold", help="Alert at this share; repeatable (default 0.5 0.8 1)."),
    ] = None,
    currency: CurrencyOption = "CNY",
) -> "Budget":
    """Set the monthly budget of a project or an organization (its admins)."""
    if (project is None) == (org is None):
        fail("name exactly one of --project and --org")
    body = {"limit": limit, "currency": currency} | _given(thresholds=threshold)
    return api.budgets.set(body, project=project, org=org)


BUDGETS.delete(budget_app, done="removed budget {}")(
    BUDGETS.call(
        "delete",
        "Remove a budget (its organization's admins).",
        budget_id=Annotated[str, typer.Argument(help="Budget id.")],
    )
)


# --- bills -------------------------------------------------------------------------------------


def _days(line: dict[str, Any]) -> str | None:
    first, last = line.get("day"), line.get("last_day")
    return f"{first}..{last[5:]}" if first and last and last != first else first


def _credits_of(line: dict[str, Any]) -> str:
    total = sum(float(line[k]) for k in ("discount", "subsidy", "voucher"))
    return f"-{total:,.2f}" if total else "0.00"


LINE_COLUMNS = [
    Column("DAYS", _days),
    col("PROJECT", "project_id"),
    col("JOB", "job_id", no_wrap=True),
    Column("ITEM", lambda r: r.get("description") or r["item"]),
    col("QUANTITY", "quantity", lambda v: f"{float(v):,.6g}", justify="right"),
    col("UNIT", "unit"),
    col("PRICE", "unit_price", justify="right"),
    col("GROSS", "gross", justify="right"),
    Column("CREDITS", _credits_of, justify="right"),
    col("NET", "net", justify="right"),
]


def _footprint(footprint: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The month's energy and carbon of real accelerators; nothing for an invoice issued
    before they were kept."""
    if footprint is None:
        return []
    if not footprint["projects"]:
        return [("energy", "- (no real accelerator metered)")]
    return [
        ("energy", f"{footprint['energy_kwh']:,.3f} kWh"),
        ("carbon", f"{footprint['carbon_kg']:,.3f} kg CO2e"),
    ]


@handle_errors
def bill(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: this month, billing time zone).")
    ] = None,
    org: OrgOption = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project (name or id).")
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the invoice as CSV to this file (- for stdout)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Your organization's invoice of a month: issued, or the draft so far."""
    with client() as api:
        if csv is not None:
            text = api.bills.csv(month, org=org, project=project)
            if str(csv) == "-":
                typer.echo(text, nl=False)
            else:
                csv.write_text(text, encoding="utf-8")
                status(f"wrote {escape(str(csv))}")
            return
        answer = api.bills.get(month, org=org, project=project).model_dump(mode="json")
    if as_json:
        print_json(answer)
        return
    totals = answer["totals"]
    title = (
        f"{answer['org_id']} {answer['period']} ({answer['status']}"
        + (f" {answer['id']}" if answer.get("id") else "")
        + f"), {answer['currency']}"
    )
    print_table(answer["lines"], LINE_COLUMNS, title=title, empty=f"{title}: no usage billed")
    print_fields(
        [
            ("gross", totals["gross"]),
            ("plan discount", f"-{totals['discount']}"),
            ("subsidies", f"-{totals['subsidy']}"),
            ("vouchers", f"-{totals['voucher']}"),
            ("net", f"{totals['net']} {answer['currency']}"),
            *_footprint(answer.get("footprint")),
        ]
    )
    for item in answer.get("unpriced", []):
        status(
            f"[dim]not priced by the plan: {escape(item['item'])} "
            f"{float(item['quantity']):.6g} {escape(item['unit'])}[/dim]"
        )


INVOICES = Noun(
    "invoice",
    [
        ID,
        col("ORG", "org_id"),
        col("MONTH", "period"),
        col("ISSUED", "issued_at", local_time),
        col("GROSS", "totals.gross", justify="right"),
        col("NET", "totals.net", justify="right"),
        col("CURRENCY", "currency"),
    ],
    empty="no issued invoices",
    sdk="invoices",
)


INVOICES.list(invoice_app)(
    INVOICES.call("list", "Issued invoices (org admins: their organization's).", org=OrgOption)
)


@INVOICES.action(
    invoice_app,
    "issue",
    lambda i: f"issued {escape(i['id'])}: net {i['totals']['net']} {i['currency']}",
)
def invoice_issue(
    api: "Client",
    org: OrgRequired,
    month: Annotated[str, typer.Option(help="YYYY-MM.")],
) -> "Bill":
    """Freeze an organization's invoice of a month (admins). It never changes afterwards."""
    return api.bills.issue(org, month)


@INVOICES.action(
    invoice_app,
    "adjust",
    lambda a: f"adjustment {escape(a['id'])}: {a['amount']} on {a['period']}",
)
def invoice_adjust(
    api: "Client",
    org: OrgRequired,
    month: Annotated[str, typer.Option(help="The open month that carries it, YYYY-MM.")],
    amount: Annotated[str, typer.Option(help="Signed amount; negative credits the tenant.")],
    description: Annotated[str, typer.Option(help="Why, as the tenant will read it.")],
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project id.")] = None,
    reference: Annotated[
        str | None, typer.Option(help="The issued invoice it corrects (inv_...).")
    ] = None,
    currency: CurrencyOption = "CNY",
) -> "Adjustment":
    """Add a correction line to an open month's invoice (admins)."""
    body = {
        "org_id": org,
        "month": month,
        "amount": amount,
        "description": description,
        "currency": currency,
    } | _given(project_id=project, reference=reference)
    return api.bills.adjust(body)
