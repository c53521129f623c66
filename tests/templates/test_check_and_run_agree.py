"""The check and the run agree (issue 37): messy tables a tenant brings — dates as
`2010/01/01 00:00`, `01/02/2010` and `20100101`, a JSON array, JSON lines, GBK and UTF-8 with a
BOM, `;` between cells, missing values, an ID, a leaked copy of the target, a 5-class label,
too few rows, a daily series, a text table; a 5-class label for the binary credit-risk, daily
rows for the hourly load-forecasting, irregular times and a too-short series for series-forecast
— each pushed as a data set version through the server, checked against the templates with the
roles a person would choose, and each one that passes the check trained with the table and
columns the check chose. None passes the check and then fails; each refusal names the problem,
and where the run was tried too (`run_says`) it refuses the same data for the same reason."""

from __future__ import annotations

import ast
import json
import math
import random
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from aicc.services.data import tablefacts
from aicc.testing import templates
from aicc.testing.datasets import push
from aicc.testing.servers import in_process

pytestmark = pytest.mark.slow

KINDS = ["sun", "rain", "fog", "snow", "drizzle"]
# the least time each run may take: the check is what is tested, not how well it learns
FAST: dict[str, dict[str, Any]] = {
    "table-prediction": {"time_budget_s": 5},
    "text-classification": {"time_budget_s": 5},
    "series-forecast": {"time_budget_s": 5, "backtests": 1},
}


def csv(rows: list[dict[str, Any]], sep: str = ",") -> str:
    names = list(rows[0])
    lines = [sep.join(names)]
    lines += [sep.join("" if r[n] is None else str(r[n]) for n in names) for r in rows]
    return "\n".join(lines) + "\n"


def weather(n: int, stamp: Any, rng: random.Random) -> list[dict[str, Any]]:
    """Daily weather: the type of day follows the rain and the temperature (learnable)."""
    out = []
    start = date(2010, 1, 1)
    for i in range(n):
        day = start + timedelta(days=i)
        temp = 12 + 10 * math.sin(i / 58) + rng.gauss(0, 1.5)
        rain = max(0.0, rng.gauss(2, 3))
        kind = (
            "snow"
            if temp < 4 and rain > 2
            else "rain"
            if rain > 3
            else "drizzle"
            if rain > 1.5
            else "fog"
            if temp < 8
            else "sun"
        )
        out.append(
            {
                "id": f"w{i:05d}",
                "date": stamp(day),
                "precipitation": round(rain, 1) if i % 17 else None,  # missing values
                "temp_max": round(temp, 1),
                "wind": round(abs(rng.gauss(3, 1)), 1),
                "weather": kind,
            }
        )
    return out


def texts(n: int, rng: random.Random) -> list[dict[str, Any]]:
    good = ["great", "excellent", "love it", "works well", "很好", "满意"]
    bad = ["broken", "terrible", "refund please", "stopped working", "很差", "失望"]
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        words = rng.sample(good if positive else bad, 2)
        rows.append(
            {
                "review": f"order {i}: {' and '.join(words)}",
                "sentiment": "pos" if positive else "neg",
            }
        )
    return rows


@dataclass
class Case:
    """A data set a tenant pushes, the template it tries with the roles it gives, and what
    must happen: it trains, or the check refuses with `refused` in its reason."""

    name: str
    files: dict[str, bytes]
    template: str
    columns: dict[str, str] = field(default_factory=dict)
    refused: str = ""
    warned: str = ""
    task: str | None = None
    run_says: str = ""  # a refused case tried by the run too (the check's defaults): its reason


def loans(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """credit-risk's columns, with a weather-type label where its 0 or 1 outcome belongs."""
    return [
        {
            "age": 20 + i % 50,
            "annual_income": round(rng.uniform(2e4, 2e5)),
            "employment_type": ["salaried", "contract", "retired"][i % 3],
            "region": ["north", "south"][i % 2],
            "loan_purpose": ["car", "home", "study"][i % 3],
            "loan_amount": round(rng.uniform(1e3, 5e4)),
            "loan_term_months": [12, 24, 36][i % 3],
            "debt_ratio": round(rng.random(), 2),
            "credit_history_months": i % 120,
            "late_payments_2y": i % 4,
            "open_credit_cards": i % 5,
            "outcome": KINDS[i % 5],
        }
        for i in range(n)
    ]


def readings(stamps: list[str], rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"date": t, "load": round(500 + rng.gauss(0, 20), 1), "temp": round(rng.gauss(12, 5), 1)}
        for t in stamps
    ]


