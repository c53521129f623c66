"""The monthly report as CSV: one figure a row (`section, name, group, value, unit`), so a
spreadsheet filters it and a script finds a figure by its section and name."""

from __future__ import annotations

import csv
import io

from aicc.services.reports.views import DeviceHours, MonthlyReport

FIELDS = ("month", "status", "section", "name", "group", "value", "unit")


def _util_rows(section: str, u: DeviceHours) -> list[tuple[str, str, str, object, str]]:
    return [
        (section, "capacity_device_hours", u.group, round(u.capacity_device_hours, 6), "h"),
        (section, "allocated_device_hours", u.group, round(u.allocated_device_hours, 6), "h"),
        (section, "allocation_rate", u.group, _num(u.allocation_rate), ""),
        (section, "busy_device_hours", u.group, _num(u.busy_device_hours), "h"),
        (section, "busy_rate", u.group, _num(u.busy_rate), ""),
    ]


def _num(value: float | None) -> object:
    return "" if value is None else round(value, 6)


def to_csv(report: MonthlyReport) -> str:
    """Every figure the report has, money as decimal strings in the report's currency."""
    cur = report.revenue.currency
    rows: list[tuple[str, str, str, object, str]] = []
    rows += _util_rows("utilization", report.utilization)
    for u in report.by_model:
        rows += _util_rows("utilization_by_model", u)
    for u in report.by_day:
        rows += _util_rows("utilization_by_day", u)
    rows.append(
        (
            "utilization",
            "simulated_allocated_device_hours",
            "",
            round(report.simulated_allocated_device_hours, 6),
            "h",
        )
    )
    rows.append(("tenants", "served", "", report.tenants_served, "orgs"))
    rows.append(("tenants", "new", "", report.tenants_new, "orgs"))
    for t in report.tenants:
        rows += [
            ("tenants_by_kind", f, t.kind, getattr(t, f), "orgs")
            for f in ("served", "new", "total")
        ]
    for j in report.jobs:
        rows += [
            ("jobs", f, j.kind, getattr(j, f), "jobs")
            for f in ("submitted", "succeeded", "failed", "cancelled")
        ]
    rows.append(("compute", "pflops_hours", "", round(report.pflops_hours, 6), "PFLOPS-h"))
    rows.append(
        (
            "compute",
            "pflops_hours_other_sites",
            "",
            round(report.pflops_hours_other_sites, 6),
            "PFLOPS-h",
        )
    )
    rows.append(
        (
            "compute",
            "pflops_hours_simulated",
            "",
            round(report.pflops_hours_simulated, 6),
            "PFLOPS-h",
        )
    )
    totals = report.revenue.totals
    for name in ("gross", "discount", "subsidy", "voucher", "net"):
        rows.append(("revenue", name, "", str(getattr(totals, name)), cur))
    for bill in report.bills:
        for name in ("gross", "discount", "subsidy", "voucher", "net"):
            rows.append(
                (f"bill_{bill.status}", name, bill.org_id, str(getattr(bill.totals, name)), cur)
            )
    e = report.energy
    rows += [
        ("energy", "it_kwh", "", round(e.it_kwh, 6), "kWh"),
        ("energy", "facility_kwh", "", round(e.facility_kwh, 6), "kWh"),
        ("energy", "pue", "", _num(e.pue), ""),
        ("energy", "pue_configured", "", _num(e.configured_pue), ""),
        ("energy", "pue_meters", "", _num(e.meters_pue), ""),
        ("energy", "meter_hours", "", e.meters_hours, "h"),
        ("energy", "meter_gap_hours", "", e.meters_gap_hours, "h"),
        ("energy", "carbon_kg", "", round(e.carbon_kg, 6), "kg CO2e"),
    ]
    for day in report.energy_by_day:
        rows += [
            ("energy_by_day", "it_kwh", day.day, round(day.it_kwh, 6), "kWh"),
            ("energy_by_day", "facility_kwh", day.day, round(day.facility_kwh, 6), "kWh"),
            ("energy_by_day", "carbon_kg", day.day, round(day.carbon_kg, 6), "kg CO2e"),
        ]
    for share in report.revenue.shares:
        for name in ("fee", "payments", "public", "total"):
            rows.append(("shares", name, share.party, str(getattr(share, name)), cur))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    status = "provisional" if report.provisional else "final"
    for section, name, group, value, unit in rows:
        writer.writerow((report.month, status, section, name, group, value, unit))
    return out.getvalue()
