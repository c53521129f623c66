"""Retention: working copies and old logs are freed, outputs are kept."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from aicc.loops import janitor
from aicc.services.common import utcnow
from aicc.testing.servers import in_process


def test_sweep_frees_work_copies_then_logs_but_keeps_outputs(tmp_path: Path) -> None:
    with in_process(tmp_path / "home") as (api, state):
        job = api.post(
            "/api/v1/jobs", json={"command": "echo hi; echo out > $AICC_OUTPUT_DIR/o"}
        ).json()
        deadline = time.monotonic() + 30
        while api.get(f"/api/v1/jobs/{job['id']}").json()["state"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        runs = tmp_path / "home" / "runs" / job["id"]
        replica = runs / "0" / "0"
        assert (replica / "work").is_dir() and (replica / "stdout.log").exists()

        soon = utcnow() + janitor.WORKDIR_GRACE + timedelta(seconds=1)
        janitor.sweep(state.db, state.executors, soon, log_retention=timedelta(days=30))
        assert not (replica / "work").exists()
        assert api.get(f"/api/v1/jobs/{job['id']}/logs").text == "hi\n"  # logs still there

        later = utcnow() + timedelta(days=30, minutes=1)
        janitor.sweep(state.db, state.executors, later, log_retention=timedelta(days=30))
        assert not (runs / "0").exists()
        assert (runs / "outputs" / "o").read_text() == "out\n"
