"""The series-forecast template: any table with a time column and a number becomes a
forecaster at the data's own frequency (daily, hourly, monthly here), better than repeating the
last season on the held-out tail; its predict.py answers a horizon, future dates, or a fresh
history; a series too short or with irregular times is refused saying what would do."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aicc.core import templates as core
from aicc.testing import serving, templates

NAME = "series-forecast"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("series"))


def refused(data: Path, work: Path, columns: dict[str, str] | None = None) -> str:
    """What a run refusing its data says. All of its stderr: a library's thread may print a
    line of its own as the interpreter exits after the message."""
    code = templates.workdir(NAME, work / "code")
    hp = core.check_params(templates.manifest(NAME), {})
    doc = {"hyperparameters": hp, "input": {"table": None, "columns": columns or {}}}
    (work / "params.json").write_text(json.dumps(doc))
    args = [
        "--data",
        str(data),
        "--output",
        str(work / "out"),
        "--params",
        str(work / "params.json"),
    ]
    done = subprocess.run(
        [sys.executable, "train.py", *args], cwd=code, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0, f"trained on data it should refuse:\n{done.stdout}"
    assert not (work / "out" / "model").exists()
    return done.stderr


def example_rows(trained: templates.Trained) -> list[dict[str, str]]:
    with (trained.output.parent.parent / "example" / "shop_sales_daily.csv").open() as f:
        return list(csv.DictReader(f))


def write(rows: list[dict[str, object]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_the_example_beats_repeating_the_last_week(trained: templates.Trained) -> None:
    m, facts = trained.metrics, trained.report["facts"]
    assert core.reached(templates.manifest(NAME).metric, m["mase"])
    assert m["mase"] < m["baseline_mase"] and m["mae"] < m["baseline_mae"]
    # daily data stays daily: no hours made up between the days
    assert facts["frequency"] == "D" and facts["rows"] == facts["rows_read"] == 1095
    assert (facts["target"], facts["time"], facts["horizon"], facts["season"]) == (
        "sales",
        "date",
        14,
        7,
    )
    assert facts["baseline_name"]["zh-CN"] and facts["model"] in facts["backtests"]
    assert "14 days ahead" in trained.report["summary"]["en"]
    assert "未来 14 天" in trained.report["summary"]["zh-CN"]
    chart = trained.report["charts"]["forecast"]
    assert chart["time"][0] == "2023-12-18" and len(chart["actual"]) == 14
    assert all(
        lo <= p <= hi
        for lo, p, hi in zip(chart["lower"], chart["predicted"], chart["upper"], strict=True)
    )
    schema = json.loads((trained.model / "schema.json").read_text())
    assert schema["task"] == "forecasting" and schema["frequency"] == "D"
    assert (schema["time"], schema["target"], schema["horizon"]) == ("date", "sales", 14)
    assert schema["inputs"][0] == {
        "name": "date",
        "type": "datetime",
        "required": True,
        "example": "2024-01-01",
    }
    holiday = {"name": "holiday", "type": "boolean", "required": False, "example": False}
    assert schema["inputs"][1:] == ([holiday] if facts["regressors"] else [])
    names = [o["name"] for o in schema["outputs"]]
    assert names == ["date", "sales_forecast", "sales_lower", "sales_upper"]


def test_predict_the_next_days_by_horizon(trained: templates.Trained, tmp_path: Path) -> None:
    given = tmp_path / "h.jsonl"
    given.write_text('{"horizon": 7}\n')
    rows = read(templates.predict(NAME, trained.model, given, tmp_path / "out.csv"))
    assert [r["date"] for r in rows] == [f"2024-01-0{d}" for d in range(1, 8)]
    for r in rows:
        assert float(r["sales_lower"]) < float(r["sales_forecast"]) < float(r["sales_upper"])
        assert 150 < float(r["sales_forecast"]) < 500
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    default = read(templates.predict(NAME, trained.model, empty, tmp_path / "all.csv"))
    assert len(default) == 14 and default[:7] == rows


def test_predict_at_future_dates_with_the_holiday_flag(
    trained: templates.Trained, tmp_path: Path
) -> None:
    days = [datetime(2024, 1, 1) + timedelta(days=i) for i in range(10)]
    future = [{"date": f"{d:%Y/%m/%d}", "holiday": "false"} for d in days]
    out = tmp_path / "out.jsonl"
    templates.predict(NAME, trained.model, write(future, tmp_path / "future.csv"), out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["date"] for r in rows] == [f"{d:%Y/%m/%d}" for d in days]  # the user's own text
    assert all(r["holiday"] is False and r["sales_forecast"] > 0 for r in rows)


def test_predict_continues_a_given_history(trained: templates.Trained, tmp_path: Path) -> None:
    rows = example_rows(trained)
    cut = len(rows) - 60  # forecast two weeks from early November 2023
    past: list[dict[str, object]] = [dict(r) for r in rows[cut - 120 : cut]]
    future: list[dict[str, object]] = [{**r, "sales": ""} for r in rows[cut : cut + 14]]
    given = write(past + future, tmp_path / "history.csv")
    got = read(templates.predict(NAME, trained.model, given, tmp_path / "out.csv"))
    assert [r["date"] for r in got] == [r["date"] for r in rows[cut : cut + 14]]
    actual = [float(r["sales"]) for r in rows[cut : cut + 14]]
    naive = [float(r["sales"]) for r in rows[cut - 7 : cut]] * 2
    mae = sum(abs(float(r["sales_forecast"]) - a) for r, a in zip(got, actual, strict=True))
    naive_mae = sum(abs(n - a) for n, a in zip(naive, actual, strict=True))
    assert mae < naive_mae


def hourly(hours: int) -> list[dict[str, object]]:
    start = datetime(2010, 1, 1)
    out = []
    for h in range(hours):
        t = start + timedelta(hours=h)
        day = math.sin(2 * math.pi * (t.hour - 9) / 24)
        noise = math.sin(h * 12.9898) * 43758.5453 % 1 - 0.5
        out.append({"when": f"{t:%Y/%m/%d %H:%M}", "temp": round(8 + 5 * day + noise, 2)})
    return out


def test_an_hourly_series_with_slashed_dates(tmp_path: Path) -> None:
    data = write(hourly(24 * 40), tmp_path / "data" / "temps.csv")
    run = templates.train(NAME, data.parent, tmp_path / "run", {"backtests": 2})
    facts = run.report["facts"]
    assert (facts["frequency"], facts["rows"], facts["horizon"], facts["season"]) == (
        "H",
        960,
        48,
        24,
    )
    assert facts["target"] == "temp" and facts["time"] == "when"  # the only candidates
    assert run.metrics["mase"] < run.metrics["baseline_mase"]
    given = tmp_path / "h.csv"
    given.write_text("horizon\n3\n")
    rows = read(templates.predict(NAME, run.model, given, tmp_path / "out.csv"))
    assert [r["when"] for r in rows] == [
        "2010-02-10 00:00:00",
        "2010-02-10 01:00:00",
        "2010-02-10 02:00:00",
    ]


def test_a_monthly_series(tmp_path: Path) -> None:
    rows = []
    for i in range(120):
        season = 20 * math.sin(2 * math.pi * i / 12)
        wobble = (math.sin(i * 7.31) * 1000 % 1 - 0.5) * 6
        rows.append(
            {
                "month": f"{2015 + i // 12}-{i % 12 + 1:02d}",
                "visitors": 300 + 2 * i + season + wobble,
            }
        )
    data = write(rows, tmp_path / "data" / "visitors.csv")
    run = templates.train(
        NAME, data.parent, tmp_path / "run", columns={"time": "month", "target": "visitors"}
    )
    facts = run.report["facts"]
    assert (facts["frequency"], facts["rows"], facts["horizon"], facts["season"]) == (
        "M",
        120,
        12,
        12,
    )
    assert run.metrics["mase"] < run.metrics["baseline_mase"]
    assert run.report["charts"]["forecast"]["time"][0] == "2024-01-01"


def test_duplicates_gaps_and_a_leaked_copy_are_handled(tmp_path: Path) -> None:
    start = datetime(2012, 1, 1)
    rows: list[dict[str, object]] = []
    for i in range(200):
        if i in (50, 120):
            continue  # two missing days
        value = 100 + 10 * (i % 7) + (i % 5)
        rows.append(
            {
                "date": f"{start + timedelta(days=i):%Y-%m-%d} 00:00:00",
                "y": value,
                "y_copy": value,
                "id": i,
            }
        )
    rows += [dict(rows[10]), dict(rows[11]), dict(rows[12])]  # rows seen again
    data = write(rows, tmp_path / "data" / "d.csv")
    run = templates.train(NAME, data.parent, tmp_path / "run", columns={"target": "y"})
    facts = run.report["facts"]
    assert (facts["frequency"], facts["rows"], facts["rows_read"]) == ("D", 200, 201)
    assert (facts["duplicates"], facts["filled"]) == (3, 2)
    dropped = {d["column"]: d["why"]["en"] for d in facts["dropped"]}
    assert "copy" in dropped["y_copy"] and "ID" in dropped["id"]
    assert "y_copy" not in facts["regressors"]


def test_too_short_a_series_says_how_many_points_it_needs(tmp_path: Path) -> None:
    rows = [{"date": f"2024-01-{d:02d}", "sales": 10 + d % 7} for d in range(1, 31)]
    data = write(rows, tmp_path / "data" / "short.csv")
    said = refused(data.parent, tmp_path / "run")
    assert "30 days" in said and "at least 58 (70 to learn a season of 7)" in said, said


def test_irregular_times_are_refused_with_what_would_fit(tmp_path: Path) -> None:
    start, rows, t = datetime(2024, 1, 1), [], 0.0
    for i in range(100):
        t += 1 + (i * 7919 % 13) * 3.7
        rows.append({"at": f"{start + timedelta(hours=t):%Y-%m-%d %H:%M:%S}", "v": i % 9})
    data = write(rows, tmp_path / "data" / "odd.csv")
    said = refused(data.parent, tmp_path / "run", columns={"target": "v"})
    assert "irregular" in said and "one row per hour, day, week" in said, said


def test_two_numbers_and_no_choice_asks_which_to_forecast(tmp_path: Path) -> None:
    rows = [{"date": f"2024-01-{d:02d}", "a": d % 7, "b": d % 5} for d in range(1, 31)]
    data = write(rows, tmp_path / "data" / "two.csv")
    said = refused(data.parent, tmp_path / "run")
    assert "--column target=COLUMN (one of: a, b)" in said, said


def test_a_yearly_cycle_is_found_from_the_data(tmp_path: Path) -> None:
    """Sunspots (statsmodels' bundled table): yearly, so no calendar season, but an ~11-year
    cycle the run finds from the autocorrelation and forecasts with, far better than
    repeating the last year."""
    from statsmodels.datasets import sunspots

    table = sunspots.load_pandas().data
    rows = [
        {"year": int(y), "activity": float(v)}
        for y, v in zip(table["YEAR"], table["SUNACTIVITY"], strict=True)
    ]
    data = write(rows, tmp_path / "data" / "sunspots.csv")
    run = templates.train(NAME, data.parent, tmp_path / "run", columns={"time": "year"})
    facts = run.report["facts"]
    assert (facts["frequency"], facts["horizon"], facts["mase_season"]) == ("Y", 3, 1)
    assert 9 <= facts["season"] <= 12 and set(facts["seasons_tried"]) == {"1", str(facts["season"])}
    assert "autocorrelation" in facts["season_found"]["en"] and facts["season_found"]["zh-CN"]
    assert f"season of {facts['season']}" in run.report["summary"]["en"]
    assert run.metrics["mase"] < 0.6 * run.metrics["baseline_mase"]


def test_a_deployment_of_it_answers_the_documented_horizon_body(
    trained: templates.Trained, tmp_path: Path
) -> None:
    """`POST /predict {"horizon": N}`, as docs/models.md writes it, answers what predict.py
    writes for the one-row table `{"horizon": N}`; a horizon that is not a count is a 400."""
    version = serving.model_version(NAME, trained.model, tmp_path / "version")
    with serving.serve(version, tmp_path / "replica", name="sales") as replica:
        answer = httpx.post(replica.url + "/predict", json={"horizon": 7}, timeout=60)
        assert answer.status_code == 200, answer.text
        dates = [row["date"] for row in answer.json()["predictions"]]
        assert dates == [f"2024-01-0{d}" for d in range(1, 8)]
        for bad in ({"horizon": 0}, {"horizon": "7"}, {"horizon": True}):
            refused = httpx.post(replica.url + "/predict", json=bad, timeout=60)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["param"] == "horizon"


def test_a_season_growing_with_its_trend_beats_repeating_last_year(tmp_path: Path) -> None:
    """Issue 58: a monthly series whose season grows with a linear trend (multiplicative), 7
    years learned and the 8th held out from the template altogether: its forecast through
    predict.py's `{"horizon": 12}` beats repeating the last year, as the multiplicative
    Holt-Winters and the seasonal naive forecast with a drift among its candidates can."""
    import numpy as np

    rng = np.random.default_rng(58)
    t = np.arange(96)
    profile = np.sin(2 * math.pi * t / 12 + 0.7) * 0.3 + np.where(t % 12 == 11, 0.25, 0.0)
    y = (100 + 1.5 * t) * (1 + profile) * (1 + rng.normal(0, 0.03, len(t)))
    rows = [
        {"month": f"{2015 + i // 12}-{i % 12 + 1:02d}", "sales": round(v, 2)}
        for i, v in enumerate(y[:84])
    ]
    data = write(rows, tmp_path / "data" / "sales.csv")
    run = templates.train(NAME, data.parent, tmp_path / "run", columns={"time": "month"})
    assert run.metrics["mase"] < run.metrics["baseline_mase"]
    given = tmp_path / "h.jsonl"
    given.write_text('{"horizon": 12}\n')
    got = read(templates.predict(NAME, run.model, given, tmp_path / "out.csv"))
    forecast = np.array([float(r["sales_forecast"]) for r in got])
    naive = y[72:84]
    held = y[84:]
    assert np.abs(forecast - held).mean() < 0.8 * np.abs(naive - held).mean()


def test_a_series_of_the_fewest_points_it_takes_trains(tmp_path: Path) -> None:
    """34 weeks, the least for 8 weeks ahead with 3 backtests (2 + 8 x 4): too few for a
    season of 52, learned without one; the first backtest fits 2 points, too few for lags
    (the trees are left out, where the run once failed on no lags at all)."""
    start = datetime(2020, 1, 6)
    rows = [
        {"week": f"{start + timedelta(weeks=i):%Y-%m-%d}", "v": 100 + 10 * math.sin(i / 3) + i % 5}
        for i in range(34)
    ]
    data = write(rows, tmp_path / "data" / "weekly.csv")
    run = templates.train(NAME, data.parent, tmp_path / "run", columns={"time": "week"})
    facts = run.report["facts"]
    assert (facts["frequency"], facts["rows"], facts["horizon"], facts["season"]) == ("W", 34, 8, 1)
    assert "gbm" not in facts["backtests"] and math.isfinite(run.metrics["mase"])
