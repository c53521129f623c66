"""The center's monthly report on a store with a known month (October 2026, Asia/Shanghai):
two tenants used real and simulated devices, one invoice issued, one still a draft, a subsidy
and a voucher applied. Every figure is checked against sums taken here from the usage records
and the invoices (the books), and the PDF is read back with poppler and drawn to a PNG."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from billing_support import POWER
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.energy import parse_profile
from aicc.core.pricing import PricePlan
from aicc.core.revenue import Agreement
from aicc.core.tenancy import Principal, Role
from aicc.services.billing import credits, invoices, rating
from aicc.services.billing.meter import Meter, PowerModel
from aicc.services.common import Forbidden, Invalid, new_id
from aicc.services.federation import books
from aicc.services.jobs import federated, metering
from aicc.services.reports import export, pdf
from aicc.services.reports.monthly import monthly
from aicc.services.reports.views import MonthlyReport
from aicc.services.telemetry.samples import Measured
from aicc.services.tenancy import tenancy
from aicc.store.db import Database, open_database
from aicc.store.tables.billing import InvoiceLineRow, InvoiceRow, UsageRow
from aicc.store.tables.federation import FederationJobRow
from aicc.store.tables.jobs import JobRow, ReplicaRow
from aicc.store.tables.nodes import DeviceRow, NodeRow
from aicc.store.tables.telemetry import DeviceSampleRow
from aicc.store.tables.tenancy import OrgRow, ProjectRow, QueueRow, UserRow
from aicc.testing.postgres import PostgresServer

ZONE = "Asia/Shanghai"
MONTH = "2026-10"
NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
PLAN = PricePlan(name="center", accelerator_hour={"A100-80GB": Decimal("10.00")})
AGREEMENT = Agreement.model_validate(
    {
        "shares": {"investor": "0.5", "builder": "0.3", "operator": "0.2"},
        "operator_fee": "10.00",
        "subsidy_shares": {"investor": "0.6", "builder": "0.2", "operator": "0.2"},
    }
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def at(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@dataclass
class World:
    db: Database
    admin: Principal
    power: PowerModel
    orgs: dict[str, str]  # name -> id


def _principal(session: Session, name: str) -> Principal:
    user = session.scalars(select(UserRow).where(UserRow.name == name)).one()
    return Principal(user_id=user.id, name=user.name, org_id=user.org_id, role=Role(user.role))


def _job(
    session: Session,
    org_id: str,
    *,
    kind: str,
    state: str,
    created: datetime,
    ended: datetime | None = None,
) -> JobRow:
    project = session.scalars(select(ProjectRow).where(ProjectRow.org_id == org_id)).one()
    queue = session.scalars(select(QueueRow).where(QueueRow.project_id == project.id)).one()
    user = session.scalars(select(UserRow)).first()
    assert user is not None
    job = JobRow(
        id=new_id("job"), name=kind, org_id=org_id, project_id=project.id, queue_id=queue.id,
        user_id=user.id, kind=kind, spec={"command": "x"}, priority=100, state=state,
        reason=state, created_at=created, updated_at=ended or created, ended_at=ended,
    )  # fmt: skip
    session.add(job)
    session.flush()
    return job


def _replica(
    session: Session, job: JobRow, node: str, index: int, milli: int, start: datetime, end: datetime
) -> None:
    session.add(
        ReplicaRow(
            id=new_id("rep"), job_id=job.id, attempt=0, index=0, node_id=node,
            devices=[{"index": index, "milli": milli}], cpu_milli=1000, memory_mib=1024,
            state="exited", bound_at=start, started_at=start, ended_at=end,
        )
    )  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The month, once per module and database (the embedded SQLite and a real PostgreSQL)."""
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"reports_{os.getpid()}")
    db = open_database(url, tmp_path_factory.mktemp("reports"))
    with db.session() as session:
        tenancy.bootstrap(session)
        admin = _principal(session, "admin")
        orgs = {
            "acme": tenancy.create_org(session, admin, name="acme", kind="enterprise").id,
            "uni": tenancy.create_org(session, admin, name="uni", kind="university").id,
            "lab": tenancy.create_org(session, admin, name="lab", kind="research").id,
            "late": tenancy.create_org(session, admin, name="late", kind="startup").id,
        }
        created = {"default": at(1, 0, 1), "acme": at(1, 0, 9), "uni": at(5, 0), "lab": at(20, 0)}
        created["late"] = at(2, 0, 11)
        for org in session.scalars(select(OrgRow)):
            org.created_at = created[org.name]
        orgs["default"] = session.scalars(select(OrgRow.id).where(OrgRow.name == "default")).one()
        real = NodeRow(
            id="node_real", name="real", cpu_milli=8000, memory_mib=65536, created_at=at(1, 0, 9)
        )
        fake = NodeRow(
            id="node_fake", name="fake", cpu_milli=8000, memory_mib=65536, created_at=at(1, 0, 9)
        )
        session.add_all([real, fake])
        session.flush()
        for node, simulated in ((real, False), (fake, True)):
            for index in range(2):
                session.add(
                    DeviceRow(
                        id=new_id("dev"), node_id=node.id, index=index, model="A100-80GB",
                        memory_mib=81920, simulated=simulated,
                    )
                )  # fmt: skip
        # acme: 10 h of one real A100 (succeeded) and 5 h of a simulated one; a job still waiting
        train = _job(
            session,
            orgs["acme"],
            kind="train",
            state="succeeded",
            created=at(10, 1),
            ended=at(10, 12),
        )
        _replica(session, train, "node_real", 0, 1000, at(10, 2), at(10, 12))
        sim = _job(
            session,
            orgs["acme"],
            kind="train",
            state="succeeded",
            created=at(11, 0),
            ended=at(11, 5),
        )
        _replica(session, sim, "node_fake", 0, 1000, at(11, 0), at(11, 5))
        _job(session, orgs["acme"], kind="train", state="pending", created=at(30, 3))
        # uni: half of a real A100 for 4 h, failed
        infer = _job(
            session, orgs["uni"], kind="infer", state="failed", created=at(12, 0), ended=at(12, 4)
        )
        _replica(session, infer, "node_real", 1, 500, at(12, 0), at(12, 4))
        # a job of September that is not the month's
        _job(
            session,
            orgs["acme"],
            kind="train",
            state="failed",
            created=at(3, 0, 9),
            ended=at(3, 1, 9),
        )
        # NVML samples of the real devices every hour of 10 October (Shanghai): device 0 busy
        # 0.8 while acme's job ran, device 1 idle
        for hour in range(24):
            when = at(9, 16) + timedelta(hours=hour)
            busy = 0.8 if at(10, 2) <= when < at(10, 12) else 0.0
            session.add(DeviceSampleRow(node_id="node_real", index=0, at=when, utilization=busy))
            session.add(DeviceSampleRow(node_id="node_real", index=1, at=when, utilization=0.0))
    # the meter, under a PUE that changes hour by hour, writes the month's usage records
    hourly = {"start": "2026-10-09T00:00", "values": [1.2, 1.5] * 48}
    profile = parse_profile(
        {"pue": hourly, "carbon_intensity": {**hourly, "values": [600.0] * 96}}, read=str
    )
    power = replace(POWER, profile=profile)
    with db.session() as session:
        metering.meter(
            session, Meter(session, zone=ZONE, power=power, samples=Measured(session)), at(1, 0, 11)
        )
    with db.session() as session:
        credits.create_subsidy(
            session, admin,
            credits.SubsidyIn(name="算力补贴", org_id=orgs["acme"], rate=Decimal("0.5")),
            zone=ZONE, now=at(1, 0),
        )  # fmt: skip
        credits.create_voucher(
            session, admin,
            credits.VoucherIn(
                name="算力券", org_id=orgs["uni"], amount=Decimal("5.00"),
                valid_from=at(1, 0).date(),
            ),
            zone=ZONE,
        )  # fmt: skip
    with db.session() as session:
        invoices.issue(
            session,
            admin,
            invoices.IssueIn(org_id=orgs["acme"], month=MONTH),
            zone=ZONE,
            default=PLAN,
        )
    yield World(db, admin, power, orgs)
    db.dispose()


