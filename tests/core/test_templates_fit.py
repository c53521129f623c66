"""The fit check of generic templates (issue 37): roles the caller chooses, the candidates the
data offers for each, the task a target implies, and the refusals that guard the user (an ID
as the target, one class, a column in two roles, dates that do not read, too few rows)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from aicc.core import templates as core
from aicc.services.data import tablefacts
from aicc.testing import templates


def manifest(task: str, columns: list[dict[str, Any]], rest: str = "features") -> core.Manifest:
    return core.parse(
        {
            "name": "generic",
            "title": {"en": "Generic", "zh-CN": "通用"},
            "summary": {"en": "Learns a column.", "zh-CN": "学习一列。"},
            "industry": "general",
            "task": task,
            "framework": "scikit-learn",
            "licence": "MIT",
            "input": {"kind": "table", "min_rows": 30, "rest": rest, "columns": columns},
            "metric": {"name": "score", "goal": "maximize", "expected": 0.5},
            "format": "joblib",
        }
    )


TABLE = templates.manifest("table-prediction")
SERIES = templates.manifest("series-forecast")
TEXT = templates.manifest("text-classification")


def described(columns: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A version's `tables` for one file of these columns, as a commit describes it."""
    table = pa.table(columns)
    found = tablefacts.facts(table)
    types = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
    listed = [
        {"name": n, "type": types.get(table.schema.field(n).type, "VARCHAR"), **found[n]}
        for n in table.column_names
    ]
    return {"t.csv": {"columns": listed, "rows": table.num_rows, "sampled": table.num_rows}}


def weather(n: int = 60) -> dict[str, Any]:
    kinds = ["sun", "rain", "fog", "snow", "drizzle"]
    return {
        "id": [f"r{i:04d}" for i in range(n)],
        "date": [f"2012/01/{1 + i % 28:02d} 00:00" for i in range(n)],
        "temp_max": [10.0 + (i % 9) * 1.3 for i in range(n)],
        "wind": [i % 7 for i in range(n)],
        "weather": [kinds[i % 5] for i in range(n)],
        "station": ["seattle"] * n,
    }


def test_a_manifest_with_rest_features_names_only_chosen_roles() -> None:
    assert TABLE.input.rest == "features" and TABLE.input.columns[0].choose
    assert TABLE.task == "tabular-prediction" and TEXT.input.rest == "ignore"
    with pytest.raises(core.TemplateError, match="only chosen roles"):
        manifest("tabular-prediction", [{"name": "target", "type": "any"}])
    # the industry templates keep their manifests: nothing to choose, other columns ignored
    generic = {"table-prediction", "series-forecast", "text-classification"}
    for name in set(templates.names()) - generic - {"image-classification"}:
        m = templates.manifest(name)
        assert m.input.rest == "ignore" and not any(c.choose for c in m.input.columns), name


def test_an_unmapped_target_lists_the_columns_that_can_be_predicted() -> None:
    found = core.fit(TABLE, ["t.csv"], described(weather()))
    assert found.ok and found.columns == {}
    # not the ID (a value per row), not the constant station, not the date
    assert found.choose == {"target": ("temp_max", "wind", "weather")}
    assert found.task is None


@pytest.mark.parametrize(
    ("target", "task"),
    [("weather", "classification"), ("temp_max", "regression"), ("wind", "classification")],
)
def test_the_mapped_target_decides_the_task(target: str, task: str) -> None:
    found = core.fit(TABLE, ["t.csv"], described(weather()), {"target": target})
    assert found.ok and found.columns == {"target": target} and not found.choose
    assert found.task == task


def test_an_id_as_the_target_is_refused() -> None:
    found = core.fit(TABLE, ["t.csv"], described(weather()), {"target": "id"})
    assert not found.ok and "column id has a different value on every row (an ID)" in found.reason


def test_a_class_with_too_few_rows_is_refused_with_the_counts() -> None:
    data = weather()
    data["weather"] = ["sun"] * 59 + ["rain"]
    found = core.fit(TABLE, ["t.csv"], described(data), {"target": "weather"})
    assert not found.ok
    assert "1 value(s) on 2 rows or more (sun: 59, rain: 1)" in found.reason
    assert "at least 2 classes with 2 rows each" in found.reason


def test_a_copy_of_the_target_is_a_warning_the_run_acts_on() -> None:
    data = weather()
    data["weather_again"] = list(data["weather"])
    found = core.fit(TABLE, ["t.csv"], described(data), {"target": "weather"})
    assert found.ok and found.warnings == (
        "column weather_again is a copy of weather (the same value on every row); "
        "the run leaves it out",
    )


