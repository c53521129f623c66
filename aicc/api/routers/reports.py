"""The center's monthly report as JSON, CSV and PDF (center admins; docs/reports.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.core.tenancy import Principal
from aicc.services.common import utcnow
from aicc.services.reports import export, monthly, pdf
from aicc.services.reports.views import MonthlyReport

router = APIRouter(prefix="/api/v1", tags=["reports"])

Month = Annotated[
    str | None,
    Query(max_length=20, description="YYYY-MM in the billing time zone; default this month"),
]
Language = Annotated[Literal["en", "zh-CN"], Query(description="the PDF's language")]


class CSVResponse(PlainTextResponse):
    media_type = "text/csv"


class PDFResponse(Response):
    media_type = "application/pdf"


def report(who: Principal, state: StateDep, session: Session, month: str | None) -> MonthlyReport:
    return monthly.for_server(session, who, settings=state.settings, month=month, now=utcnow())


@router.get("/reports/monthly", response_model=MonthlyReport)
def reports_monthly(
    who: CurrentUser, state: StateDep, session: SessionDep, month: Month = None
) -> MonthlyReport:
    """One month of the center: utilization, tenants by kind, jobs, PFLOPS-hours sold, revenue,
    subsidies and vouchers, energy, PUE, carbon and the revenue shares; `provisional` while a
    bill of the month is a draft. Center admins."""
    return report(who, state, session, month)


@router.get("/reports/monthly.csv", response_class=CSVResponse, response_model=None)
def reports_monthly_csv(
    who: CurrentUser, state: StateDep, session: SessionDep, month: Month = None
) -> Response:
    """The same report as CSV, one figure a row: month, status, section, name, group, value,
    unit."""
    found = report(who, state, session, month)
    headers = {"Content-Disposition": f'attachment; filename="aicc-report-{found.month}.csv"'}
    return CSVResponse(export.to_csv(found), headers=headers)


@router.get(
    "/reports/monthly.pdf",
    response_class=PDFResponse,
    response_model=None,
    responses={
        200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def reports_monthly_pdf(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    month: Month = None,
    lang: Language = "en",
) -> Response:
    """The same report as a PDF with its charts, in English or Chinese (`lang=zh-CN`)."""
    found = report(who, state, session, month)
    name = f"aicc-report-{found.month}-{lang}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return PDFResponse(pdf.render(found, lang), headers=headers)