def corpus() -> list[Case]:
    rng = random.Random(7)
    slash = weather(400, lambda d: d.strftime("%Y/%m/%d 00:00"), rng)
    us = weather(200, lambda d: d.strftime("%m/%d/%Y"), rng)
    compact = weather(200, lambda d: int(d.strftime("%Y%m%d")), rng)
    cars = [
        {
            "model": f"car {i}",
            "cylinders": [4, 6, 8][i % 3],
            "weight": 2000 + 15 * i % 2500,
            "origin": ["usa", "europe", "japan"][i % 3],
            "mpg": round(
                45 - 0.006 * (2000 + 15 * i % 2500) - [0, 3, 6][i % 3] + rng.gauss(0, 1), 1
            ),
        }
        for i in range(150)
    ]
    leaked = [dict(r, weather_code=r["weather"]) for r in slash]  # the target, again
    chinese = [
        {
            "日期": r["date"],
            "最高气温": r["temp_max"],
            "降水": r["precipitation"],
            "天气": r["weather"],
        }
        for r in slash[:200]
    ]
    one_class = [dict(r, weather="sun") for r in slash[:100]]
    days = [f"{date(2010, 1, 1) + timedelta(days=i):%Y-%m-%d}" for i in range(1461)]
    odd = [date(2010, 1, 1) + timedelta(days=i * i % 89 + i) for i in range(120)]  # irregular
    odd_days = readings(sorted({f"{d:%Y/%m/%d}" for d in odd}), rng)
    load = {"timestamp": "date", "load_mw": "load", "temperature": "temp"}
    return [
        Case("slash-dates", {"weather.csv": csv(leaked).encode()}, "table-prediction",
             {"target": "weather"}, task="classification",
             warned="column weather_code is a copy of weather"),
        Case("slash-series", {"weather.csv": csv(slash).encode()}, "series-forecast",
             {"target": "temp_max"}),
        Case("us-dates", {"weather.csv": csv(us).encode()}, "series-forecast",
             {"target": "temp_max"}),
        Case("compact-dates", {"weather.csv": csv(compact).encode()}, "series-forecast",
             {"target": "temp_max"}),
        Case("json-array", {"cars.json": json.dumps(cars).encode()}, "table-prediction",
             {"target": "mpg"}, task="regression"),
        Case("json-lines", {"cars.jsonl": "\n".join(json.dumps(c) for c in cars).encode()},
             "table-prediction", {"target": "origin"}, task="classification"),
        Case("gbk", {"天气.csv": csv(chinese).encode("gbk")}, "table-prediction",
             {"target": "天气"}, task="classification"),
        Case("bom-semicolons", {"w.csv": ("\ufeff" + csv(slash[:200], ";")).encode()},
             "table-prediction", {"target": "temp_max"}, task="regression"),
        Case("id-target", {"w.csv": csv(slash[:100]).encode()}, "table-prediction",
             {"target": "id"}, refused="column id has a different value on every row (an ID)"),
        Case("one-class", {"w.csv": csv(one_class).encode()}, "table-prediction",
             {"target": "weather"}, refused="needs at least 2 classes with 2 rows each"),
        Case("few-rows", {"w.csv": csv(slash[:12]).encode()}, "table-prediction",
             {"target": "weather"}, refused="has 12 rows; the template needs at least 30"),
        Case("bad-time", {"w.csv": csv([dict(r, date="soon" if i == 50 else r["date"])
                                        for i, r in enumerate(us)]).encode()},
             "series-forecast", {"time": "date", "target": "temp_max"},
             refused="column date holds 'soon', not a date or time"),
        Case("target-as-time", {"w.csv": csv(us).encode()}, "series-forecast",
             {"time": "temp_max", "target": "temp_max"},
             refused="column temp_max is both the time and the target"),
        Case("reviews", {"reviews.csv": csv(texts(120, rng)).encode()}, "text-classification",
             {"text": "review", "label": "sentiment"}),
        Case("five-classes", {"loans.csv": csv(loans(300, rng)).encode()}, "credit-risk",
             {"default": "outcome"}, refused="column outcome has 5 value(s) (",
             run_says="credit-risk needs two outcomes, 0 and 1 (or true and false)"),
        Case("daily-load", {"load.csv": csv(readings(days, rng)).encode()}, "load-forecasting",
             load, refused="series-forecast fits it",
             run_says="load-forecasting needs one row per hour; column date has one row per day"),
        Case("irregular", {"w.csv": csv(odd_days).encode()}, "series-forecast",
             {"time": "date", "target": "load"}, refused="column date has irregular times",
             run_says="date: the times are irregular"),
        Case("short-series", {"w.csv": csv(us[:40]).encode()}, "series-forecast",
             {"time": "date", "target": "temp_max"}, refused="2 + 14 × (3 + 1) = 58",
             run_says="40 days of data: too few for a horizon of 14 with 3 backtests; it needs "
             "at least 58"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with in_process(tmp_path_factory.mktemp("home")) as (api, _):
        yield api


def fit_of(api: TestClient, case: Case) -> dict[str, Any]:
    params: dict[str, Any] = {"data": f"{case.name}@1", "q": case.template}
    params["column"] = [f"{k}={v}" for k, v in case.columns.items()]
    listed = api.get("/api/v1/templates", params=params)
    assert listed.status_code == 200, listed.text
    (found,) = [t["fit"] for t in listed.json()["items"] if t["name"] == case.template]
    return dict(found)


def test_a_table_that_passes_the_check_trains(server: TestClient, tmp_path: Path) -> None:
    cases = corpus()
    for case in cases:
        push(server, case.name, case.files)
    fits = {case.name: fit_of(server, case) for case in cases}
    trained: list[tuple[Case, dict[str, Any]]] = []
    for case in cases:
        fit = fits[case.name]
        if case.refused:
            assert not fit["ok"] and case.refused in fit["reason"], (case.name, fit)
            if case.run_says:
                trained.append((case, fit))
            continue
        assert fit["ok"], (case.name, fit["reason"])
        assert fit["choose"] == {}, (case.name, fit)  # every role given or picked
        assert case.task is None or fit["task"] == case.task, (case.name, fit)
        assert not case.warned or any(case.warned in w for w in fit["warnings"]), fit
        trained.append((case, fit))

    def train(case: Case, fit: dict[str, Any]) -> templates.Trained | str:
        data = tmp_path / case.name / "data"
        for path, body in case.files.items():
            (data / path).parent.mkdir(parents=True, exist_ok=True)
            (data / path).write_bytes(body)
        if case.refused:  # with the hyperparameters the check assumed: the defaults
            budget = {"time_budget_s": 5} if case.template == "series-forecast" else {}
            work = tmp_path / case.name / "run"
            return templates.refused(case.template, data, work, budget, columns=case.columns)
        return templates.train(
            case.template,
            data,
            tmp_path / case.name / "run",
            FAST[case.template],
            table=fit["table"],
            columns=fit["columns"],
            timeout=240,
        )

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda pair: train(*pair), trained))
    for (case, _), run in zip(trained, runs, strict=True):
        if isinstance(run, str):
            assert case.run_says in run, (case.name, run)
            continue
        metric = templates.manifest(case.template).metric.name
        assert metric in run.metrics, (case.name, run.metrics)
        assert (run.model / "schema.json").is_file(), case.name


