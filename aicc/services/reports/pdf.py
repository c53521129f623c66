"""The monthly report as a PDF, in pure Python (reportlab): tables, the daily utilization and
tenants-by-kind charts drawn with reportlab's own graphics, Chinese set in the CID font
`STSong-Light`, which every PDF reader carries, so no font file ships with AICC. reportlab is
imported here only, when a PDF is asked for."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from aicc.services.reports.labels import words
from aicc.services.reports.views import DeviceHours, MonthlyReport

CJK_FONT = "STSong-Light"
MONEY_WIDTHS = (34, 16, 22, 22, 24, 30, 28)  # mm, within A4's 178 mm between the margins
ALLOCATED = "#2f6fdf"
BUSY = "#f59e0b"


def hours(value: float | None) -> str:
    """Device-hours, kWh and PFLOPS-hours as the PDF and the page print them: two decimals."""
    return "-" if value is None else f"{value:.2f}"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(report: MonthlyReport, language: str = "en") -> bytes:
    """The PDF's bytes, in `language` (`en` or `zh-CN`)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    w = words(language)
    look = _look(report, language)
    story: list[Any] = [
        *_heading(report, w, look),
        *_utilization(report, w, look),
        *_tenants_and_jobs(report, w, look),
        *_money_and_energy(report, w, look),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"{w['title']} {report.month}",
        author="AICC",
    )
    doc.build(story)
    return out.getvalue()


