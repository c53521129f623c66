"""From a data set to a registered, downloaded model through the API (带着数据来、拿着成果走):
the templates that fit it, a training run as a job, the model with its metrics, card, lineage
and stage, its files pulled and its predict script run; and what another tenant sees."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from aicc.core import templates as core
from aicc.sdk.client import Client
from aicc.testing import templates
from aicc.testing.datasets import push
from aicc.testing.jobs import wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

NAME = "defect-inspection"


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_bring_data_take_a_model(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home") as (url, token, _),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        flow(api, Client(url, token), tmp_path)


def flow(api: httpx.Client, client: Client, tmp_path: Path) -> None:
    tenant_b = make_tenant(api, "beta")  # type: ignore[arg-type]
    photos = templates.example(NAME, tmp_path / "photos")
    push(api, "steel-photos", files_of(photos))
    push(api, "a-table", {"rows.csv": b"a,b\n1,2\n"})

    # Which templates fit: the photos fit the image template; a table does not, and says why.
    listed = api.get("/api/v1/templates", params={"data": "steel-photos@1"}).json()["items"]
    fit = {t["name"]: t["fit"] for t in listed}
    assert fit[NAME]["ok"] and listed[0]["fit"]["ok"]
    table = api.get("/api/v1/templates", params={"data": "a-table", "task": "image-classification"})
    assert "no images in class folders" in table.json()["items"][0]["fit"]["reason"]
    refused = api.post(f"/api/v1/templates/{NAME}/runs", json={"data": "a-table"})
    assert refused.status_code == 422 and "does not fit template" in refused.json()["detail"]
    bad = api.post(f"/api/v1/templates/{NAME}/runs", json={"params": {"epochs": 100000}})
    assert bad.status_code == 422 and "hyperparameters.epochs" in bad.json()["detail"]
    assert api.get("/api/v1/jobs").json()["items"] == []  # nothing was submitted

    run = api.post(
        f"/api/v1/templates/{NAME}/runs",
        json={"data": "steel-photos@1", "model": "steel-qc", "params": {"epochs": 6}},
    )
    assert run.status_code == 201, run.text
    job = wait_state(api, run.json()["id"], {"succeeded", "failed"}, timeout=240)
    assert job["state"] == "succeeded", api.get(f"/api/v1/jobs/{job['id']}/logs").text
    model = wait_model(api, "steel-qc")
    (version,) = model["versions"]
    manifest = templates.manifest(NAME)
    assert version["ref"] == "steel-qc@1" and version["stage"] == "staging"
    assert core.reached(manifest.metric, version["metrics"]["accuracy"])
    assert version["format"] == "torchscript" and version["params"]["epochs"] == 6
    assert version["lineage"]["job_id"] == job["id"]
    assert version["lineage"]["template"] == NAME
    assert version["lineage"]["datasets"][0].endswith("/steel-photos@1")
    assert "accuracy" in version["card"] and "steel-photos@1" in version["card"]
    assert model["licence"] == manifest.licence  # the template's, for the model it made

    # Lineage the other way: from the data set version to the model trained on it.
    trained = api.get("/api/v1/datasets/steel-photos/versions/1/models").json()
    assert [v["ref"] for v in trained] == ["steel-qc@1"]

    # Stages: production, one at a time.
    moved = api.put("/api/v1/models/steel-qc/versions/1/stage", json={"stage": "production"})
    assert moved.json()["stage"] == "production"

    # Download and run it as a person would, without AICC.
    out = tmp_path / "downloaded"
    client.models.pull("steel-qc@1", out)
    assert {"predict.py", "aicc_template.py", "metrics.json", "report.json"} <= set(
        p.name for p in out.iterdir()
    )
    predicted = tmp_path / "predictions.csv"
    done = subprocess.run(
        [
            sys.executable,
            "predict.py",
            "--model",
            "model",
            "--input",
            str(photos / "scratch"),
            "--output",
            str(predicted),
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    labels = [row["label"] for row in csv.DictReader(predicted.open())]
    assert len(labels) == len(list((photos / "scratch").iterdir()))
    assert labels.count("scratch") >= 0.8 * len(labels)

    # Another tenant: the model and its files are a 404; its own list is empty.
    b = tenant_b.headers
    for path in (
        "/api/v1/models/steel-qc",
        "/api/v1/models/steel-qc/versions/1",
        "/api/v1/models/steel-qc/versions/1/manifest",
    ):
        assert api.get(path, headers=b).status_code == 404, path
    assert (
        api.put(
            "/api/v1/models/steel-qc/versions/1/stage", json={"stage": "archived"}, headers=b
        ).status_code
        == 404
    )
    assert api.get("/api/v1/models", headers=b).json()["items"] == []
    # Shared with every tenant: B reads and downloads it, and cannot change it.
    shared = api.patch("/api/v1/models/steel-qc", json={"visibility": "public"})
    assert shared.status_code == 200 and shared.json()["visibility"] == "public"
    seen = api.get("/api/v1/models/steel-qc", headers=b).json()
    assert seen["writable"] is False and seen["versions"][0]["stage"] == "production"
    assert api.get("/api/v1/models/steel-qc/versions/1/manifest", headers=b).status_code == 200
    listed = api.get("/api/v1/models", params={"scope": "public"}, headers=b).json()["items"]
    assert [m["name"] for m in listed] == ["steel-qc"]
    stage = api.put(
        "/api/v1/models/steel-qc/versions/1/stage", json={"stage": "archived"}, headers=b
    )
    assert stage.status_code in (403, 404)
    assert api.delete("/api/v1/models/steel-qc", headers=b).status_code in (403, 404)
    # and a model's name is not a data set's (one name space per project).
    taken = api.post(f"/api/v1/templates/{NAME}/runs", json={"model": "steel-photos"})
    assert taken.status_code == 409 and "data set steel-photos already exists" in taken.text


def wait_model(api: httpx.Client, name: str) -> dict[str, Any]:
    import time

    for _ in range(100):
        got = api.get(f"/api/v1/models/{name}").json()
        if got.get("versions"):
            return got
        time.sleep(0.2)
    raise AssertionError(f"model {name} has no version: {got}")


def test_without_data_a_template_trains_on_its_example(tmp_path: Path) -> None:
    """`aicc template run NAME` alone: the job writes the example first, and the model's lineage
    says it learned from the template's example data."""
    with (
        over_http(tmp_path / "home") as (url, token, _),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        run = api.post("/api/v1/templates/product-recommendation/runs", json={})
        assert run.status_code == 201, run.text
        job = wait_state(api, run.json()["id"], {"succeeded", "failed"}, timeout=240)
        assert job["state"] == "succeeded", api.get(f"/api/v1/jobs/{job['id']}/logs").text
        (version,) = wait_model(api, "product-recommendation")["versions"]
        manifest = templates.manifest("product-recommendation")
        assert core.reached(manifest.metric, version["metrics"][manifest.metric.name])
        assert version["lineage"]["datasets"] == []
        assert "the template's example data" in version["card"]
