"""The delivery-routing template: on held-out delivery days its plans are shorter than the
nearest-neighbour plan, and its predict.py plans new days within the vans' loads and windows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "delivery-routing"


def test_plans_shorter_routes_than_greedy_within_loads_and_windows(tmp_path: Path) -> None:
    manifest = templates.manifest(NAME)
    trained = templates.train_example(NAME, tmp_path)
    print(f"{NAME}: {trained.seconds:.1f} s, {trained.metrics}")

    assert core.reached(manifest.metric, trained.metrics[manifest.metric.name])
    assert trained.metrics["route_km"] < trained.metrics["greedy_km"]
    assert trained.curve and all("step" in p for p in trained.curve)
    assert [p.name for p in trained.model.iterdir()] == ["solver.json"]
    assert "nearest-neighbour" in trained.report["summary"]["en"]
    assert "公里" in trained.report["summary"]["zh-CN"]

    with open(tmp_path / "example" / "stops.csv", encoding="utf-8") as f:
        stops = [r for r in csv.DictReader(f) if r["instance"] in ("2026-10-03", "2026-10-04")]
    new = tmp_path / "new.csv"
    with open(new, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(stops[0]))
        writer.writeheader()
        writer.writerows(stops)
    out = templates.predict(NAME, trained.model, new, tmp_path / "plan.csv")
    with open(out, encoding="utf-8") as f:
        plan = list(csv.DictReader(f))
    assert list(plan[0]) == ["instance", "vehicle", "sequence", "stop_id", "arrival"]
    by_id = {r["stop_id"]: r for r in stops}
    assert sorted(r["stop_id"] for r in plan) == sorted(i for i in by_id if i != "depot")
    routes: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in plan:
        routes.setdefault((row["instance"], row["vehicle"]), []).append(row)
        stop = by_id[row["stop_id"]]
        assert int(stop["ready"]) <= int(row["arrival"]) <= int(stop["due"])
    for (_, vehicle), route in routes.items():
        assert 1 <= int(vehicle) <= manifest.hyperparameters["vehicles"].default
        assert [int(r["sequence"]) for r in route] == list(range(1, len(route) + 1))
        assert sum(int(by_id[r["stop_id"]]["demand"]) for r in route) <= 100
        arrivals = [int(r["arrival"]) for r in route]
        assert arrivals == sorted(arrivals)


def test_too_few_vans_is_said_and_bounds(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="raise vehicles or capacity"):
        templates.train_example(NAME, tmp_path, {"vehicles": 1})
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.time_limit_s"):
        core.check_params(templates.manifest(NAME), {"time_limit_s": 0})
