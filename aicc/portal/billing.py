"""Bills, vouchers and budgets (`/bills`), and the operators' price list (`/center/prices`).

Every figure comes from the billing services with the signed-in person's principal, exactly as
`GET /api/v1/bills`, `/vouchers`, `/subsidies`, `/budgets` and `/invoices` answer it: a member
sees the lines of their projects, an organization admin all of the organization, an operator
everything (narrowed with `?org=`); another tenant's organization is a 404. The CSV is the
API's (`invoices.to_csv`). Operators may issue a voucher from the price list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.api.state import AppState
from aicc.core import periods
from aicc.core.tenancy import can_manage
from aicc.portal.auth import Me
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Posted, Rejected, checked, service_call, text_input
from aicc.portal.i18n import Translator
from aicc.portal.page import OperatorPage, OperatorPostingPage, Page, PageDep
from aicc.portal.rendering import PortalRoute
from aicc.services.billing import budgets, credits, invoices, plans
from aicc.services.billing.views import Budget, IssuedInvoice, Subsidy, Voucher
from aicc.services.common import Invalid, utcnow
from aicc.services.jobs import metering
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

MONTHS_BACK = 12


def money(value: str | Decimal | None) -> str:
    if value is None or value == "":
        return "—"
    try:
        return f"{Decimal(value):,.2f}"
    except InvalidOperation:
        return str(value)


def item_label(t: Translator, item: str) -> str:
    """An invoice line's item for people (`accelerator:A100-80GB` -> "A100-80GB accelerator
    time"); an item this portal has no message for is shown as it is stored."""
    kind, _, model = item.partition(":")
    key = f"bills.item.{kind}"
    return t(key, model=model) if t.has(key) else item


def _months(now: datetime, zone: str) -> list[str]:
    """This month and the eleven before it, newest first."""
    year, month = map(int, periods.month_of(now, zone).split("-"))
    out = []
    for _ in range(MONTHS_BACK):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out


@dataclass(frozen=True)
class Names:
    orgs: dict[str, str]
    projects: dict[str, str]

    def scope(self, org_id: str | None, project_id: str | None) -> str:
        org = self.orgs.get(org_id or "", org_id or "")
        if project_id is None:
            return org
        return f"{org} / {self.projects.get(project_id, project_id)}"


@dataclass(frozen=True)
class BillsPage:
    month: str
    months: list[str]
    org: str | None  # the organization shown; None: an operator looking at all of them
    orgs: list[tuple[str, str]]  # (id, name) for the operators' filter
    invoice: invoices.Invoice | None
    issued: list[IssuedInvoice]
    vouchers: list[Voucher]
    subsidies: list[Subsidy]
    budgets: list[Budget]
    names: Names

    @property
    def export_query(self) -> str:
        return urlencode({"month": self.month, **({"org": self.org} if self.org else {})})


def bills_page(
    session: Any, state: AppState, me: Me, *, month: str | None, org: str | None
) -> BillsPage:
    who = me.who
    zone, default, now = state.settings.site.timezone, state.settings.pricing, utcnow()
    months = _months(now, zone)
    chosen = month.strip() if month and _is_month(month) else months[0]
    org_rows = tenancy.list_orgs(session, who)
    shown: str | None = who.org_id  # an operator sees every organization until they pick one
    if who.is_admin:
        shown = tenancy.get_org(session, who, org).id if org else None
    invoice = None
    if shown is not None:
        invoice = invoices.read(
            session, who, month=chosen, org_id=shown, project=None, zone=zone, default=default
        )
    subsidies = credits.subsidies(session, who, zone=zone, now=now)
    held = metering.running_for(session, who)
    found = budgets.budgets(session, who, running=held, now=now, zone=zone, default=default)
    if shown is not None:
        subsidies = [s for s in subsidies if s.org_id in (None, shown)]
        found = [b for b in found if b.org_id == shown]
    names = Names(
        {o.id: o.name for o in org_rows},
        {p.id: p.name for p in tenancy.list_projects(session, who)},
    )
    return BillsPage(
        month=chosen,
        months=months if chosen in months else [chosen, *months],
        org=shown if who.is_admin else None,
        orgs=[(o.id, o.name) for o in org_rows],
        invoice=invoice,
        issued=invoices.issued(session, who, org_id=shown if who.is_admin else None),
        vouchers=credits.vouchers(session, who, org_id=shown if who.is_admin else None),
        subsidies=subsidies,
        budgets=found,
        names=names,
    )


