"""A job's resources on its page: what each replica asked for, what the meter recorded for the
job (device-hours, CPU and memory, energy and its carbon) and what that costs at the plan's
prices, and the files it wrote to `$AICC_OUTPUT_DIR`, with a download of them all.

Every figure comes from the services behind `GET /api/v1/usage?job=`, `GET /api/v1/bills` and
`GET /api/v1/jobs/{id}/outputs`, with the signed-in person's principal: another tenant's job is
a 404 here as there. The panel is its own fragment, polled slowly while the job runs, because
pricing reads the organization's whole month.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.states import JobState
from aicc.core.tenancy import Principal
from aicc.portal.auth import Me
from aicc.portal.billing import money
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute
from aicc.services.billing import invoices, records
from aicc.services.billing.views import UsageRecord
from aicc.services.common import ServiceError
from aicc.services.jobs import jobs, logs

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

LISTED_FILES = 20  # outputs named on the page; the download has them all
POLL = "every 15s"


@dataclass(frozen=True)
class Metered:
    """What the meter recorded for the job, summed over its replicas and hours."""

    accelerator_hours: float
    simulated_hours: float  # of `accelerator_hours`, on simulated devices
    pflops_hours: float
    cpu_core_hours: float
    memory_gib_hours: float
    energy_kwh: float | None  # None: no real accelerator was metered
    carbon_kg: float | None  # kg CO₂ of that energy; None as energy_kwh
    utilization: float | None  # measured busy share, weighted by time; None: not measured


@dataclass(frozen=True)
class Cost:
    gross: Decimal  # at the plan's prices
    net: Decimal  # after the plan's discount, subsidies and vouchers
    currency: str


@dataclass(frozen=True)
class Outputs:
    files: list[logs.OutputFile]  # the first LISTED_FILES
    count: int
    size: int


@dataclass(frozen=True)
class JobResources:
    job_id: str
    terminal: bool
    replicas: int
    request: dict[str, Any]  # the spec's `resources`, per replica, in stored units
    metered: Metered | None
    cost: Cost | None
    outputs: Outputs | None

    @property
    def accelerator(self) -> dict[str, Any]:
        found: dict[str, Any] = self.request.get("accelerator") or {}
        return found


def metered(rows: list[UsageRecord]) -> Metered | None:
    """Sums of the compute records; None when there are none yet."""
    compute = [r for r in rows if r.kind == "compute"]
    if not compute:
        return None
    real = records.footprint(compute)
    measured = [
        (r.utilization, r.seconds) for r in compute if r.utilization is not None and r.seconds > 0
    ]
    weight = sum(seconds for _, seconds in measured)
    return Metered(
        accelerator_hours=sum(r.accelerator_hours for r in compute),
        simulated_hours=sum(r.accelerator_hours for r in compute if r.simulated),
        pflops_hours=sum(r.pflops_hours for r in compute),
        cpu_core_hours=sum(r.cpu_core_hours for r in compute),
        memory_gib_hours=sum(r.memory_gib_hours for r in compute),
        energy_kwh=real.energy_kwh if real else None,
        carbon_kg=real.carbon_kg if real else None,
        utilization=sum(u * seconds for u, seconds in measured) / weight if weight else None,
    )


def cost(
    session: Session, state: AppState, who: Principal, job_id: str, org_id: str, months: set[str]
) -> Cost | None:
    """The job's lines of its organization's invoices for `months`, as /bills prices them.
    None when nothing is priced yet, or when the person may not read the bills."""
    gross, net, currency = Decimal(0), Decimal(0), None
    for month in sorted(months):
        try:
            invoice = invoices.read(
                session,
                who,
                month=month,
                org_id=org_id,
                project=None,
                zone=state.settings.site.timezone,
                default=state.settings.pricing,
            )
        except ServiceError:
            return None
        for line in invoice.lines:
            if line["job_id"] == job_id:
                gross += Decimal(line["gross"])
                net += Decimal(line["net"])
                currency = invoice.currency
    return Cost(gross, net, currency) if currency else None


def outputs(files: list[logs.OutputFile]) -> Outputs | None:
    if not files:
        return None
    return Outputs(files[:LISTED_FILES], len(files), sum(f.size for f in files))


def job_resources(session: Session, state: AppState, who: Principal, job_id: str) -> JobResources:
    job = jobs.get(session, who, job_id)  # another tenant's job: NotFound
    rows = records.visible(session, who, job_id=job.id)
    spec: dict[str, Any] = job.spec or {}
    try:
        files = logs.output_files(logs.outputs_dir(session, job, state.executors))
    except (ServiceError, OSError):  # none yet, or the guard refused a name: no listing
        files = []
    months = {r.period for r in rows}
    return JobResources(
        job_id=job.id,
        terminal=JobState(job.state).is_terminal(),
        replicas=int(spec.get("replicas", 1)),
        request=spec.get("resources") or {},
        metered=metered(rows),
        cost=cost(session, state, who, job.id, job.org_id, months) if rows else None,
        outputs=outputs(files),
    )


def size(n: int) -> str:
    """Bytes for people: 512 B, 1.5 KiB, 20 MiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def context(session: Session, state: AppState, me: Me, job_id: str) -> dict[str, Any]:
    """What `_job_resources.html` needs, for the job page and the panel's own poll."""
    res = job_resources(session, state, me.who, job_id)
    return {"res": res, "size": size, "money": money, "poll": POLL}


@router.get("/jobs/{job_id}/resources")
def resources_panel(page: PageDep, job_id: str) -> Response:
    return page.render("_job_resources.html", **context(page.session, page.state, page.me, job_id))


@router.get("/jobs/{job_id}/outputs")
def outputs_download(page: PageDep, job_id: str) -> Response:
    """The same tar.gz as `GET /api/v1/jobs/{id}/outputs`."""
    job = jobs.get(page.session, page.me.who, job_id)
    archive = logs.outputs_archive(logs.outputs_dir(page.session, job, page.state.executors))
    headers = {
        "Content-Disposition": f'attachment; filename="{job.id}-outputs.tar.gz"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(archive, media_type="application/gzip", headers=headers)
