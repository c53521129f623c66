"""The live server with a site energy profile: a deferrable job waits for the greener hour the
planner gives it, saying so; a job that is not deferrable runs at once (issue 22 point 3)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process


def test_a_deferrable_job_is_held_for_the_greener_hour(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    values = [800.0] * 48
    values[3] = 50.0  # three hours from now, the greenest by far
    profile = {
        "carbon_intensity": {"start": f"{hour:%Y-%m-%dT%H:%M}", "values": values},
        "timezone": "UTC",
    }
    (home / "energy.yaml").write_text(yaml.safe_dump(profile))
    with in_process(home, site={"energy_profile": "energy.yaml"}) as (api, _):
        spec = {"command": "true", "deferrable": True, "max_runtime": "10m", "deadline": "12h"}
        held = submit(api, spec)
        plain = submit(api, {"command": "true"})
        assert wait_state(api, plain["id"], {"succeeded"})["state"] == "succeeded"
        expected = f"deferred to {hour + timedelta(hours=3):%H:%M} UTC for greener power"
        give_up = time.monotonic() + 20
        while True:
            job = api.get(f"/api/v1/jobs/{held['id']}").json()
            if expected in (job["message"] or "") or time.monotonic() > give_up:
                break
            time.sleep(0.2)
        assert job["state"] == "pending", job
        assert expected in job["message"], job["message"]