def test_too_few_rows_say_how_many_are_needed() -> None:
    found = core.fit(TABLE, ["t.csv"], described(weather(12)), {"target": "weather"})
    assert not found.ok and found.reason == "t.csv has 12 rows; the template needs at least 30"


def test_the_only_date_column_is_picked_as_the_time() -> None:
    data = {  # 60 days: a 14-day horizon held out and 3 backtests of 14 days, plus 2
        "day": [f"{date(2010, 1, 1) + timedelta(days=i):%m/%d/%Y}" for i in range(60)],
        "load": [100.0 + i for i in range(60)],
        "temperature": [float(i % 11) for i in range(60)],
    }
    found = core.fit(SERIES, ["t.csv"], described(data))
    assert found.ok and found.columns == {"time": "day"}
    assert found.choose == {"target": ("load", "temperature")}
    chosen = core.fit(SERIES, ["t.csv"], described(data), {"target": "load"})
    assert chosen.ok and chosen.columns == {"time": "day", "target": "load"}
    assert not chosen.choose


def test_a_column_in_two_roles_is_refused() -> None:
    data: dict[str, list[Any]] = {"day": [f"2010-01-{1 + i % 28:02d}" for i in range(40)]}
    data["load"] = [float(i) for i in range(40)]
    found = core.fit(SERIES, ["t.csv"], described(data), {"time": "day", "target": "day"})
    assert not found.ok and "column day is both the time and the target" in found.reason


def test_a_time_column_that_does_not_read_names_a_bad_value() -> None:
    data = {
        "when": [f"2010-01-{1 + i % 28:02d}" for i in range(39)] + ["yesterday"],
        "load": [float(i) for i in range(40)],
    }
    found = core.fit(SERIES, ["t.csv"], described(data), {"time": "when", "target": "load"})
    assert not found.ok and "column when holds 'yesterday', not a date or time" in found.reason


def test_text_and_label_candidates() -> None:
    n = 40
    data = {
        "review": [f"the product number {i} was {'good' if i % 2 else 'bad'}" for i in range(n)],
        "stars": [1 + i % 5 for i in range(n)],
        "sentiment": ["good" if i % 2 else "bad" for i in range(n)],
    }
    found = core.fit(TEXT, ["t.csv"], described(data))
    assert found.ok and found.columns == {"text": "review"}
    assert found.choose == {"label": ("stars", "sentiment")}
    one = dict(data, sentiment=["good"] * n)
    refused = core.fit(TEXT, ["t.csv"], described(one), {"label": "sentiment"})
    assert not refused.ok and "at least 2 classes" in refused.reason


def test_without_facts_the_check_leaves_the_rules_to_the_run() -> None:
    """A version pushed before issue 37 lists columns and rows only: the roles still map."""
    tables = {
        "t.csv": {
            "columns": [{"name": "a", "type": "BIGINT"}, {"name": "w", "type": "VARCHAR"}],
            "rows": 100,
        }
    }
    found = core.fit(TABLE, ["t.csv"], tables, {"target": "w"})
    assert found.ok and found.task == "classification" and found.columns == {"target": "w"}


def test_a_number_that_is_no_date_is_refused_as_the_time() -> None:
    data: dict[str, list[Any]] = {"day": [f"2010-01-{1 + i % 28:02d}" for i in range(40)]}
    data |= {"load": [float(i) for i in range(40)], "temp": [i * 0.5 for i in range(40)]}
    found = core.fit(SERIES, ["t.csv"], described(data), {"time": "temp", "target": "load"})
    assert not found.ok and found.reason == "t.csv: column temp is DOUBLE, not dates or times"


def test_years_are_a_series_time_and_amounts_are_not() -> None:
    """Yearly electricity by source: the year is the time; a price between 1000 and 2999 is
    a number to predict, not a year."""
    years = {
        "year": list(range(1985, 2025)),
        "coal": [500.0 - i * 3 for i in range(40)],
        "wind": [i * 1.5 for i in range(40)],
    }
    found = core.fit(SERIES, ["t.csv"], described(years))
    assert found.ok and found.columns == {"time": "year"}
    assert found.choose == {"target": ("coal", "wind")}
    prices = {"price": [1000 + 47 * i for i in range(40)], "rooms": [1 + i % 4 for i in range(40)]}
    table = core.fit(TABLE, ["t.csv"], described(prices))
    assert table.choose == {"target": ("price", "rooms")}