def test_a_run_with_the_target_unchosen_is_refused_with_the_choices(server: TestClient) -> None:
    rng = random.Random(3)
    push(server, "to-choose", {"w.csv": csv(weather(60, str, rng)).encode()})
    fit = fit_of(server, Case("to-choose", {}, "table-prediction"))
    assert fit["ok"] and fit["choose"] == {
        "target": ["precipitation", "temp_max", "wind", "weather"]
    }
    run = server.post("/api/v1/templates/table-prediction/runs", json={"data": "to-choose@1"})
    assert run.status_code == 422, run.text
    assert run.json()["detail"] == (
        "choose the column to predict: --column target=COLUMN "
        "(one of: precipitation, temp_max, wind, weather)"
    )
    assert server.get("/api/v1/jobs").json()["items"] == []
    bad = server.get("/api/v1/templates", params={"data": "to-choose@1", "column": "weather"})
    assert bad.status_code == 422 and "ROLE=COLUMN (target=weather)" in bad.json()["detail"]


def test_the_data_side_reads_tables_as_the_run_does() -> None:
    """One rule for both: the same time formats, encodings and delimiters."""
    import importlib.util

    from aicc.core import template_fit, template_needs

    spec = importlib.util.spec_from_file_location("aicc_template", templates.RUNTIME)
    assert spec is not None and spec.loader is not None
    runtime = importlib.util.module_from_spec(spec)
    sys.modules["aicc_template"] = runtime  # its dataclasses look their module up
    try:
        spec.loader.exec_module(runtime)
    finally:
        del sys.modules["aicc_template"]
    assert template_fit.TIME_FORMATS == runtime.TIME_FORMATS
    # one frequency rule: the facts are the run's own parse_times and frequency, under the
    # codes the check names
    assert list(template_needs.FREQUENCIES) == [code for code, _, _ in runtime.FREQUENCIES]
    start = date(2024, 1, 1)
    columns = {
        "hours": [f"{datetime(2024, 1, 1) + timedelta(hours=i):%Y-%m-%dT%H:%M}" for i in range(30)],
        "slashed days": [f"{start + timedelta(days=i):%Y/%m/%d}" for i in range(30)],
        "compact days": [int(f"{start + timedelta(days=i):%Y%m%d}") for i in range(30)],
        "weeks": [start + timedelta(weeks=i) for i in range(30)],
        "months": [f"{start.year + i // 12}-{1 + i % 12:02d}" for i in range(30)],
        "years": list(range(1990, 2020)),
        "irregular": [f"{start + timedelta(hours=i * i):%m/%d/%Y %H:%M}" for i in range(30)],
    }
    found = tablefacts.facts(pa.table(columns))
    for name, values in columns.items():
        times = runtime.parse_times(values)
        assert found[name]["frequency"] == runtime.frequency(times), name
        assert found[name]["times"] == len(set(times)), name
    assert [found[n]["frequency"] for n in columns] == ["H", "D", "D", "W", "M", "Y", None]
    # series-forecast's horizons by frequency, which the check counts points with
    horizon = next(
        node.value
        for node in ast.parse((templates.ROOT / "series-forecast" / "train.py").read_text()).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HORIZON"
    )
    assert ast.literal_eval(horizon) == templates.manifest("series-forecast").input.horizon
    for text in ("a,b\n1,2\n", "a;b\n1;2\n", "a|b\n1|2\n", "a\tb\n1\t2\n", 'a;b\n"x,y";2\n'):
        assert tablefacts.delimiter_of(text) == runtime.delimiter(text), text
    for data in ("天气".encode("gbk"), "\ufeffa".encode(), "é".encode(), "a".encode("utf-16")):
        assert tablefacts.decoded(data) == runtime._decoded(data), data


