"""The load-forecasting template: trained on its example with a time split, it forecasts the
held-out days better than repeating the day before, and its predict.py forecasts the hours
after a history it is given."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "load-forecasting"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("load"))


def history(trained: templates.Trained, keep: slice) -> list[dict[str, str]]:
    with (trained.output.parent.parent / "example" / "city_load_hourly.csv").open() as f:
        return list(csv.DictReader(f))[keep]


def write(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_beats_repeating_yesterday_on_held_out_days(trained: templates.Trained) -> None:
    manifest = templates.manifest(NAME)
    assert core.reached(manifest.metric, trained.metrics["mape"])
    assert trained.metrics["mape"] < trained.metrics["mape_same_hour_yesterday"]
    assert trained.curve and trained.curve[-1]["val_loss"] < trained.curve[0]["val_loss"]
    assert (trained.model / "model.joblib").stat().st_size > 0
    assert trained.report["summary"]["en"] and "负荷" in trained.report["summary"]["zh-CN"]
    assert trained.report["test_forecasts"] == 14


def test_predict_forecasts_the_next_day(trained: templates.Trained, tmp_path: Path) -> None:
    past = write(history(trained, slice(-400, -24)), tmp_path / "history.csv")
    actual = [float(r["load_mw"]) for r in history(trained, slice(-24, None))]
    out = templates.predict(NAME, trained.model, past, tmp_path / "forecast.csv")
    with out.open() as f:
        forecast = list(csv.DictReader(f))
    assert len(forecast) == 24
    last = datetime.fromisoformat(history(trained, slice(-25, -24))[0]["timestamp"])
    assert [r["timestamp"] for r in forecast] == [
        f"{last + timedelta(hours=h):%Y-%m-%d %H:%M:%S}" for h in range(1, 25)
    ]
    errors = [abs(float(r["load_mw"]) - a) / a for r, a in zip(forecast, actual, strict=True)]
    assert sum(errors) / 24 < 0.1


def test_the_horizon_sets_the_hours_forecast(tmp_path: Path) -> None:
    short = templates.train_example(NAME, tmp_path, {"horizon_hours": 6, "max_iter": 50})
    assert short.report["horizon_hours"] == 6 and len(short.curve) <= 50
    past = write(history(short, slice(-300, None)), tmp_path / "history.csv")
    out = templates.predict(NAME, short.model, past, tmp_path / "forecast.csv")
    with out.open() as f:
        assert [r["hours_ahead"] for r in csv.DictReader(f)] == ["1", "2", "3", "4", "5", "6"]


def test_a_horizon_past_a_week_is_refused() -> None:
    with pytest.raises(core.TemplateError, match="horizon_hours"):
        core.check_params(templates.manifest(NAME), {"horizon_hours": 500})
