"""The defect-inspection template: trained on its example photos it sorts surfaces into ok,
scratch, spot and crack, and its predict.py labels new photos (a folder or one file)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "defect-inspection"
CLASSES = ["crack", "ok", "scratch", "spot"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("defects"))


def test_the_manifest_describes_a_manufacturing_image_classifier() -> None:
    manifest = templates.manifest(NAME)
    assert (manifest.industry, manifest.task, manifest.input.kind) == (
        "manufacturing",
        "image-classification",
        "image-folder",
    )
    assert (manifest.metric.name, manifest.format) == ("accuracy", "torchscript")
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.epochs"):
        core.check_params(manifest, {"epochs": 0})
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.learning_rate"):
        core.check_params(manifest, {"learning_rate": 5})


def test_training_on_the_example_reaches_the_expected_accuracy(
    trained: templates.Trained,
) -> None:
    manifest = templates.manifest(NAME)
    assert core.reached(manifest.metric, trained.metrics["accuracy"]), trained.metrics
    epochs = int(manifest.hyperparameters["epochs"].default)
    assert [p["step"] for p in trained.curve] == list(range(1, epochs + 1))
    assert all("loss" in p and "accuracy" in p for p in trained.curve)
    assert sorted(p.name for p in trained.model.iterdir()) == ["classes.json", "model.pt"]
    assert json.loads((trained.model / "classes.json").read_text())["classes"] == CLASSES
    example = trained.output.parent.parent / "example"
    files = [p.relative_to(example).as_posix() for p in example.rglob("*.png")]
    assert core.fit(manifest, files, {}).ok  # the example is a data set the template takes
    assert trained.report["classes"] == CLASSES
    assert trained.report["images"] == 480
    assert "held-out" in trained.report["summary"]["en"]
    assert "准确率" in trained.report["summary"]["zh-CN"]


def test_predict_labels_each_new_photo_with_a_known_class(
    trained: templates.Trained, tmp_path: Path
) -> None:
    example = trained.output.parent.parent / "example"
    photos = tmp_path / "photos"
    photos.mkdir()
    for kind in CLASSES:  # unlabelled: a flat folder, as a camera would drop them
        for path in sorted((example / kind).glob("*.png"))[:5]:
            shutil.copy(path, photos / path.name)
    out = templates.predict(NAME, trained.model, photos, tmp_path / "labels.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20
    assert {r["label"] for r in rows} <= set(CLASSES)
    assert all(0 < float(r["score"]) <= 1 for r in rows)
    right = sum(r["path"].startswith(r["label"] + "_") for r in rows)
    assert right >= 17, rows

    one = templates.predict(NAME, trained.model, photos / "spot_000.png", tmp_path / "one.csv")
    assert [r["path"] for r in csv.DictReader(one.open())] == ["spot_000.png"]


def test_hyperparameters_change_the_run(trained: templates.Trained, tmp_path: Path) -> None:
    example = trained.output.parent.parent / "example"
    small = templates.train(NAME, example, tmp_path, {"epochs": 1, "image_size": 16})
    assert [p["step"] for p in small.curve] == [1]
    assert json.loads((small.model / "classes.json").read_text())["image_size"] == 16
    assert "16x16" in small.report["summary"]["en"]