def test_the_hourly_preset_and_its_check_take_the_same_times(tmp_path: Path) -> None:
    """load-forecasting's run (`hourly_only`, before it trains) and the check refuse the same
    timestamps: hours and readings every 15 minutes pass, days and irregular times do not."""
    import importlib.util

    from aicc.core import templates as core

    code = templates.workdir("load-forecasting", tmp_path / "code")
    sys.path.insert(0, str(code))
    try:
        spec = importlib.util.spec_from_file_location("lf_train", code / "train.py")
        assert spec is not None and spec.loader is not None
        train = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(train)
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("aicc_template", None)
    start = datetime(2024, 3, 1)
    stamps = {
        "hours": [start + timedelta(hours=i) for i in range(1100)],
        "quarters": [start + timedelta(minutes=15 * i) for i in range(4400)],
        "days": [start + timedelta(days=i) for i in range(1100)],
        "irregular": [start + timedelta(hours=i * i % 5000) for i in range(1100)],
    }
    verdicts = {}
    for name, when in stamps.items():
        texts = [f"{t:%Y/%m/%d %H:%M}" for t in when]
        table = pa.table({"ts": texts, "load": [1.0] * len(when), "temp": [2.0] * len(when)})
        facts = tablefacts.facts(table)
        listed = [{"name": n, "type": "VARCHAR" if n == "ts" else "DOUBLE", **facts[n]}
                  for n in table.column_names]  # fmt: skip
        version = {"t.csv": {"columns": listed, "rows": len(when), "sampled": len(when)}}
        mapping = {"timestamp": "ts", "load_mw": "load", "temperature": "temp"}
        checked = core.fit(templates.manifest("load-forecasting"), ["t.csv"], version, mapping)
        try:
            train.hourly_only(texts, "ts")
            ran = ""
        except SystemExit as e:
            ran = str(e)
        assert checked.ok == (ran == ""), (name, checked.reason, ran)
        assert not ran or ran in checked.reason, (name, checked.reason, ran)
        verdicts[name] = checked.ok
    assert verdicts == {"hours": True, "quarters": True, "days": False, "irregular": False}
