"""Prices and credits: price plans, vouchers, subsidy programs, budgets (docs/billing.md)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.core import periods
from aicc.core.pricing import PricePlan
from aicc.services.billing import adjustments, budgets, credits, invoices, plans, records, views
from aicc.services.common import utcnow
from aicc.services.jobs import jobs, metering

router = APIRouter(prefix="/api/v1", tags=["billing"])


class Counted(TypedDict):
    """What invoices and budgets are counted in: the site's time zone (months begin at its
    midnight) and its default price plan."""

    zone: str
    default: PricePlan


def _counted(state: StateDep) -> Counted:
    settings = state.settings
    return Counted(zone=settings.site.timezone, default=settings.pricing)


@router.get("/price-plans", response_model=views.PricePlanVersions)
def price_plans_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    org: str | None = None,
) -> dict[str, Any]:
    """Every version of the center's plan and of the organizations the caller may read."""
    return paging.cut(plans.visible(session, who, org_id=org))


@router.post("/price-plans", status_code=201, response_model=views.PricePlanVersion)
def price_plans_create(
    body: plans.PlanIn, who: CurrentUser, session: SessionDep
) -> views.PricePlanVersion:
    """A new version of the center's plan (`org_id` null) or of one organization's. Admins."""
    return plans.create(session, who, body)


@router.get("/price-plans/effective", response_model=views.EffectivePricePlan)
def price_plans_effective(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    org: str | None = None,
    at: periods.BookTime | None = None,
) -> views.EffectivePricePlan:
    """The plan in force for an organization (default: the caller's) at `at` (default: now)."""
    at = at or utcnow()
    return plans.in_force(session, who, org_id=org, at=at, default=state.settings.pricing)


@router.get("/vouchers", response_model=views.Vouchers)
def vouchers_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    org: str | None = None,
) -> dict[str, Any]:
    """Vouchers the caller may see, each with `remaining`: what issued invoices left."""
    return paging.cut(credits.vouchers(session, who, org_id=org))


@router.post("/vouchers", status_code=201, response_model=views.Voucher)
def vouchers_create(
    body: credits.VoucherIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> views.Voucher:
    """Issue a voucher to an organization, perhaps limited to a project and models. Admins."""
    return credits.create_voucher(session, who, body, zone=state.settings.site.timezone)


@router.get("/vouchers/{voucher_id}", response_model=views.Voucher)
def vouchers_show(voucher_id: str, who: CurrentUser, session: SessionDep) -> views.Voucher:
    return credits.get_voucher(session, who, voucher_id)


@router.get("/subsidies", response_model=views.Subsidies)
def subsidies_list(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    paging: PageArgs,
) -> dict[str, Any]:
    """Programs that apply to the caller's organization, with this year's cap left."""
    zone = state.settings.site.timezone
    return paging.cut(credits.subsidies(session, who, zone=zone, now=utcnow()))


@router.post("/subsidies", status_code=201, response_model=views.Subsidy)
def subsidies_create(
    body: credits.SubsidyIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> views.Subsidy:
    """A subsidy program for one organization or all. Admins."""
    zone = state.settings.site.timezone
    return credits.create_subsidy(session, who, body, zone=zone, now=utcnow())


@router.get("/budgets", response_model=views.Budgets)
def budgets_list(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    paging: PageArgs,
) -> dict[str, Any]:
    """Budgets the caller may see, with this month's `spent`, `committed` (running jobs until
    their declared end) and `left`."""
    running = metering.running_for(session, who)
    found = budgets.budgets(session, who, running=running, now=utcnow(), **_counted(state))
    return paging.cut(found)


def _set_budget(
    state: StateDep, session: SessionDep, who: CurrentUser, body: budgets.BudgetIn, **owner: str
) -> views.Budget:
    """Set the budget of `owner`: `project_id=` or `org_id=`."""
    running = metering.running_for(session, who)
    return budgets.set_budget(session, who, body, running=running, **owner, **_counted(state))


@router.put("/projects/{project_id}/budget", response_model=views.Budget)
def project_budget_set(
    project_id: str, body: budgets.BudgetIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> views.Budget:
    """A project's monthly limit and alert thresholds. Its organization's admins."""
    return _set_budget(state, session, who, body, project_id=project_id)


@router.put("/orgs/{org_id}/budget", response_model=views.Budget)
def org_budget_set(
    org_id: str, body: budgets.BudgetIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> views.Budget:
    """An organization's monthly limit and alert thresholds. Its admins, center admins."""
    return _set_budget(state, session, who, body, org_id=org_id)


@router.delete("/budgets/{budget_id}", status_code=204, response_model=None)
def budgets_delete(budget_id: str, who: CurrentUser, session: SessionDep) -> Response:
    budgets.delete_budget(session, who, budget_id)
    return Response(status_code=204)


@router.get("/usage", response_model=views.UsageRecords)
def usage_list(
    who: CurrentUser,
    session: SessionDep,
    org: str | None = None,
    project: str | None = None,
    job: str | None = None,
    month: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> views.UsageRecords:
    """Usage records (one per replica, hour and accelerator model; one per archive and day of
    storage), oldest first; filters by organization, project, job and month (YYYY-MM)."""
    job_id = None if job is None else jobs.get(session, who, job).id  # another tenant's: 404
    rows = records.visible(
        session, who, org_id=org, project=project, job_id=job_id, month=month, limit=limit
    )
    return views.UsageRecords(items=rows, next_cursor=None)


def _invoice(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    month: str | None = None,
    org: str | None = None,
    project: str | None = None,
) -> invoices.Invoice:
    """The invoice `/bills` shows and `/bills/export` writes, from their query parameters."""
    counted = _counted(state)
    month = month or periods.month_of(utcnow(), counted["zone"])
    return invoices.read(session, who, month=month, org_id=org, project=project, **counted)


InvoiceDep = Annotated[invoices.Invoice, Depends(_invoice)]


@router.get("/bills", response_model=views.Bill)
def bills_show(invoice: InvoiceDep) -> views.Bill:
    """An organization's invoice of a month (default: the caller's, this month): the issued one,
    or the draft as of now. Members see the lines of their projects; `project` narrows it."""
    return invoice.bill()


class CSVResponse(PlainTextResponse):
    """Documented in /openapi.json as what it is, `text/csv`."""

    media_type = "text/csv"


@router.get("/bills/export", response_class=CSVResponse, response_model=None)
def bills_export(invoice: InvoiceDep) -> Response:
    """The same invoice as CSV: one row per line and a TOTAL row."""
    name = f"aicc-{invoice.org_id}-{invoice.period}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return CSVResponse(invoices.to_csv(invoice), headers=headers)


@router.post("/bills/issue", response_model=views.Bill)
def bills_issue(
    body: invoices.IssueIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> views.Bill:
    """Freeze an organization's invoice of a month. Admins; 409 when already issued."""
    return invoices.issue(session, who, body, **_counted(state)).bill()


@router.post("/bills/adjustments", status_code=201, response_model=views.Adjustment)
def adjustments_create(
    body: adjustments.AdjustmentIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> views.Adjustment:
    """A signed correction on an open month's invoice. Admins; 409 for an issued month."""
    return adjustments.adjust(session, who, body, zone=state.settings.site.timezone)


@router.get("/invoices", response_model=views.IssuedInvoices)
def invoices_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    org: str | None = None,
) -> dict[str, Any]:
    """Issued invoices of the caller's organization (org admins; center admins: all)."""
    return paging.cut(invoices.issued(session, who, org_id=org))
