"""Prices and credits: price plans, vouchers, subsidy programs, budgets (docs/billing.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import Cursor, Limit, page
from aicc.core import periods
from aicc.services import tenancy
from aicc.services.billing import budgets, credits, invoices, plans, records
from aicc.services.common import utcnow

router = APIRouter(prefix="/api/v1", tags=["billing"])


@router.get("/price-plans")
def list_price_plans(
    who: CurrentUser,
    session: SessionDep,
    org: str | None = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every version of the center's plan and of the organizations the caller may read."""
    rows = page(plans.visible(session, who, org_id=org), limit, cursor)
    return {**rows, "items": [plans.as_dict(r) for r in rows["items"]]}


@router.post("/price-plans", status_code=201)
def create_price_plan(body: plans.PlanIn, who: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """A new version of the center's plan (`org_id` null) or of one organization's. Admins."""
    row = plans.create(session, who, body)
    session.flush()
    return plans.as_dict(row)


@router.get("/price-plans/effective")
def effective_price_plan(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    org: str | None = None,
    at: periods.BookTime | None = None,
) -> dict[str, Any]:
    """The plan in force for an organization (default: the caller's) at `at` (default: now)."""
    org_id = tenancy.get_org(session, who, org or who.org_id).id
    when = at or utcnow()
    found = plans.effective(session, org_id=org_id, at=when, default=state.settings.pricing)
    return {
        "org_id": org_id,
        "at": when,
        "versions": list(found.ids),
        **found.plan.model_dump(mode="json"),
    }


@router.get("/vouchers")
def list_vouchers(
    who: CurrentUser,
    session: SessionDep,
    org: str | None = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Vouchers the caller may see, each with `remaining`: what issued invoices left."""
    return page(credits.vouchers(session, who, org_id=org), limit, cursor)


@router.post("/vouchers", status_code=201)
def create_voucher(
    body: credits.VoucherIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> dict[str, Any]:
    """Issue a voucher to an organization, perhaps limited to a project and models. Admins."""
    row = credits.create_voucher(session, who, body, zone=state.settings.site.timezone)
    return credits.voucher_dict(row, credits.voucher_left(row, {}))


@router.get("/vouchers/{voucher_id}")
def get_voucher(voucher_id: str, who: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return credits.get_voucher(session, who, voucher_id)


@router.get("/subsidies")
def list_subsidies(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Programs that apply to the caller's organization, with this year's cap left."""
    zone = state.settings.site.timezone
    return page(credits.subsidies(session, who, zone=zone, now=utcnow()), limit, cursor)


@router.post("/subsidies", status_code=201)
def create_subsidy(
    body: credits.SubsidyIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> dict[str, Any]:
    """A subsidy program for one organization or all. Admins."""
    row = credits.create_subsidy(session, who, body)
    session.flush()
    zone = state.settings.site.timezone
    return next(
        s for s in credits.subsidies(session, who, zone=zone, now=utcnow()) if s["id"] == row.id
    )


def _budgets(state: StateDep, session: SessionDep, who: CurrentUser) -> list[dict[str, Any]]:
    settings = state.settings
    return budgets.budgets(
        session, who, now=utcnow(), zone=settings.site.timezone, default=settings.pricing
    )


def _budget(
    state: StateDep, session: SessionDep, who: CurrentUser, budget_id: str
) -> dict[str, Any]:
    return next(b for b in _budgets(state, session, who) if b["id"] == budget_id)


@router.get("/budgets")
def list_budgets(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Budgets the caller may see, with this month's `spent`, `committed` (running jobs until
    their declared end) and `left`."""
    return page(_budgets(state, session, who), limit, cursor)


@router.put("/projects/{project_id}/budget")
def set_project_budget(
    project_id: str, body: budgets.BudgetIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> dict[str, Any]:
    """A project's monthly limit and alert thresholds. Its organization's admins."""
    row = budgets.set_budget(session, who, body, project_id=project_id)
    session.flush()
    return _budget(state, session, who, row.id)


@router.put("/orgs/{org_id}/budget")
def set_org_budget(
    org_id: str, body: budgets.BudgetIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> dict[str, Any]:
    """An organization's monthly limit and alert thresholds. Its admins, center admins."""
    row = budgets.set_budget(session, who, body, org_id=org_id)
    session.flush()
    return _budget(state, session, who, row.id)


@router.delete("/budgets/{budget_id}", status_code=204)
def delete_budget(budget_id: str, who: CurrentUser, session: SessionDep) -> Response:
    budgets.delete_budget(session, who, budget_id)
    return Response(status_code=204)


@router.get("/usage")
def list_usage(
    who: CurrentUser,
    session: SessionDep,
    org: str | None = None,
    project: str | None = None,
    job: str | None = None,
    month: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Usage records (one per replica, hour and accelerator model; one per archive and day of
    storage), oldest first; filters by organization, project, job and month (YYYY-MM)."""
    rows = records.visible(
        session, who, org_id=org, project=project, job_id=job, month=month, limit=limit
    )
    return {"items": [records.as_dict(r) for r in rows], "next_cursor": None}


def _invoice(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    month: str | None,
    org: str | None,
    project: str | None,
) -> invoices.Invoice:
    settings = state.settings
    return invoices.read(
        session,
        who,
        month=month or periods.month_of(utcnow(), settings.site.timezone),
        org_id=org,
        project=project,
        zone=settings.site.timezone,
        default=settings.pricing,
    )


@router.get("/bills")
def read_bill(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    month: str | None = None,
    org: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """An organization's invoice of a month (default: the caller's, this month): the issued one,
    or the draft as of now. Members see the lines of their projects; `project` narrows it."""
    return _invoice(who, state, session, month, org, project).as_dict()


class CSVResponse(PlainTextResponse):
    """Documented in /openapi.json as what it is, `text/csv`."""

    media_type = "text/csv"


@router.get("/bills/export", response_class=CSVResponse)
def export_bill(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    month: str | None = None,
    org: str | None = None,
    project: str | None = None,
) -> Response:
    """The same invoice as CSV: one row per line and a TOTAL row."""
    invoice = _invoice(who, state, session, month, org, project)
    name = f"aicc-{invoice.org_id}-{invoice.period}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return CSVResponse(invoices.to_csv(invoice), headers=headers)


@router.post("/bills/issue")
def issue_bill(
    body: invoices.IssueIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> dict[str, Any]:
    """Freeze an organization's invoice of a month. Admins; 409 when already issued."""
    settings = state.settings
    found = invoices.issue(
        session, who, body, zone=settings.site.timezone, default=settings.pricing
    )
    return found.as_dict()


@router.post("/bills/adjustments", status_code=201)
def add_adjustment(
    body: invoices.AdjustmentIn, who: CurrentUser, state: StateDep, session: SessionDep
) -> dict[str, Any]:
    """A signed correction on an open month's invoice. Admins; 409 for an issued month."""
    row = invoices.adjust(session, who, body, zone=state.settings.site.timezone)
    return {
        "id": row.id,
        "org_id": row.org_id,
        "project_id": row.project_id,
        "period": row.period,
        "amount": row.amount,
        "currency": row.currency,
        "description": row.description,
        "reference": row.reference,
        "created_at": row.created_at,
    }


@router.get("/invoices")
def list_invoices(
    who: CurrentUser,
    session: SessionDep,
    org: str | None = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Issued invoices of the caller's organization (org admins; center admins: all)."""
    return page(invoices.issued(session, who, org_id=org), limit, cursor)
