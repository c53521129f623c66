"""The harness that a lent GPU machine runs (benchmarks/accelerator.py) works here too, on a
simulated H100 with its payloads small on CPU: the next session with a GPU must not lose its
few minutes to a broken script. The figures themselves mean nothing here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dry_run_meters_the_job_and_places_both_shares_on_one_device(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/accelerator.py",
            f"--out={tmp_path}",
            "--simulate",
            "--only=discovery,job,shares",
            "--step-seconds=1",
            "--share-seconds=1",
            "--cpu=1",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads((tmp_path / "accelerator.json").read_text())
    assert "nvml" in found["discovery"]  # no driver here: it says why
    node = found["node_list"]["nodes"][0]
    assert node["devices"][0]["model"] == "H100-SXM" and node["devices"][0]["simulated"]
    assert "H100-SXM (simulated)" in found["node_list"]["cli"]
    job = found["job"]
    assert "error" not in job, job
    assert job["bare"]["steps"] > 0 and job["aicc"]["steps"] > 0
    # the meter's device-hours are the replica's own start to end
    assert abs(job["metered"]["accelerator_hours"] - job["replica_hours"]) < 1e-6
    shares = found["shares"]["jobs"]
    assert [s["state"] for s in shares] == ["succeeded", "succeeded"]
    assert all(s["visible"] == "0" and s["devices"][0]["milli"] == 500 for s in shares)