@pytest.fixture(scope="module")
def report(world: World) -> MonthlyReport:
    with world.db.reader() as session:
        return monthly(
            session, world.admin, month=MONTH, zone=ZONE, default=PLAN, agreement=AGREEMENT,
            power=world.power, now=NOW,
        )  # fmt: skip


def _records(world: World) -> list[UsageRow]:
    with world.db.reader() as session:
        return list(session.scalars(select(UsageRow).where(UsageRow.period == MONTH)))


def test_money_equals_the_invoices_issued_frozen_and_drafts(
    world: World, report: MonthlyReport
) -> None:
    with world.db.reader() as session:
        issued = session.scalars(select(InvoiceRow).where(InvoiceRow.period == MONTH)).one()
        frozen = [
            line.line
            for line in session.scalars(
                select(InvoiceLineRow).where(InvoiceLineRow.invoice_id == issued.id)
            )
        ]
        draft = invoices.compute(
            session, org_id=world.orgs["uni"], month=MONTH, zone=ZONE, default=PLAN
        )
    assert issued.org_id == world.orgs["acme"]
    assert draft.status == "draft"
    lines = frozen + draft.lines
    for name in ("gross", "discount", "subsidy", "voucher", "net"):
        assert getattr(report.revenue.totals, name) == sum(Decimal(x[name]) for x in lines), name
        assert str(getattr(report.revenue.totals, name)) == str(
            Decimal(issued.totals[name]) + sum(Decimal(x[name]) for x in draft.lines)
        )
    # by hand: acme 10 real + 5 simulated device-hours at 10.00, half subsidized; uni 2 device-
    # hours at 10.00, 5.00 of them paid by its voucher
    assert report.revenue.totals.gross == Decimal("170.00")
    assert report.revenue.totals.subsidy == Decimal("75.00")
    assert report.revenue.totals.voucher == Decimal("5.00")
    assert report.revenue.totals.net == Decimal("90.00")
    assert report.revenue.payments == Decimal("90.00") and report.revenue.public == Decimal("80.00")
    assert {(b.name, b.status) for b in report.bills} == {("acme", "issued"), ("uni", "draft")}
    assert report.provisional  # uni's bill is still a draft


