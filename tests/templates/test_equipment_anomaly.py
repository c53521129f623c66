"""The equipment-anomaly template: trained without labels on its example pumps, it finds the
marked faults of the held-out time, and its predict.py flags readings it is given."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "equipment-anomaly"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("pumps"))


def readings(trained: templates.Trained) -> list[dict[str, str]]:
    with (trained.output.parent.parent / "example" / "pump_sensors.csv").open() as f:
        return list(csv.DictReader(f))


def write(rows: list[dict[str, str]], path: Path, drop: str = "is_anomaly") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != drop])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != drop} for r in rows)
    return path


def test_finds_the_held_out_faults(trained: templates.Trained) -> None:
    manifest = templates.manifest(NAME)
    assert core.reached(manifest.metric, trained.metrics["f1"])
    assert trained.metrics["auc"] > 0.9
    assert [p["step"] for p in trained.curve] == [25, 50, 75, 100, 125, 150]
    assert (trained.model / "model.joblib").stat().st_size > 0
    assert trained.report["summary"]["en"] and "异常" in trained.report["summary"]["zh-CN"]
    assert trained.report["machines"] == ["P-101", "P-102", "P-103", "P-104"]


def test_predict_flags_each_reading(trained: templates.Trained, tmp_path: Path) -> None:
    rows = [r for r in readings(trained) if r["machine_id"] == "P-103"][-600:]
    out = templates.predict(
        NAME, trained.model, write(rows, tmp_path / "new.csv"), tmp_path / "o.csv"
    )
    with out.open() as f:
        flagged = list(csv.DictReader(f))
    assert [r["timestamp"] for r in flagged] == [r["timestamp"] for r in rows]
    assert {r["is_anomaly"] for r in flagged} == {"0", "1"}
    faults = [i for i, r in enumerate(rows) if r["is_anomaly"] == "1"]
    alarms = [i for i, r in enumerate(flagged) if r["is_anomaly"] == "1"]
    assert len(set(faults) & set(alarms)) >= 0.6 * len(faults)
    assert len(alarms) < 0.15 * len(rows)
    scores = [float(r["anomaly_score"]) for r in flagged]
    assert min(scores[i] for i in alarms) > max(s for i, s in enumerate(scores) if i not in alarms)


def test_trains_without_labels(trained: templates.Trained, tmp_path: Path) -> None:
    data = write(readings(trained), tmp_path / "unlabelled" / "pumps.csv").parent
    run = templates.train(NAME, data, tmp_path, {"n_estimators": 50})
    assert "f1" not in run.metrics and 0 < run.metrics["flagged_rate"] < 0.15
    assert [p["step"] for p in run.curve] == [25, 50]
    assert run.report["labelled_anomalies_test"] is None


def test_a_contamination_above_the_most_is_refused() -> None:
    with pytest.raises(core.TemplateError, match="contamination"):
        core.check_params(templates.manifest(NAME), {"contamination": 0.9})
