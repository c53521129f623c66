"""`aicc sim green` on a synthetic trace and a synthetic carbon year (CI has no shared traces)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.core.energy import epoch_hour
from aicc.sim import green, synthetic

START = epoch_hour(datetime(2020, 1, 1, tzinfo=UTC))


def carbon(days: int = 60) -> dict[int, float]:
    """A day-night swing (cleanest at 13:00 UTC) with a slow drift, gCO2/kWh."""
    return {
        START + h: 350 + 200 * math.cos(2 * math.pi * (h % 24 - 13) / 24) + 30 * math.sin(h / 200)
        for h in range(days * 24)
    }


CONFIG = green.GreenConfig(gpus=32, windows=2, days=2, deferrable=0.5, time_limit_s=5)


def test_the_policies_order_as_they_should() -> None:
    trace = synthetic.trace_jobs(120, gpus=32, load=0.5)
    result = green.run(trace, carbon(), CONFIG)
    rows = result["policies"]
    assert isinstance(rows, dict) and set(rows) == set(green.POLICIES)
    blind, optimal, default = rows["carbon-blind"], rows["optimal"], rows["default"]
    for row in rows.values():
        assert {"carbon_kg", "cost", "deadline_misses", "avg_jct_s"} <= set(row)
    assert optimal["carbon_kg"] < blind["carbon_kg"]
    assert default["carbon_kg"] < blind["carbon_kg"]
    assert optimal["carbon_kg"] <= default["carbon_kg"] * 1.02  # others shift non-deferrable jobs
    assert rows["threshold"]["carbon_kg"] < blind["carbon_kg"]
    assert optimal["deadline_misses"] == 0 == blind["deadline_misses"]
    assert default["deadline_misses"] <= blind["deadline_misses"]
    assert default["avg_jct_s"] >= blind["avg_jct_s"]  # waiting for green power costs time
    assert result["jobs"] > 0 and 0 < result["deferrable_jobs"] < result["jobs"]


def test_every_job_starts_once_within_capacity() -> None:
    trace = synthetic.trace_jobs(80, gpus=16, load=0.9, seed=3)
    marked = green.mark(trace, CONFIG)
    jobs = green.window_jobs(marked, 0, 2, 16)
    series = green.hourly_array(carbon())[1]
    config = green.GreenConfig(gpus=16, deferrable=0.5, time_limit_s=5)
    for policy in green.POLICIES:
        done = green.simulate(jobs, series, policy, config)
        assert all(j.start_h is not None and j.start_h >= j.release for j in done)
        used: dict[int, int] = {}
        for j in done:
            assert j.start_h is not None
            for h in range(j.start_h, j.start_h + j.span):
                used[h] = used.get(h, 0) + j.gpus
        assert max(used.values()) <= 16, policy


def test_the_persistence_forecast_repeats_the_last_day_seen() -> None:
    series = green.np.arange(100.0)
    forecast = green.persistence(series, 50, 30)
    assert forecast[0] == 50  # the current hour is observed
    assert forecast[1] == 27 and forecast[24] == 50 and forecast[25] == 27


def test_the_command_prints_the_policies_as_json(tmp_path: Path) -> None:
    trace = tmp_path / "philly.csv"
    rows = ["timestamp,duration,num_gpus,gpu_time,cluster"]
    rows += [
        f"{j.submitted:%Y-%m-%d %H:%M:%S},{j.duration_s:.0f},{j.gpus},0,{j.tenant}"
        for j in synthetic.trace_jobs(60, gpus=16, load=0.5)
    ]
    trace.write_text("\n".join(rows) + "\n")
    profile = tmp_path / "ci.csv"
    lines = ["Time,Carbon Intensity"]
    lines += [
        f"{datetime.fromtimestamp(h * 3600, UTC):%Y-%m-%d %H:%M:%S},{v:.1f}"
        for h, v in carbon(30).items()
    ]
    profile.write_text("\n".join(lines) + "\n")
    args = ["sim", "green", "--trace", str(trace), "--carbon", str(profile), "--gpus", "16"]
    args += ["--sample", "1", "--windows", "2", "--days", "2", "--json"]
    answer = CliRunner().invoke(app, args)
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.stdout)
    assert set(body["policies"]) == {"carbon-blind", "threshold", "optimal", "default"}
    for row in body["policies"].values():
        assert {"carbon_kg", "cost", "deadline_misses", "avg_jct_s"} <= set(row)
    table = CliRunner().invoke(app, args[:-1])
    assert table.exit_code == 0 and "optimal" in table.output


def test_a_missing_carbon_file_says_where_to_get_one(tmp_path: Path) -> None:
    answer = CliRunner().invoke(
        app, ["sim", "green", "--trace", str(tmp_path / "x.csv"), "--carbon", str(tmp_path)]
    )
    assert answer.exit_code != 0


def test_a_noisy_forecast_has_the_day_ahead_error_asked_for_and_is_seeded() -> None:
    series = green.np.full(3000, 400.0)
    predict = green.forecaster("noisy:10%", seed=7)
    paths = green.np.array([predict(series, now, 49) for now in range(0, 2000)])
    error = green.np.abs(paths / 400.0 - 1).mean(axis=0)
    assert error[0] == 0  # the current hour is observed
    assert error[1] < error[6] < error[24]  # it grows with the lead ...
    assert abs(error[24] - 0.10) < 0.01  # ... to the day-ahead MAPE asked for
    again = green.forecaster("noisy:0.1", seed=7)(series, 5, 49)
    assert (again == paths[5]).all()
    for bad in ("noisy:2", "noisy:", "noisy:lots", "oracle"):
        try:
            green.forecaster(bad)
        except ValueError as err:
            assert "noisy:E" in str(err)
        else:
            raise AssertionError(bad)


def test_perfect_h_knows_the_next_h_hours_and_guesses_the_shape_beyond() -> None:
    hours = green.np.arange(3000)
    series = 400 + 100 * green.np.sin(hours / 5.0)  # no daily or weekly shape: seasonal errs
    predict = green.forecaster("perfect:6")
    out = predict(series, 2500, 49)
    assert (out[:6] == series[2500:2506]).all()  # the truth, as far as it reaches
    assert (out[6:] == green.seasonal(series, 2500, 49)[6:]).all()
    assert (out[6:] != series[2506:2549]).any()
    for bad in ("perfect:0", "perfect:", "perfect:x", "perfect:-2"):
        with pytest.raises(ValueError, match="perfect:H"):
            green.forecaster(bad)


def test_the_re_planner_with_a_good_forecast_keeps_deadlines() -> None:
    trace = synthetic.trace_jobs(120, gpus=32, load=0.5)
    config = green.GreenConfig(
        gpus=32, windows=2, days=2, deferrable=0.5, time_limit_s=5, forecast="noisy:0.05"
    )
    rows = green.run(trace, carbon(), config, policies=("carbon-blind", "default"))["policies"]
    assert rows["default"]["carbon_kg"] < rows["carbon-blind"]["carbon_kg"]
    assert rows["default"]["deadline_misses"] <= rows["carbon-blind"]["deadline_misses"]