def test_the_agreement_shares_the_month_out(report: MonthlyReport) -> None:
    shares = {s.party: s for s in report.revenue.shares}
    # operator's fee 10.00 first; the other 80.00 of payments .5/.3/.2; 80.00 public .6/.2/.2
    assert shares["operator"].fee == Decimal("10.00")
    assert [shares[p].payments for p in ("investor", "builder", "operator")] == [
        Decimal("40.00"), Decimal("24.00"), Decimal("16.00"),
    ]  # fmt: skip
    assert [shares[p].public for p in ("investor", "builder", "operator")] == [
        Decimal("48.00"), Decimal("16.00"), Decimal("16.00"),
    ]  # fmt: skip
    assert [shares[p].total for p in ("investor", "builder", "operator")] == [
        Decimal("88.00"), Decimal("40.00"), Decimal("42.00"),
    ]  # fmt: skip
    assert sum(s.total for s in shares.values()) == report.revenue.payments + report.revenue.public
    assert report.revenue.rule["investor_share"] == "50%"


def test_compute_energy_and_carbon_equal_the_usage_records(
    world: World, report: MonthlyReport
) -> None:
    records = [r for r in _records(world) if r.kind == "compute" and r.accelerator]
    real = [r for r in records if not r.simulated]
    pflops = sum(float(rating.pflops(r.accelerator) * rating.device_hours(r)) for r in real)
    fake = sum(
        float(rating.pflops(r.accelerator) * rating.device_hours(r)) for r in records if r.simulated
    )
    assert report.pflops_hours == pytest.approx(pflops)
    assert report.pflops_hours == pytest.approx(12 * 0.312)  # 10 + 4 × 0.5 device-hours of A100s
    assert report.pflops_hours_simulated == pytest.approx(fake) and fake == pytest.approx(5 * 0.312)
    facility = sum(r.energy_kwh for r in real)
    it = sum(r.energy_kwh / world.power.pue_at(r.start.replace(tzinfo=UTC)) for r in real)
    assert facility > 0
    assert report.energy.facility_kwh == pytest.approx(facility)
    assert report.energy.it_kwh == pytest.approx(it)
    assert report.energy.pue == pytest.approx(facility / it)
    assert 1.2 < (report.energy.pue or 0) < 1.5  # a mean of hours at 1.2 and at 1.5
    assert report.energy.carbon_kg == pytest.approx(sum(r.carbon_kg or 0 for r in real))
    assert report.energy.carbon_kg == pytest.approx(facility * 0.6)
    days = {d.day: d for d in report.energy_by_day}
    assert set(days) == {"2026-10-10", "2026-10-12"}  # the days real devices were used
    assert sum(d.facility_kwh for d in days.values()) == pytest.approx(facility)
    assert sum(d.it_kwh for d in days.values()) == pytest.approx(it)


