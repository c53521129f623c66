"""`aicc.log_metrics` as a training script calls it: in a job, outside one, with odd values."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import aicc
from aicc.sdk import metrics


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_next_step", 0)
    monkeypatch.setattr(metrics, "_warned", set())


def lines(folder: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_each_call_is_a_line_on_disk_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_OUTPUT_DIR", str(tmp_path))
    aicc.log_metrics(step=10, loss=0.5, accuracy=1)
    assert [(p["step"], p["loss"], p["accuracy"]) for p in lines(tmp_path)] == [(10, 0.5, 1)]
    aicc.log_metrics(loss=0.4)  # no step: the one after the last
    assert [p["step"] for p in lines(tmp_path)] == [10, 11]
    assert all(isinstance(p["time"], float) for p in lines(tmp_path))


def test_a_diverged_value_is_left_out_with_a_warning_and_training_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICC_OUTPUT_DIR", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="loss is nan"):
        aicc.log_metrics(step=0, loss=float("nan"), lr=0.1)
    assert [{k: v for k, v in p.items() if k != "time"} for p in lines(tmp_path)] == [
        {"step": 0, "lr": 0.1}
    ]
    with pytest.raises(TypeError, match="metric loss must be a number"):
        aicc.log_metrics(step=1, loss="low")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="step must be a whole number"):
        aicc.log_metrics(step=1.5, loss=0.1)  # type: ignore[arg-type]


def test_outside_a_job_it_warns_once_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AICC_OUTPUT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(RuntimeWarning, match="AICC_OUTPUT_DIR is not set"):
        aicc.log_metrics(step=0, loss=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aicc.log_metrics(step=1, loss=0.9)  # the second call is quiet
    assert list(tmp_path.iterdir()) == []
