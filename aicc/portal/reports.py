"""The center's monthly report as a page (center admins; anyone else the 403 page): a month
picker, the figures, charts of daily utilization, tenants by kind and daily energy and carbon,
and the same report as CSV and PDF. Every figure is `services.reports.monthly`'s, as the API
answers it; this module only draws the charts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from aicc.portal.page import OperatorPage
from aicc.portal.rendering import PortalRoute
from aicc.services.common import utcnow
from aicc.services.reports import export, pdf
from aicc.services.reports.monthly import for_server
from aicc.services.reports.views import MonthlyReport

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")


def utilization_chart(report: MonthlyReport, t: Any) -> dict[str, Any]:
    """Allocated and busy device-hours of real devices, day by day."""
    return {
        "type": "bars",
        "categories": [d.group[-2:] for d in report.by_day],
        "series": [
            {
                "name": t("reports.allocated"),
                "values": [round(d.allocated_device_hours, 2) for d in report.by_day],
            },
            {
                "name": t("reports.busy"),
                "values": [round(d.busy_device_hours or 0.0, 2) for d in report.by_day],
            },
        ],
    }


def tenants_chart(report: MonthlyReport, t: Any) -> dict[str, Any]:
    return {
        "type": "bars",
        "categories": [t(f"org_kind.{k.kind}") for k in report.tenants],
        "series": [
            {"name": t("reports.served"), "values": [k.served for k in report.tenants]},
            {"name": t("reports.new"), "values": [k.new for k in report.tenants]},
        ],
        "integer": True,
    }


def energy_chart(report: MonthlyReport, t: Any) -> dict[str, Any]:
    """Each day's kWh, IT and the facility's overhead stacked, and its kg CO₂e."""
    days = report.energy_by_day
    return {
        "type": "bars",
        "categories": [d.day[-2:] for d in days],
        "series": [
            {
                "name": t("reports.it_kwh"),
                "values": [round(d.it_kwh, 3) for d in days],
                "stack": "kwh",
            },
            {
                "name": t("reports.overhead_kwh"),
                "values": [round(d.facility_kwh - d.it_kwh, 3) for d in days],
                "stack": "kwh",
            },
            {"name": t("reports.carbon_kg"), "values": [round(d.carbon_kg, 3) for d in days]},
        ],
    }


@router.get("/reports")
def reports_page(page: OperatorPage, month: str = "") -> Response:
    found = for_server(
        page.session, page.me.who, settings=page.state.settings, month=month or None, now=utcnow()
    )
    return page.render(
        "reports.html",
        nav="reports",
        report=found,
        utilization_chart=utilization_chart(found, page.t),
        tenants_chart=tenants_chart(found, page.t),
        energy_chart=energy_chart(found, page.t),
        pdf_language="zh-CN" if page.language.startswith("zh") else "en",
    )


@router.get("/reports.csv")
def reports_csv(page: OperatorPage, month: str = "") -> Response:
    found = for_server(
        page.session, page.me.who, settings=page.state.settings, month=month or None, now=utcnow()
    )
    headers = {"Content-Disposition": f'attachment; filename="aicc-report-{found.month}.csv"'}
    return Response(export.to_csv(found), media_type="text/csv", headers=headers)


@router.get("/reports.pdf")
def reports_pdf(page: OperatorPage, month: str = "", lang: str = "") -> Response:
    """The PDF in `lang`, else the portal's language."""
    language = lang if lang in ("en", "zh-CN") else page.language
    language = "zh-CN" if language.startswith("zh") else "en"
    found = for_server(
        page.session, page.me.who, settings=page.state.settings, month=month or None, now=utcnow()
    )
    name = f"aicc-report-{found.month}-{language}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(pdf.render(found, language), media_type="application/pdf", headers=headers)
