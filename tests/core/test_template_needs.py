"""What a template declares of its data, checked from the facts of a data set version (issue 37):
a binary target (credit-risk), the time column's frequency (load-forecasting wants hours), and
the points a forecaster needs for its horizon and backtests (series-forecast). Each refusal says
what was found and what is needed, names the template that fits where one does, and reads in
zh-CN; a version committed before these facts existed is checked for what it can."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from aicc.core import templates as core
from aicc.portal.i18n import Translator
from aicc.services.data import tablefacts
from aicc.testing import templates

CREDIT = templates.manifest("credit-risk")
LOAD = templates.manifest("load-forecasting")
SERIES = templates.manifest("series-forecast")
KINDS = ["sun", "rain", "fog", "snow", "drizzle"]


def described(columns: dict[str, Any], sampled: int | None = None) -> dict[str, Any]:
    """A version's `tables` for one file of these columns, as a commit describes it."""
    table = pa.table(columns)
    found = tablefacts.facts(table)
    types = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
    listed = [
        {"name": n, "type": types.get(table.schema.field(n).type, "VARCHAR"), **found[n]}
        for n in table.column_names
    ]
    rows = table.num_rows
    return {"t.csv": {"columns": listed, "rows": rows, "sampled": sampled or rows}}


def old(tables: dict[str, Any]) -> dict[str, Any]:
    """The same version as one committed before the check learned frequencies and counts:
    its columns' names and types only."""
    return {
        path: {"columns": [{"name": c["name"], "type": c["type"]} for c in t["columns"]],
               "rows": t["rows"]}
        for path, t in tables.items()
    }  # fmt: skip


def loans(target: list[Any]) -> dict[str, Any]:
    n = len(target)
    data: dict[str, Any] = {c.name: [1.0 + i % 7 for i in range(n)] for c in CREDIT.input.columns}
    for name in ("employment_type", "region", "loan_purpose"):
        data[name] = [["a", "b", "c"][i % 3] for i in range(n)]
    return data | {"default": target}


