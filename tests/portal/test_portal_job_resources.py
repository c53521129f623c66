"""The job page's resources panel through TestClient: what a replica asked for, what the meter
recorded and what it costs, the job's outputs listed and downloaded, and none of it for another
tenant."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import TERMINAL, Person, csrf_of, signed_in, submit, wait_job, wait_usage

from aicc.api.state import AppState
from aicc.portal.job_resources import metered, size
from aicc.services.billing.views import UsageRecord

WRITER = (
    'mkdir -p "$AICC_OUTPUT_DIR/plots" && echo "loss 0.1" > "$AICC_OUTPUT_DIR/metrics.txt" '
    '&& printf png > "$AICC_OUTPUT_DIR/plots/loss.png"'
)
HALF = {"cpu": "100m", "memory": "64MiB", "accelerator": {"milli": 500, "model": "A100-80GB"}}


@pytest.fixture(scope="module", autouse=True)
def priced(site: tuple[TestClient, AppState]) -> None:
    api, _ = site
    start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    plan = {"name": "center-jobs", "effective_from": start.isoformat(), "pflops_hour": "9.50"}
    assert api.post("/api/v1/price-plans", json=plan).status_code == 201


def test_the_job_page_shows_the_request_the_use_and_the_outputs(
    api: TestClient, alice: Person
) -> None:
    job = submit(api, alice, name="writer", command=WRITER, resources=HALF)
    assert wait_job(api, alice, job["id"], TERMINAL)["state"] == "succeeded"
    wait_usage(api, alice, job["id"])
    client = signed_in(api, alice)
    text = client.get(f"/jobs/{job['id']}").text
    assert "Requested per replica" in text and "50% of one A100-80GB" in text
    assert "64MiB" in text and "100m" in text
    assert "Accelerator-hours" in text and "Simulated" in text
    assert "Cost at your plan" in text and "CNY" in text and 'href="/bills"' in text
    assert "2 file(s), 12 B in all." in text
    assert "metrics.txt" in text and "plots/loss.png" in text
    assert f'href="/jobs/{job["id"]}/outputs"' in text
    assert "/resources" not in text  # an ended job's panel is not polled

    download = client.get(f"/jobs/{job['id']}/outputs")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    assert f"{job['id']}-outputs.tar.gz" in download.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(download.content)) as archive:
        names = sorted(archive.getnames())
        metrics = archive.extractfile("metrics.txt")
        assert metrics is not None and metrics.read() == b"loss 0.1\n"
    assert names == ["metrics.txt", "plots/loss.png"]
    assert download.content[:2] == api.get(f"/api/v1/jobs/{job['id']}/outputs").content[:2]

    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    chinese = client.get(f"/jobs/{job['id']}").text
    assert "每个副本的申请" in chinese and "一块 A100-80GB 的 50%" in chinese
    assert "共 2 个文件，12 B。" in chinese and "按价格方案计费" in chinese


def test_a_running_job_without_outputs_says_so_and_refreshes(
    api: TestClient, alice: Person
) -> None:
    job = submit(api, alice, name="cpu-sleeper", command="sleep 30")
    wait_job(api, alice, job["id"], {"running"})
    client = signed_in(api, alice)
    text = client.get(f"/jobs/{job['id']}").text
    assert "Used so far" in text and "CPU only" in text
    assert "No outputs yet" in text and "Download all" not in text
    assert f'hx-get="/jobs/{job["id"]}/resources" hx-trigger="every 15s"' in text
    panel = client.get(f"/jobs/{job['id']}/resources", headers={"HX-Request": "true"})
    assert panel.text.lstrip().startswith('<section id="job-resources"')
    api.post(f"/api/v1/jobs/{job['id']}/cancel")
    wait_job(api, alice, job["id"], TERMINAL)


def test_another_tenants_resources_and_outputs_are_a_404(
    api: TestClient, alice: Person, bob: Person
) -> None:
    job = submit(api, alice, name="private-writer", command=WRITER)
    wait_job(api, alice, job["id"], TERMINAL)
    client = signed_in(api, bob)
    for path in (f"/jobs/{job['id']}/resources", f"/jobs/{job['id']}/outputs"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "metrics.txt" not in answer.text and answer.content[:2] != b"\x1f\x8b"


T = datetime(2026, 11, 3, 9, tzinfo=UTC)


def _record(**fields: Any) -> UsageRecord:
    base: dict[str, Any] = {
        "kind": "compute", "accelerator": "A100-80GB", "simulated": False, "seconds": 3600.0,
        "accelerator_hours": 1.0, "pflops_hours": 0.3, "cpu_core_hours": 2.0,
        "memory_gib_hours": 8.0, "energy_kwh": 0.4, "utilization": None,
    }  # fmt: skip
    rest: dict[str, Any] = {
        "id": 1, "org_id": "org_x", "project_id": "prj_x", "job_id": "job_x",
        "replica_id": "rep_x", "devices": 1, "milli": 1000, "cpu_milli": 2000,
        "memory_mib": 8192, "storage_bytes": 0, "duration_us": 3_600_000_000,
        "start": T, "end": T, "period": "2026-11", "accelerator_seconds": 3600.0,
        "storage_gib_days": 0.0, "invoice_id": None,
    }  # fmt: skip
    return UsageRecord(**{**rest, **base, **fields})


def test_metered_sums_weigh_utilization_by_time_and_leave_simulated_energy_out() -> None:
    assert metered([]) is None
    assert metered([_record(kind="storage")]) is None
    rows = [
        _record(utilization=0.9, seconds=3000.0),
        _record(utilization=0.3, seconds=1000.0),
        _record(simulated=True, energy_kwh=0.0),
    ]
    found = metered(rows)
    assert found is not None
    assert found.accelerator_hours == 3.0 and found.simulated_hours == 1.0
    assert found.energy_kwh == pytest.approx(0.8)  # the real devices' only
    assert found.utilization == pytest.approx(0.75)
    only_simulated = metered([_record(simulated=True)])
    assert only_simulated is not None and only_simulated.energy_kwh is None


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (13, "13 B"), (1536, "1.5 KiB"), (20 * 2**20, "20.0 MiB")]
)
def test_sizes_for_people(n: int, text: str) -> None:
    assert size(n) == text
