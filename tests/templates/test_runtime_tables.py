"""The runtime's shared cells and outputs (aicc_template.number, write_output, Run.log_losses),
which the templates' train.py and predict.py call instead of keeping copies."""

from __future__ import annotations

import json
import math
from datetime import datetime
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