def series(step: timedelta, n: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> list[str]:
    return [f"{datetime(2024, 1, 1) + i * step:{fmt}}" for i in range(n)]


def zh(reason: str) -> str:
    said = Translator("zh-CN").said(reason)
    assert said != reason and "needs" not in said, reason
    return said


def test_a_label_of_five_classes_is_no_binary_target_and_table_prediction_is_named() -> None:
    found = core.fit(CREDIT, ["t.csv"], described(loans([KINDS[i % 5] for i in range(300)])))
    assert not found.ok
    assert found.reason.startswith("t.csv: column default has 5 value(s) (")
    assert all(kind in found.reason for kind in KINDS)
    assert found.reason.endswith(
        "credit-risk needs two outcomes, 0 and 1 (or true and false); "
        "table-prediction fits it: it predicts any column"
    )
    assert "table-prediction 适用：它能预测任意一列" in zh(found.reason)
    for target in ([i % 3 for i in range(300)], [["yes", "no"][i % 2] for i in range(300)]):
        assert not core.fit(CREDIT, ["t.csv"], described(loans(target))).ok, target[:3]
    only_zeros = core.fit(CREDIT, ["t.csv"], described(loans([0] * 300)))
    assert "column default has 1 value(s) (0)" in only_zeros.reason


def test_a_target_of_zeros_and_ones_fits_and_old_facts_leave_it_to_the_run() -> None:
    for target in ([i % 2 for i in range(300)], [["True", "False"][i % 2] for i in range(300)]):
        assert core.fit(CREDIT, ["t.csv"], described(loans(target))).ok, target[:3]
    five = described(loans([KINDS[i % 5] for i in range(300)]))
    assert core.fit(CREDIT, ["t.csv"], old(five)).ok  # no counts: the run refuses it


def test_daily_rows_are_refused_by_the_hourly_preset_with_the_forecaster_that_fits() -> None:
    mapping = {"timestamp": "date", "load_mw": "load", "temperature": "temp"}
    daily = {
        "date": series(timedelta(days=1), 1461, "%Y/%m/%d"),
        "load": [500.0 + i % 9 for i in range(1461)],
        "temp": [10.0 + i % 13 for i in range(1461)],
    }
    found = core.fit(LOAD, ["t.csv"], described(daily), mapping)
    assert found.reason == (
        "t.csv: load-forecasting needs one row per hour; column date has one row per day (D); "
        "series-forecast fits it: it forecasts a series of any frequency"
    )
    assert "列 date 是每天一行（D）" in zh(found.reason)
    # fewer days than the 1,008 rows an hourly series needs: the frequency is still the reason
    short = {k: v[:400] for k, v in daily.items()}
    assert "one row per day (D)" in core.fit(LOAD, ["t.csv"], described(short), mapping).reason
    hourly = dict(daily, date=series(timedelta(hours=1), 1461))
    assert core.fit(LOAD, ["t.csv"], described(hourly), mapping).ok
    assert core.fit(LOAD, ["t.csv"], old(described(daily)), mapping).ok  # the run refuses it


def test_irregular_times_are_no_series() -> None:
    when = [datetime(2024, 1, 1) + timedelta(hours=i * i % 997 + i) for i in range(120)]
    data = {"when": [f"{t:%Y-%m-%d %H:%M}" for t in when], "y": [float(i % 7) for i in range(120)]}
    found = core.fit(SERIES, ["t.csv"], described(data), {"time": "when", "target": "y"})
    assert found.reason == (
        "t.csv: column when has irregular times; a series needs one row per hour, day, week, "
        "month, quarter or year (aggregate it to one of these first)"
    )
    zh(found.reason)
    readings = {
        "timestamp": data["when"] * 10,
        "load_mw": data["y"] * 10,
        "temperature": [1.0] * 1200,
    }
    found = core.fit(LOAD, ["t.csv"], described(readings))
    assert found.reason.endswith("column timestamp has irregular times")  # no forecaster fits
    zh(found.reason)


def test_a_series_too_short_for_its_horizon_and_backtests_says_how_many_points() -> None:
    data = {"day": series(timedelta(days=1), 40, "%Y-%m-%d"), "y": [1.0 + i % 7 for i in range(40)]}
    mapping = {"time": "day", "target": "y"}
    found = core.fit(SERIES, ["t.csv"], described(data), mapping)
    assert found.reason == (
        "t.csv: column day has 40 times, one row per day (D); series-forecast needs at least "
        "2 + 14 × (3 + 1) = 58 (2 seasons or 2 points, then the horizon held out and once more "
        "per backtest): give more history, or a smaller horizon or fewer backtests"
    )
    assert "至少需要 2 + 14 × (3 + 1) = 58 个" in zh(found.reason)
    # the run's hyperparameters count: one backtest needs 2 + 14 x 2 = 30; a season given, 2 of it
    assert core.fit(SERIES, ["t.csv"], described(data), mapping, params={"backtests": 1}).ok
    seasonal = core.fit(
        SERIES, ["t.csv"], described(data), mapping, params={"backtests": 1, "season": 7}
    )
    assert "needs at least 2 × 7 + 14 × (1 + 1) = 42" in seasonal.reason
    # hyperparameters the run would refuse: the defaults
    assert not core.fit(SERIES, ["t.csv"], described(data), mapping, params={"backtests": 0}).ok
    # facts over part of the rows cannot count the points; nor can old ones
    assert core.fit(SERIES, ["t.csv"], described(data, sampled=30), mapping).ok
    assert core.fit(SERIES, ["t.csv"], old(described(data)), mapping).ok
    monthly = {"month": series(timedelta(days=31), 40, "%Y-%m"), "y": data["y"]}
    found = core.fit(SERIES, ["t.csv"], described(monthly), {"time": "month", "target": "y"})
    assert "40 times, one row per month (M)" in found.reason and "= 50 " in found.reason


@pytest.mark.parametrize(
    "given",
    [
        {"frequency": "H", "columns": [{"name": "load", "type": "number"}]},
        {"frequency": "H", "horizon": {"H": 24}, "columns": [{"name": "t", "type": "datetime"}]},
    ],
)
def test_a_frequency_is_declared_for_a_time_column_of_any_frequency(given: dict[str, Any]) -> None:
    doc = CREDIT.model_dump(by_alias=True, exclude_none=True)
    doc["input"] = {"kind": "table", **given}
    with pytest.raises(core.TemplateError, match=r"input: a (frequency|horizon)"):
        core.parse(doc)


def test_only_columns_that_read_as_times_carry_time_facts() -> None:
    quarters = series(timedelta(minutes=15), 200)
    found = tablefacts.facts(
        pa.table(
            {
                "quarters": quarters,
                "words": [KINDS[i % 5] for i in range(200)],
                "amounts": [float(i) for i in range(200)],
                "counts": list(range(200)),
            }
        )
    )
    # every 15 minutes: no frequency of its own, but one per hour once binned into hours
    assert (
        found["quarters"] | {"times": 200, "frequency": None, "hourly": True} == found["quarters"]
    )
    for name in ("words", "amounts", "counts"):
        assert "times" not in found[name] and "frequency" not in found[name], name