def test_utilization_counts_real_devices_only(report: MonthlyReport) -> None:
    u = report.utilization
    assert u.capacity_device_hours == pytest.approx(2 * 31 * 24)  # two real A100s, October
    assert u.allocated_device_hours == pytest.approx(12.0)
    assert u.allocation_rate == pytest.approx(12 / (2 * 31 * 24))
    assert u.busy_device_hours == pytest.approx(8.0)  # 10 h at 0.8, measured on 10 October
    assert report.simulated_allocated_device_hours == pytest.approx(5.0)
    assert [m.group for m in report.by_model] == ["A100-80GB"]
    assert len(report.by_day) == 31
    tenth = next(d for d in report.by_day if d.group == "2026-10-10")
    assert tenth.allocated_device_hours == pytest.approx(10.0)
    assert tenth.busy_rate == pytest.approx(8 / 48)


def test_tenants_by_kind_and_jobs(report: MonthlyReport) -> None:
    kinds = {t.kind: (t.served, t.new, t.total) for t in report.tenants}
    assert kinds["enterprise"] == (1, 0, 1)
    assert kinds["university"] == (1, 1, 1)
    assert kinds["research"] == (0, 1, 1)
    assert kinds["other"] == (0, 0, 1)
    assert kinds["startup"] == (0, 0, 0)  # created in November
    assert (report.tenants_served, report.tenants_new) == (2, 2)
    jobs = {j.kind: (j.submitted, j.succeeded, j.failed, j.cancelled) for j in report.jobs}
    assert jobs == {"train": (3, 2, 0, 0), "infer": (1, 0, 1, 0)}


def _billed_from_a_peer(session: Session, world: World, accelerator: dict[str, object]) -> JobRow:
    """uni's job, routed to site `peer`, that ran there 3 h (15 October, 02:00-05:00 UTC) on
    `accelerator` of an A100-80GB, its usage written at home as the federation loop writes it."""
    job = _job(
        session, world.orgs["uni"], kind="train", state="succeeded", created=at(15, 0),
        ended=at(15, 5),
    )  # fmt: skip
    job.spec = {"command": "x", "resources": {"accelerator": accelerator}}
    run = FederationJobRow(
        job_id=job.id, attempt=0, site="peer", remote_job_id="job_there", remote_state="done",
        routing={"ranked": [{"site": "peer", "model": "A100-80GB"}]}, created_at=at(15, 0),
        updated_at=at(15, 5), started_at=at(15, 2), ended_at=at(15, 5),
    )  # fmt: skip
    session.add(run)
    session.flush()
    home = federated.find(session, job.id)
    assert home is not None
    books.record(session, home, run, zone=ZONE)
    session.flush()
    return job


