"""Real jobs through a real in-process server with the local executor: the usage recorded
matches the runtime the job measured itself, half a (simulated) GPU is half the device-time,
and a server restart in the middle of a job neither drops nor doubles its usage."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.services.billing.meter import Meter, PowerModel
from aicc.services.jobs import metering
from aicc.services.telemetry.samples import Measured
from aicc.store.tables.jobs import ReplicaRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

SETTINGS: dict[str, Any] = {
    "simulated_devices": [{"model": "A100-80GB", "count": 1}],
    "limits": {"grace_s": 1.0},
}
# The job measures its own runtime: wall-clock time from its first to its last instruction.
TIMED = (
    "import time; a = time.time(); print('start', a, flush=True); time.sleep({s}); "
    "b = time.time(); print('end', b, flush=True)"
)


def timed_job(api: TestClient, seconds: float, milli: int = 500) -> dict[str, Any]:
    spec = {
        "command": ["python", "-c", TIMED.format(s=seconds)],
        "resources": {"cpu": 1, "memory": "512MiB", "accelerator": {"milli": milli}},
        "max_runtime": "5m",
    }
    return submit(api, spec)


def measured(api: TestClient, job_id: str) -> float:
    log = api.get(f"/api/v1/jobs/{job_id}/logs").text
    start = float(re.search(r"start (\S+)", log).group(1))  # type: ignore[union-attr]
    end = float(re.search(r"end (\S+)", log).group(1))  # type: ignore[union-attr]
    return end - start


def usage_of(api: TestClient, job_id: str, timeout: float = 20) -> list[dict[str, Any]]:
    """The job's records, once the meter has recorded its replicas up to their end."""
    deadline = time.monotonic() + timeout
    while True:
        items: list[dict[str, Any]] = api.get("/api/v1/usage", params={"job": job_id}).json()[
            "items"
        ]
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        ended = max(r["ended_at"] for r in job["replicas"])
        if items and max(i["end"] for i in items) == ended:
            return items
        assert time.monotonic() < deadline, f"usage of {job_id} not recorded: {items}"
        time.sleep(0.1)


def test_half_a_gpu_is_metered_as_half_for_the_time_it_ran(tmp_path: Path) -> None:
    with in_process(tmp_path / "home", **SETTINGS) as (api, _state):
        half, whole = timed_job(api, 2.0, 500), timed_job(api, 1.0, 1000)
        for job in (half, whole):
            assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
        for job, share in ((half, 0.5), (whole, 1.0)):
            records = usage_of(api, job["id"])
            seconds = sum(r["seconds"] for r in records)
            ran = measured(api, job["id"])
            print(f"share {share}: usage {seconds:.3f} s, measured {ran:.3f} s")
            assert abs(seconds - ran) <= 1.0, (seconds, ran)
            device_s = sum(r["accelerator_seconds"] for r in records)
            assert device_s == pytest.approx(share * seconds)
            assert {(r["accelerator"], r["milli"], r["simulated"]) for r in records} == {
                ("A100-80GB", int(share * 1000), True)
            }
            cpu_h = sum(r["cpu_core_hours"] for r in records)
            assert cpu_h == pytest.approx(seconds / 3600)


def test_a_restart_mid_job_neither_drops_nor_doubles_usage(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with in_process(home, keep_replicas=True, **SETTINGS) as (api, _state):
        job = timed_job(api, 4.0)
        wait_state(api, job["id"], {"running"})
        time.sleep(1.0)
    # the server is gone; the replica's supervisor runs on and ends while no server watches
    time.sleep(4.0)
    with in_process(home, **SETTINGS) as (api, state):
        done = wait_state(api, job["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded"
        records = usage_of(api, job["id"])
        seconds = sum(r["seconds"] for r in records)
        ran = measured(api, job["id"])
        print(f"restart: {len(records)} record(s), usage {seconds:.3f} s, measured {ran:.3f} s")
        assert abs(seconds - ran) <= 1.0, (seconds, ran)
        # another pass, even one that forgot how far it had come, records nothing again
        with state.db.session() as session:
            for rep in session.query(ReplicaRow).all():
                rep.metered_to = None
            meter = Meter(
                session, zone="Asia/Shanghai", power=PowerModel(), samples=Measured(session)
            )
            assert metering.meter(session, meter, datetime.now(UTC)) == 0
        again = api.get("/api/v1/usage", params={"job": job["id"]}).json()["items"]
        assert [r["id"] for r in again] == [r["id"] for r in records]