@dataclass(frozen=True)
class MonthSpend:
    """The dashboard's card: this month's spend in the person's scope (their organization's, or
    a member's projects', as on /bills) and the tightest budget that applies to it, if any."""

    month: str
    spent: Decimal  # the invoice's gross less the plan's discount: what budgets count
    currency: str
    budget: Budget | None  # from `budgets.budgets`: limit, spent, committed, left
    scope: str  # the budget's organization or project, by name

    @property
    def share(self) -> float:
        """The budget's spent share of its limit, 0..1 (over 1 when the limit is passed)."""
        if self.budget is None or not Decimal(self.budget.limit):
            return 0.0
        return float(Decimal(self.budget.spent) / Decimal(self.budget.limit))


def month_spend(session: Any, state: AppState, me: Me) -> MonthSpend | None:
    """None for an operator, who belongs to no organization (the card is a tenant's). Reads
    exactly what /bills reads for this month, with the same principal: `invoices.read` (a member
    gets the lines of their projects only) and `budgets.budgets` (those the person may see).
    The tightest budget is the one with the least money left, then the largest share spent."""
    who = me.who
    if who.is_admin or who.org_id is None:
        return None
    zone, default, now = state.settings.site.timezone, state.settings.pricing, utcnow()
    month = periods.month_of(now, zone)
    invoice = invoices.read(
        session, who, month=month, org_id=who.org_id, project=None, zone=zone, default=default
    )
    totals = invoice.totals()
    held = metering.running_for(session, who)
    found = budgets.budgets(session, who, running=held, now=now, zone=zone, default=default)
    tightest = min(
        (b for b in found if b.org_id == who.org_id),
        key=_room,
        default=None,
    )
    scope = ""
    if tightest is not None:
        names = Names(
            {o.id: o.name for o in tenancy.list_orgs(session, who)},
            {p.id: p.name for p in tenancy.list_projects(session, who)},
        )
        scope = names.scope(tightest.org_id, tightest.project_id)
    return MonthSpend(
        month=month,
        spent=Decimal(totals["gross"]) - Decimal(totals["discount"]),
        currency=tightest.currency if tightest else invoice.currency,
        budget=tightest,
        scope=scope,
    )


def _room(budget: Budget) -> tuple[Decimal, Decimal]:
    """Orders budgets tightest first: least money left, then the largest share spent."""
    limit = Decimal(budget.limit)
    return Decimal(budget.left), -Decimal(budget.spent) / (limit or Decimal(1))


def _is_month(text: str) -> bool:
    try:
        periods.parse_month(text)
    except ValueError:
        return False
    return True


def chart(page: BillsPage, t: Translator) -> dict[str, Any] | None:
    """Spend against budget: per budget, spent and committed stacked beside the limit; with no
    budget, the month's invoice by project (gross and net)."""
    if page.budgets:
        rows = page.budgets
        return {
            "type": "bars",
            "categories": [page.names.scope(b.org_id, b.project_id) for b in rows],
            "series": [
                {"name": t("bills.chart.spent"), "values": [float(b.spent) for b in rows],
                 "stack": "use"},
                {"name": t("bills.chart.committed"),
                 "values": [float(b.committed) for b in rows], "stack": "use"},
                {"name": t("bills.chart.limit"), "values": [float(b.limit) for b in rows]},
            ],
            "unit": rows[0].currency,
        }  # fmt: skip
    if page.invoice is None or not page.invoice.lines:
        return None
    by_project: dict[str, list[Decimal]] = {}
    for line in page.invoice.lines:
        name = page.names.scope(None, line.get("project_id")) if line.get("project_id") else "—"
        sums = by_project.setdefault(name.strip(" /"), [Decimal(0), Decimal(0)])
        sums[0] += Decimal(line["gross"])
        sums[1] += Decimal(line["net"])
    return {
        "type": "bars",
        "categories": list(by_project),
        "series": [
            {"name": t("bills.chart.gross"), "values": [float(v[0]) for v in by_project.values()]},
            {"name": t("bills.chart.net"), "values": [float(v[1]) for v in by_project.values()]},
        ],
        "unit": page.invoice.currency,
    }


@router.get("/bills")
def bills(page: PageDep, month: str | None = None, org: str | None = None) -> Response:
    return render_bills(page, month=month or None, org=org or None)


def render_bills(
    page: Page,
    *,
    month: str | None,
    org: str | None,
    form: PageForm | None = None,
    status: int = 200,
) -> Response:
    """The bills page, with the budget form (`money_forms`) as typed when it was refused."""
    found = bills_page(page.session, page.state, page.me, month=month, org=org)
    scopes = budget_scopes(page, found)
    return page.render(
        "bills.html",
        nav="bills",
        status=status,
        data=found,
        scopes=scopes,
        form=form or PageForm("budget", {"currency": "CNY", "thresholds": "50%, 80%, 100%"}),
        saved=page.query("saved"),
        chart=chart(found, page.t),
        money=money,
        item=lambda code: item_label(page.t, code),
        valid_now=valid_now,
        today=credits.today(utcnow(), page.state.settings.site.timezone),
    )


