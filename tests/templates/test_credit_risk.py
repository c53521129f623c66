"""The credit-risk template: trained on its example, it ranks defaulters above repaid loans as
well as its manifest says, and its predict.py scores new applications."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "credit-risk"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("credit"))


def test_trains_to_its_expected_auc_with_a_readable_report(trained: templates.Trained) -> None:
    manifest = templates.manifest(NAME)
    assert core.reached(manifest.metric, trained.metrics["auc"])
    assert 0.1 < trained.metrics["default_rate"] < 0.2
    assert trained.curve and all(p["val_loss"] > 0 for p in trained.curve)
    assert (trained.model / "model.joblib").stat().st_size > 0
    assert trained.report["summary"]["en"] and "违约" in trained.report["summary"]["zh-CN"]
    top = [f["feature"] for f in trained.report["top_features"]]
    assert {"late_payments_2y", "debt_ratio"} & set(top[:3])


def test_predict_scores_each_application(trained: templates.Trained, tmp_path: Path) -> None:
    example = trained.output.parent.parent / "example" / "loan_applications.csv"
    with example.open() as f:
        rows = list(csv.DictReader(f))[:50]
    for row in rows:
        del row["default"]
    new = tmp_path / "new.csv"
    with new.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = templates.predict(NAME, trained.model, new, tmp_path / "scored.csv")
    with out.open() as f:
        scored = list(csv.DictReader(f))
    assert [r["application_id"] for r in scored] == [r["application_id"] for r in rows]
    chances = [float(r["default_probability"]) for r in scored]
    assert all(0 <= c <= 1 for c in chances) and len(set(chances)) > 10
    assert "default" not in scored[0]


def test_max_iter_caps_the_trees(tmp_path: Path) -> None:
    few = templates.train_example(NAME, tmp_path, {"max_iter": 5})
    assert len(few.curve) == 5 and few.report["trees"] == 5


def test_an_out_of_range_learning_rate_is_refused() -> None:
    with pytest.raises(core.TemplateError, match="learning_rate"):
        core.check_params(templates.manifest(NAME), {"learning_rate": 5})
