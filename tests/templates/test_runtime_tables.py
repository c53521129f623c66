"""The runtime's shared cells and outputs (aicc_template.number, write_output, Run.log_losses),
which the templates' train.py and predict.py call instead of keeping copies."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aicc.templates import aicc_template


def test_a_cell_that_is_no_finite_number_is_nan() -> None:
    assert aicc_template.number("2.5") == 2.5 and aicc_template.number(3) == 3.0
    for cell in (None, "", "n/a", "inf", float("nan")):
        assert math.isnan(aicc_template.number(cell))


def test_json_lines_by_suffix_one_object_per_row(tmp_path: Path) -> None:
    columns: dict[str, list[Any]] = {
        "text": ["好评", "b"],
        "at": [datetime(2024, 1, 5, 10), None],
        "score": [0.5, 1],
    }
    aicc_template.write_output(tmp_path / "out" / "a.jsonl", columns)
    lines = (tmp_path / "out" / "a.jsonl").read_text("utf-8").splitlines()
    assert lines[0] == '{"text": "好评", "at": "2024-01-05 10:00:00", "score": 0.5}'
    assert json.loads(lines[1]) == {"text": "b", "at": None, "score": 1}
    aicc_template.write_output(tmp_path / "b.ndjson", {"text": ["好"]}, ensure_ascii=True)
    assert (tmp_path / "b.ndjson").read_text() == '{"text": "\\u597d"}\n'


def test_other_suffixes_are_written_as_tables(tmp_path: Path) -> None:
    aicc_template.write_output(tmp_path / "a.csv", {"label": ["x", "y"], "score": [1, 2]})
    assert aicc_template.read_table(tmp_path / "a.csv") == {"label": ["x", "y"], "score": [1, 2]}


def test_boosting_losses_are_logged_from_the_first_tree(tmp_path: Path) -> None:
    run = aicc_template.Run(data=tmp_path, output=tmp_path, hp={})
    run.log_losses([0.9, 0.5, 0.4], [1.0, 0.6, 0.5])
    points = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(p["step"], p["loss"], p["val_loss"]) for p in points] == [(1, 0.5, 0.6), (2, 0.4, 0.5)]


def test_tables_are_read_in_the_encodings_and_shapes_people_bring(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("城市;温度;天气\n北京;3;晴\n上海;8;雨\n".encode("gbk"))
    assert aicc_template.read_table(gbk) == {
        "城市": ["北京", "上海"],
        "温度": [3, 8],
        "天气": ["晴", "雨"],
    }
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffa|b\n1|x\n2|y\n".encode())
    assert aicc_template.read_table(bom) == {"a": [1, 2], "b": ["x", "y"]}
    array = tmp_path / "cars.json"
    array.write_text('[{"model": "a", "hp": 90}, {"model": "b", "mpg": 31.5}]')
    lines = tmp_path / "cars.jsonl"
    lines.write_text('{"model": "a", "hp": 90}\n{"model": "b", "mpg": 31.5}\n')
    wanted = {"model": ["a", "b"], "hp": [90, None], "mpg": [None, 31.5]}
    assert aicc_template.read_table(array) == wanted == aicc_template.read_table(lines)
    late = tmp_path / "late.csv"  # text after the first block of numbers
    late.write_text("code\n" + "1\n" * 150_000 + "A7\n")
    assert aicc_template.read_table(late)["code"][-1] == "A7"


def test_a_date_column_is_read_in_one_format() -> None:
    read = aicc_template.parse_times
    assert read(["2010/01/01 00:00", "2010/01/01 01:00", "soon", None]) == [
        datetime(2010, 1, 1),
        datetime(2010, 1, 1, 1),
        None,
        None,
    ]
    assert read(["01/02/2010", "13/02/2010"]) == [datetime(2010, 2, 1), datetime(2010, 2, 13)]
    assert read(["01/02/2010", "02/03/2010"]) == [datetime(2010, 1, 2), datetime(2010, 2, 3)]
    assert read([20100102, 2011, "x"]) == [datetime(2010, 1, 2), datetime(2011, 1, 1), None]
    assert read(["2010年1月2日"]) == [datetime(2010, 1, 2)]
    assert read(["2010-01-05T10:00:00+08:00"]) == [datetime(2010, 1, 5, 2)]


def test_a_series_frequency_is_the_data_s() -> None:
    start = datetime(2020, 1, 1)
    hourly = [start + timedelta(hours=h) for h in range(60)]
    daily = [start + timedelta(days=d) for d in range(60) if d != 30]  # a missing day
    months = aicc_template.parse_times([f"2020-{m:02d}" for m in range(1, 13)])
    assert aicc_template.frequency(hourly) == "H"
    assert aicc_template.frequency(daily) == "D"
    assert aicc_template.frequency(months) == "M"
    assert (
        aicc_template.frequency([start, start + timedelta(days=1), start + timedelta(days=9)])
        is None
    )