@router.get("/bills/export")
def bills_export(page: PageDep, month: str | None = None, org: str | None = None) -> Response:
    """The invoice as CSV, the same file as `GET /api/v1/bills/export`."""
    state = page.state
    zone = state.settings.site.timezone
    if month is not None and not _is_month(month):
        raise Invalid(f"month: {month!r} must be written YYYY-MM")
    invoice = invoices.read(
        page.session,
        page.me.who,
        month=month or periods.month_of(utcnow(), zone),
        org_id=org or None,
        project=None,
        zone=zone,
        default=state.settings.pricing,
    )
    name = f"aicc-{invoice.org_id}-{invoice.period}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(invoices.to_csv(invoice), media_type="text/csv", headers=headers)


# --- the operators' price list ---


def budget_scopes(page: Page, found: BillsPage) -> list[tuple[str, str]]:
    """What the person may set a budget on, as (value, name): the organization shown and its
    projects, where they manage it (its admins, operators); none for a member."""
    who = page.me.who
    org = found.org if who.is_admin else who.org_id
    if org is None or not can_manage(who, org_id=org):
        return []
    projects = [p for p in tenancy.list_projects(page.session, who) if p.org_id == org]
    return [(f"org:{org}", found.names.scope(org, None))] + [
        (f"project:{p.id}", found.names.scope(org, p.id)) for p in projects
    ]


def prices_page(page: Page, *, form: PageForm | None = None, status: int = 200) -> Response:
    session, who, state = page.session, page.me.who, page.state
    zone = state.settings.site.timezone
    org_rows = tenancy.list_orgs(session, who)
    return page.render(
        "prices.html",
        nav="prices",
        status=status,
        plans=plans.visible(session, who),
        default_plan=state.settings.pricing,
        vouchers=credits.vouchers(session, who),
        subsidies=credits.subsidies(session, who, zone=zone, now=utcnow()),
        orgs=[(o.id, o.name) for o in org_rows],
        org_names={o.id: o.name for o in org_rows},
        form=form or PageForm("voucher", {"currency": "CNY"}),
        plan_defaults=plan_defaults(page),
        money=money,
        created=page.query("created"),
        plan_created=page.query("plan"),
    )


@router.get("/center/prices")
def prices(page: OperatorPage) -> Response:
    return prices_page(page)


class VoucherForm(Posted):
    """The price list's form for a voucher."""

    org_id: str = text_input(60)
    project_id: str = text_input(60)
    name: str = text_input(300)
    amount: str = text_input(30)
    currency: str = text_input(10, "CNY")
    accelerators: str = text_input(500)
    valid_from: str = text_input(20)
    valid_until: str = text_input(20)


@router.post("/center/prices/vouchers")
def voucher_create(page: OperatorPostingPage, posted: Annotated[VoucherForm, Form()]) -> Response:
    values = {k: v.strip() for k, v in posted.typed().items()}
    form = PageForm("voucher", values)
    data: dict[str, Any] = {k: v or None for k, v in values.items() if k != "accelerators"}
    data["currency"] = values["currency"] or "CNY"
    data["accelerators"] = [a.strip() for a in values["accelerators"].split(",") if a.strip()]
    try:
        body = checked(form, credits.VoucherIn, data)
        with service_call(page.session, form):
            credits.create_voucher(
                page.session, page.me.who, body, zone=page.state.settings.site.timezone
            )
    except Rejected as refused:
        return prices_page(page, form=form, status=refused.status)
    return RedirectResponse("/center/prices?" + urlencode({"created": body.name}), status_code=303)


def plan_defaults(page: Page) -> dict[str, str]:
    """The new plan form's first values: the center's prices in force now, from the next whole
    hour in the site's time zone (a version starts on a whole hour)."""
    zone = ZoneInfo(page.state.settings.site.timezone)
    start = (utcnow().astimezone(zone) + timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    )
    now = plans.effective_center(page.session, at=utcnow(), default=page.state.settings.pricing)
    values = {"name": now.name, "currency": now.currency, "effective_from": start.isoformat()}
    values["accelerator_hour"] = ", ".join(f"{m}={p}" for m, p in now.accelerator_hour.items())
    for key in plans.PRICE_KEYS:
        price = getattr(now, key)
        values[key] = "" if price is None else str(price)
    values["discount"] = str(now.discount)
    values["api_tier"] = "" if now.api_tier is None else str(now.api_tier)
    return values


def valid_now(item: Voucher | Subsidy, today: date) -> bool:
    start, end = item.valid_from, item.valid_until
    return (start is None or start <= today) and (end is None or today <= end)