@dataclass(frozen=True)
class _Look:
    """One rendering's fonts and paragraph styles, and the table style every section shares."""

    font: str
    bold: str
    body: Any
    h1: Any
    h2: Any
    head: Any
    note: Any

    def table(self, rows: list[list[str]], widths: list[float] | None = None) -> Any:
        """Header cells wrap (Paragraphs) when the columns are given their widths."""
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Table, TableStyle

        if widths is not None:
            rows = [[Paragraph(cell, self.head) for cell in rows[0]], *rows[1:]]
        t = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), self.font, 8.5),
                    ("FONT", (0, 0), (-1, 0), self.bold, 8.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#c8d0da")),
                    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        return t


def _look(report: MonthlyReport, language: str) -> _Look:
    """Chinese is set in the CID font throughout (it has no bold); the status note is amber while
    the month is provisional, green once it is final."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    chinese = language.lower().startswith("zh")
    font = _cjk_font() if chinese else "Helvetica"
    bold = font if chinese else "Helvetica-Bold"
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=font, fontSize=9, leading=13)
    return _Look(
        font=font,
        bold=bold,
        body=body,
        h1=ParagraphStyle("h1", parent=base["Title"], fontName=bold, fontSize=16, leading=22),
        h2=ParagraphStyle(
            "h2", parent=base["Heading2"], fontName=bold, fontSize=12, leading=16, keepWithNext=1
        ),
        head=ParagraphStyle("head", parent=body, fontName=bold, fontSize=8, leading=10),
        note=ParagraphStyle(
            "note",
            parent=body,
            textColor=colors.HexColor("#b45309")
            if report.provisional
            else colors.HexColor("#166534"),
        ),
    )


def _heading(report: MonthlyReport, w: dict[str, str], look: _Look) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    return [
        Paragraph(w["title"], look.h1),
        Paragraph(w["month"].format(month=report.month, zone=report.zone), look.body),
        Paragraph(
            w["generated"].format(at=report.generated_at.strftime("%Y-%m-%d %H:%M UTC")),
            look.body,
        ),
        Paragraph(w["provisional"] if report.provisional else w["final"], look.note),
        Spacer(1, 4 * mm),
    ]


def _utilization(report: MonthlyReport, w: dict[str, str], look: _Look) -> list[Any]:
    """The month's totals, the daily chart and the split by device model."""
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    u = report.utilization
    return [
        Paragraph(w["utilization"], look.h2),
        look.table(
            [
                [w["capacity"], w["allocated"], w["allocation_rate"], w["busy"], w["busy_rate"]],
                [
                    hours(u.capacity_device_hours),
                    hours(u.allocated_device_hours),
                    rate(u.allocation_rate),
                    hours(u.busy_device_hours),
                    rate(u.busy_rate),
                ],
            ],
            [m * mm for m in (36, 36, 28, 40, 38)],
        ),
        Paragraph(f"{w['simulated']}: {hours(report.simulated_allocated_device_hours)}", look.body),
        Spacer(1, 2 * mm),
        Paragraph(w["daily"], look.body),
        _daily_chart(report.by_day, w, look.font),
        Paragraph(w["by_model"], look.body),
        look.table(
            [[w["model"], w["capacity"], w["allocated"], w["allocation_rate"], w["busy_rate"]]]
            + [
                [
                    m.group,
                    hours(m.capacity_device_hours),
                    hours(m.allocated_device_hours),
                    rate(m.allocation_rate),
                    rate(m.busy_rate),
                ]
                for m in report.by_model
            ],
            [m * mm for m in (34, 36, 36, 32, 40)],
        ),
    ]


def _tenants_and_jobs(report: MonthlyReport, w: dict[str, str], look: _Look) -> list[Any]:
    from reportlab.platypus import Paragraph

    tenants = [[w["kind"], w["served"], w["new"], w["total"]]]
    for t in report.tenants:
        tenants.append([w.get(f"kind.{t.kind}", t.kind), str(t.served), str(t.new), str(t.total)])
    total = str(sum(t.total for t in report.tenants))
    tenants.append([w["total"], str(report.tenants_served), str(report.tenants_new), total])
    jobs = [[w["kind"], w["submitted"], w["succeeded"], w["failed"], w["cancelled"]]]
    for j in report.jobs:
        counts = (j.submitted, j.succeeded, j.failed, j.cancelled)
        jobs.append([w.get(f"job.{j.kind}", j.kind), *(str(c) for c in counts)])
    return [
        Paragraph(w["tenants"], look.h2),
        look.table(tenants),
        _kinds_chart(report, w, look.font),
        Paragraph(w["jobs"], look.h2),
        look.table(jobs),
    ]


def _money_and_energy(report: MonthlyReport, w: dict[str, str], look: _Look) -> list[Any]:
    """Compute delivered, revenue by organization, energy, and how the revenue is shared."""
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph

    other = report.pflops_hours_other_sites
    energy = report.energy
    return [
        Paragraph(w["compute"], look.h2),
        Paragraph(
            f"{w['pflops_hours']}: {hours(report.pflops_hours)}"
            + (w["other_sites"].format(hours=hours(other)) if other else ""),
            look.body,
        ),
        Paragraph(w["revenue"].format(currency=report.revenue.currency), look.h2),
        _money_table(report, w, lambda rows: look.table(rows, [m * mm for m in MONEY_WIDTHS])),
        Paragraph(w["energy"], look.h2),
        look.table(
            [
                [w["it_kwh"], w["facility_kwh"], w["pue"], w["carbon_kg"]],
                [
                    hours(energy.it_kwh),
                    hours(energy.facility_kwh),
                    "-" if energy.pue is None else f"{energy.pue:.3f}",
                    hours(energy.carbon_kg),
                ],
            ]
        ),
        look.table(
            [
                [w["pue_configured"], w["pue_meters"], w["meter_hours"], w["meter_gaps"]],
                [
                    "-" if energy.configured_pue is None else f"{energy.configured_pue:.3f}",
                    "-" if energy.meters_pue is None else f"{energy.meters_pue:.3f}",
                    str(energy.meters_hours),
                    str(energy.meters_gap_hours),
                ],
            ]
        ),
        Paragraph(w["shares"], look.h2),
        look.table(
            [[w["party"], w["fee"], w["payments"], w["public"], w["total"]]]
            + [
                [w[s.party], str(s.fee), str(s.payments), str(s.public), str(s.total)]
                for s in report.revenue.shares
            ]
        ),
        Paragraph(w["rule"].format(**report.revenue.rule), look.body),
    ]


def _cjk_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _money_table(report: MonthlyReport, w: dict[str, str], table: Any) -> Any:
    names = ("gross", "discount", "subsidy", "voucher", "net")
    rows = [[w["org"], w["status"], *(w[n] for n in names)]]
    for bill in report.bills:
        rows.append([bill.name, w[bill.status], *(str(getattr(bill.totals, n)) for n in names)])
    rows.append([w["total"], "", *(str(getattr(report.revenue.totals, n)) for n in names)])
    return table(rows)


def _daily_chart(days: list[DeviceHours], w: dict[str, str], font: str) -> Any:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    drawing = Drawing(480, 170)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 36, 30, 430, 120
    chart.data = [
        [d.allocated_device_hours for d in days] or [0.0],
        [d.busy_device_hours or 0.0 for d in days] or [0.0],
    ]
    chart.categoryAxis.categoryNames = [d.group[-2:] for d in days] or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.HexColor(ALLOCATED)
    chart.bars[1].fillColor = colors.HexColor(BUSY)
    chart.barSpacing = 0.5
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = 40, 165
    legend.fontName, legend.fontSize = font, 7
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.colorNamePairs = [
        (colors.HexColor(ALLOCATED), w["allocated"]),
        (colors.HexColor(BUSY), w["busy"]),
    ]
    drawing.add(legend)
    return drawing


def _kinds_chart(report: MonthlyReport, w: dict[str, str], font: str) -> Any:
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    kinds = report.tenants
    drawing = Drawing(480, 20 + 14 * len(kinds))
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 90, 10, 360, 14 * len(kinds)
    chart.data = [[t.served for t in kinds] or [0]]
    chart.categoryAxis.categoryNames = [w.get(f"kind.{t.kind}", t.kind) for t in kinds] or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueStep = 1
    chart.bars[0].fillColor = colors.HexColor(ALLOCATED)
    drawing.add(chart)
    return drawing
