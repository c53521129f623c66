"""The product-recommendation template: trained on its example click log, it recommends each
shopper 10 products they have not touched, far better than the best sellers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "product-recommendation"


def test_trains_on_its_example_and_recommends_unseen_products(tmp_path: Path) -> None:
    manifest = templates.manifest(NAME)
    trained = templates.train_example(NAME, tmp_path)
    print(f"{NAME}: {trained.seconds:.1f} s, {trained.metrics}")

    hits = trained.metrics[manifest.metric.name]
    assert core.reached(manifest.metric, hits)
    assert hits > 2 * trained.metrics["popularity_hit_rate_at_10"]
    assert len(trained.curve) == manifest.hyperparameters["epochs"].default
    assert trained.curve[-1]["loss"] < trained.curve[0]["loss"]
    assert sorted(p.name for p in trained.model.iterdir()) == ["config.json", "model.safetensors"]
    assert "shoppers" in trained.report["summary"]["en"]
    assert "顾客" in trained.report["summary"]["zh-CN"]

    with open(tmp_path / "example" / "clicks.csv", encoding="utf-8") as f:
        clicks = list(csv.DictReader(f))
    seen: dict[str, set[str]] = {}
    for row in clicks:
        seen.setdefault(row["user_id"], set()).add(row["item_id"])
    asked = ["U0000", "U0007", "U0123", "NEW-SHOPPER"]
    (tmp_path / "users.csv").write_text("user_id\n" + "\n".join(asked) + "\n")
    out = templates.predict(NAME, trained.model, tmp_path / "users.csv", tmp_path / "recs.csv")
    with open(out, encoding="utf-8") as f:
        recs = list(csv.DictReader(f))
    assert list(recs[0]) == ["user_id", "item_id", "rank", "score"]
    items = {row["item_id"] for row in clicks}
    for user in asked:
        mine = [r for r in recs if r["user_id"] == user]
        assert [int(r["rank"]) for r in mine] == list(range(1, 11))
        assert {r["item_id"] for r in mine} <= items - seen.get(user, set())
        scores = [float(r["score"]) for r in mine]
        assert scores == sorted(scores, reverse=True)


def test_epochs_and_bounds(tmp_path: Path) -> None:
    trained = templates.train_example(NAME, tmp_path, {"epochs": 2})
    assert [p["step"] for p in trained.curve] == [1, 2]
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.factors"):
        core.check_params(templates.manifest(NAME), {"factors": 0})