@pytest.mark.parametrize(
    ("accelerator", "milli"), [({"mig": "3g.40gb"}, 3000 // 7), ({"milli": 500}, 500)]
)
def test_a_share_run_at_a_peer_is_billed_at_home_as_its_share(
    world: World, accelerator: dict[str, object], milli: int
) -> None:
    """A job of one MIG slice, or half a device, that ran at a peer is written at home as its
    share of one device, as the meter writes one that ran here (both were written as a whole
    device: the share's `count` reads 1)."""
    with world.db.session() as session:
        job = _billed_from_a_peer(session, world, accelerator)
        written = session.scalars(select(UsageRow).where(UsageRow.job_id == job.id)).all()
        shares = {(r.accelerator, r.devices, r.milli) for r in written}
        session.rollback()
    assert len(written) == 3 and shares == {("A100-80GB", 1, milli)}


def test_a_job_run_at_a_peer_is_sold_apart_and_used_none_of_this_sites_energy(
    world: World, report: MonthlyReport, tmp_path: Path
) -> None:
    """uni's job routed to site `peer` ran 3 h on one A100 there and is billed here (its usage
    records written at home, docs/federation.md): it is sold (revenue, PFLOPS-hours, shown as
    run at other sites) but drew none of this site's power, so energy, carbon, PUE and
    utilization stay those of this site's own devices, and its records are not counted among
    the records "written before carbon was recorded"."""
    with world.db.session() as session:
        _billed_from_a_peer(session, world, {"count": 1})
        there = monthly(
            session, world.admin, month=MONTH, zone=ZONE, default=PLAN, agreement=AGREEMENT,
            power=world.power, now=NOW,
        )  # fmt: skip
        session.rollback()
    # this site's power and devices: unchanged
    assert there.energy == report.energy
    assert there.energy.without_carbon == 0
    assert there.energy_by_day == report.energy_by_day
    assert there.utilization == report.utilization
    # sold: the books' figures, with the part that ran elsewhere said apart
    assert there.revenue.totals.gross == report.revenue.totals.gross + Decimal("30.00")
    assert there.pflops_hours == pytest.approx(report.pflops_hours + 3 * 0.312)
    assert there.pflops_hours_other_sites == pytest.approx(3 * 0.312)
    assert report.pflops_hours_other_sites == 0
    # and on every face
    rows = {(r["section"], r["name"]): r for r in csv.DictReader(io.StringIO(export.to_csv(there)))}
    assert float(rows[("compute", "pflops_hours_other_sites")]["value"]) == pytest.approx(3 * 0.312)
    if shutil.which("pdftotext") is not None:
        for language, words in (
            ("en", "of which 0.94 run at other sites"),
            ("zh-CN", "其中 0.94 在其他站点运行"),
        ):
            text = " ".join(_pdftotext(pdf.render(there, language), tmp_path).split())
            assert words in text, language


def test_csv_has_one_figure_a_row(report: MonthlyReport) -> None:
    rows = list(csv.DictReader(io.StringIO(export.to_csv(report))))
    assert list(rows[0]) == ["month", "status", "section", "name", "group", "value", "unit"]
    found = {(r["section"], r["name"], r["group"]): r for r in rows}
    assert found[("revenue", "net", "")]["value"] == "90.00"
    assert found[("revenue", "subsidy", "")]["unit"] == "CNY"
    assert found[("tenants_by_kind", "served", "university")]["value"] == "1"
    assert found[("shares", "total", "investor")]["value"] == "88.00"
    assert float(found[("energy", "pue", "")]["value"]) == pytest.approx(report.energy.pue or 0)
    assert {r["status"] for r in rows} == {"provisional"}


def test_only_center_admins_and_whole_months(world: World) -> None:
    with world.db.session() as session:
        tenancy.create_user(
            session, world.admin, name="boss", role=Role.ORG_ADMIN, org_id=world.orgs["acme"]
        )
        boss = _principal(session, "boss")
        args = {
            "zone": ZONE,
            "default": PLAN,
            "agreement": AGREEMENT,
            "power": world.power,
            "now": NOW,
        }
        with pytest.raises(Forbidden):
            monthly(session, boss, month=MONTH, **args)  # type: ignore[arg-type]
        with pytest.raises(Invalid, match="month"):
            monthly(session, world.admin, month="2026-13", **args)  # type: ignore[arg-type]
        with pytest.raises(Invalid, match="has not begun"):
            monthly(session, world.admin, month="2027-01", **args)  # type: ignore[arg-type]
        session.rollback()


def _pdftotext(data: bytes, tmp: Path) -> str:
    path = tmp / "report.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="LOUD SKIP: poppler-utils (pdftoppm, pdftotext) is not installed: "
    "scripts/install-test-deps.sh installs it; the report's PDF was not checked",
)


@needs_poppler
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_pdf_says_the_figures_and_draws(
    report: MonthlyReport, language: str, tmp_path: Path
) -> None:
    data = pdf.render(report, language)
    assert data.startswith(b"%PDF")
    text = _pdftotext(data, tmp_path)
    flat = " ".join(text.split())
    for figure in ("170.00", "75.00", "90.00", "88.00", "42.00", "1488.00", "12.00"):
        assert figure in flat, figure
    assert pdf.hours(report.pflops_hours) in flat  # 3.74
    assert pdf.hours(report.energy.facility_kwh) in flat
    assert f"{report.energy.pue:.3f}" in flat
    if language == "en":
        assert "PROVISIONAL" in flat and "Investor" in flat and "University" in flat
    else:
        assert "暂定" in flat and "算力利用率" in flat and "投资方" in flat and "高校" in flat
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / f"report-{MONTH}-{language}"
    (tmp_path / "report.pdf").write_bytes(data)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "70",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(tmp_path / "report.pdf"),
            str(stem),
        ],
        check=True,
    )
    png = stem.with_suffix(".png")
    assert png.stat().st_size > 10_000  # a page with tables and charts, not a blank one
