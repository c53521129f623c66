"""The lesion-segmentation template: trained on its example scans and masks it marks lesions,
and its predict.py writes a mask PNG and the lesion's size for each new scan."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.templates import aicc_template
from aicc.testing import templates

NAME = "lesion-segmentation"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("lesions"))


def test_the_manifest_describes_a_healthcare_segmenter() -> None:
    manifest = templates.manifest(NAME)
    assert (manifest.industry, manifest.task, manifest.input.kind) == (
        "healthcare",
        "segmentation",
        "table",
    )
    assert [c.name for c in manifest.input.columns] == ["image", "mask"]
    assert manifest.metric.name == "iou"
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.threshold"):
        core.check_params(manifest, {"threshold": 1.5})
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.image_size"):
        core.check_params(manifest, {"image_size": 30})


def test_training_on_the_example_reaches_the_expected_iou(trained: templates.Trained) -> None:
    manifest = templates.manifest(NAME)
    assert core.reached(manifest.metric, trained.metrics["iou"]), trained.metrics
    assert len(trained.curve) == manifest.hyperparameters["epochs"].default
    assert trained.curve[-1]["loss"] < trained.curve[0]["loss"]
    assert sorted(p.name for p in trained.model.iterdir()) == ["config.json", "model.pt"]
    assert trained.report["scans"] == 240
    assert "IoU" in trained.report["summary"]["en"]
    assert "交并比" in trained.report["summary"]["zh-CN"]


def test_predict_writes_a_mask_per_scan_that_covers_its_lesions(
    trained: templates.Trained, tmp_path: Path
) -> None:
    example = trained.output.parent.parent / "example"
    pairs = aicc_template.read_table(example / "pairs.csv")
    scans = pairs["image"][-10:]
    table = example / "new-scans.csv"  # the image column only: what a clinic sends
    aicc_template.write_table(table, {"image": scans})
    out = templates.predict(NAME, trained.model, table, tmp_path / "out" / "lesions.csv")
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == scans
    inter = union = 0
    for row, truth_path in zip(rows, pairs["mask"][-10:], strict=True):
        mask = aicc_template.read_image(out.parent / row["mask"])[:, :, 0] > 127
        truth = aicc_template.read_image(example / truth_path)[:, :, 0] > 127
        assert mask.shape == truth.shape == (32, 32)
        assert int(row["lesion_pixels"]) == int(mask.sum()) > 0
        inter, union = inter + int((mask & truth).sum()), union + int((mask | truth).sum())
    assert inter / union > 0.7

    folder = tmp_path / "scans"
    folder.mkdir()
    for name in scans[:3]:
        shutil.copy(example / name, folder)
    done = templates.predict(NAME, trained.model, folder, tmp_path / "folder-out")
    listed = list(csv.DictReader((done / "predictions.csv").open()))
    assert [r["image"] for r in listed] == [Path(s).name for s in scans[:3]]
    assert all((done / r["mask"]).is_file() for r in listed)


def test_one_epoch_logs_one_point(trained: templates.Trained, tmp_path: Path) -> None:
    example = trained.output.parent.parent / "example"
    quick = templates.train(NAME, example, tmp_path, {"epochs": 1, "image_size": 16})
    assert [p["step"] for p in quick.curve] == [1]
    assert "16x16" in quick.report["summary"]["en"]
