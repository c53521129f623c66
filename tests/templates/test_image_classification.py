"""The generic image-classification template: any folders of images, one per class. Trained on
its example shapes and on scikit-learn's bundled handwritten digits (written here as PNG
folders), it beats always answering the most common class, and its predict.py classifies a
folder, a table of paths and base64 images (what a deployment's /predict receives)."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_digits

from aicc.core import templates as core
from aicc.templates import aicc_template
from aicc.testing import serving, templates

NAME = "image-classification"
SHAPES = ["circle", "square", "triangle"]
FAST = {"time_budget_s": 8}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("shapes"), FAST)


def example_dir(trained: templates.Trained) -> Path:
    return trained.output.parent.parent / "example"


def test_the_manifest_is_a_generic_image_classifier() -> None:
    manifest = templates.manifest(NAME)
    assert (manifest.industry, manifest.task, manifest.input.kind) == (
        "general",
        "image-classification",
        "image-folder",
    )
    assert (manifest.metric.name, manifest.format) == ("accuracy", "torchscript")
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.models"):
        core.check_params(manifest, {"models": "resnet"})


def test_the_example_trains_above_the_expected_accuracy_and_the_baseline(
    trained: templates.Trained,
) -> None:
    manifest = templates.manifest(NAME)
    metrics = trained.metrics
    assert core.reached(manifest.metric, metrics["accuracy"]), metrics
    assert metrics["accuracy"] > metrics["baseline_accuracy"] + 0.5
    assert metrics["f1_macro"] > metrics["baseline_f1_macro"]
    files = [
        p.relative_to(example_dir(trained)).as_posix() for p in example_dir(trained).rglob("*.png")
    ]
    assert core.fit(manifest, files, {}).ok

    facts = trained.report["facts"]
    assert (facts["rows"], facts["task"], facts["metric"]) == (
        600,
        "image-classification",
        "accuracy",
    )
    assert facts["classes"] == {c: 200 for c in SHAPES}
    assert (facts["channels"], facts["image_size"]) == (3, 32)  # colour, kept at its size
    # The linear model first; the network in what is left of the budget (on a machine too
    # busy to leave any, it is skipped, and the report says so by its absence).
    assert [c["model"] for c in facts["candidates"]] in (["hog-linear", "cnn"], ["hog-linear"])
    assert all(0 <= c["val_accuracy"] <= 1 and c["val_log_loss"] >= 0 for c in facts["candidates"])
    assert facts["score"] == round(metrics["accuracy"], 4)
    confusion = trained.report["charts"]["confusion"]
    assert confusion["labels"] == SHAPES
    assert sum(map(sum, confusion["matrix"])) == facts["rows_test"] == 120
    assert "held-out" in trained.report["summary"]["en"]
    assert "准确率" in trained.report["summary"]["zh-CN"]

    schema = json.loads((trained.model / "schema.json").read_text("utf-8"))
    assert schema["task"] == "image-classification"
    assert schema["inputs"] == [{"name": "image", "type": "image", "required": True}]
    assert schema["classes"] == SHAPES
    assert [o["name"] for o in schema["outputs"]][:2] == ["class_predicted", "probability"]
    assert sorted(p.name for p in trained.model.iterdir()) == [
        "config.json",
        "model.pt",
        "schema.json",
    ]


def test_predict_a_folder_and_a_table_of_paths(trained: templates.Trained, tmp_path: Path) -> None:
    photos = tmp_path / "new"
    photos.mkdir()
    for shape in SHAPES:  # unlabelled: a flat folder
        for path in sorted((example_dir(trained) / shape).glob("*.png"))[-4:]:
            (photos / path.name).write_bytes(path.read_bytes())
    out = templates.predict(NAME, trained.model, photos, tmp_path / "folder.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12
    right = sum(r["path"].startswith(r["class_predicted"] + "_") for r in rows)
    assert right >= 10, rows
    for row in rows:
        chances = [float(row[f"probability_{c}"]) for c in SHAPES]
        assert abs(sum(chances) - 1) < 1e-3
        assert float(row["probability"]) == max(chances)

    names = sorted(p.name for p in photos.iterdir())
    (photos / "list.csv").write_text(
        "image,note\n" + "".join(f"{n},seen {i}\n" for i, n in enumerate(names[:2]))
    )
    out = templates.predict(NAME, trained.model, photos / "list.csv", tmp_path / "paths.csv")
    listed = list(csv.DictReader(out.open()))
    assert [(r["image"], r["note"]) for r in listed] == [(names[0], "seen 0"), (names[1], "seen 1")]
    by_path = {r["path"]: r["class_predicted"] for r in rows}
    assert [r["class_predicted"] for r in listed] == [by_path[names[0]], by_path[names[1]]]


def test_a_deployment_classifies_base64_images_sent_as_json(
    trained: templates.Trained, tmp_path: Path
) -> None:
    """What `POST /predict` receives: rows of JSON, the image as base64 (or a data URL); a
    path is refused there (it would read the server's own files)."""
    version = serving.model_version(NAME, trained.model, tmp_path / "version")
    pngs = [sorted((example_dir(trained) / shape).glob("*.png"))[-1] for shape in SHAPES]
    inline = [base64.b64encode(p.read_bytes()).decode() for p in pngs]
    rows = [
        {"id": 1, "image": inline[0]},
        {"id": 2, "image": "data:image/png;base64," + inline[1]},
        {"id": 3, "image": inline[2]},
    ]
    with serving.serve(version, tmp_path / "replica", name="shapes") as replica:
        answer = httpx.post(replica.url + "/predict", json={"rows": rows}, timeout=120)
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert [p["id"] for p in predictions] == [1, 2, 3]
        assert all("image" not in p for p in predictions)  # the base64 is not echoed back
        assert sum(p["class_predicted"] == s for p, s in zip(predictions, SHAPES, strict=True)) >= 2
        for path in (str(pngs[0]), "../" * 12 + "etc/hostname", "not an image"):
            refused = httpx.post(replica.url + "/predict", json={"rows": [{"image": path}]})
            assert refused.status_code == 400, refused.text
            assert "base64 PNG or JPEG" in refused.json()["error"]["message"]


def test_handwritten_digits_as_png_folders(tmp_path: Path) -> None:
    digits = load_digits()
    data = tmp_path / "digits"
    seen: dict[int, int] = {}
    for i, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        if seen.get(int(target), 0) >= 40:  # a subset: 400 images, fast
            continue
        seen[int(target)] = seen.get(int(target), 0) + 1
        pixels = (image * 255 / 16).round().astype(np.uint8)
        aicc_template.write_png(data / str(target) / f"{i:04d}.png", pixels)
    (data / "README.txt").write_text("scikit-learn's digits, 8x8")  # not an image: ignored
    (data / "3" / "broken.png").write_bytes(b"not a png")  # unreadable: left out, said
    run = templates.train(NAME, data, tmp_path / "run", FAST)
    assert run.metrics["accuracy"] >= 0.9, run.report["facts"]
    facts = run.report["facts"]
    assert facts["rows"] == 400
    assert facts["unreadable"] == ["3/broken.png"]
    assert (facts["channels"], facts["image_size"]) == (1, 16)  # grayscale, 8x8 scaled up
    assert facts["mirrored_in_training"] is False  # a mirrored 2 is not a 2
    assert run.report["charts"]["confusion"]["labels"] == [str(d) for d in range(10)]
