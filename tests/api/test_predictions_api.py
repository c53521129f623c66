"""Batch prediction through the API (issue 37: "a data set version in, a data set version of
predictions out"): a model trained on a person's own table keeps its input schema and the facts
of its card; new rows in the user's own columns, pushed as a data set, become a data set version
of predictions with lineage to the model and the data; what cannot work is refused before
anything runs, naming what to fix; another tenant's model or data is a 404."""

from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from aicc.sdk.client import Client
from aicc.services.models import models, views
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.datasets import push
from aicc.testing.jobs import wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

COLUMNS = ["date", "temperature", "humidity", "wind", "weather"]


def days(n: int, seed: int, *, drop: tuple[str, ...] = (), note: bool = False) -> bytes:
    """A person's own daily weather table: dates as 2021/03/04, a category, a class to learn."""
    rnd = random.Random(seed)
    out = io.StringIO()
    names = [c for c in COLUMNS if c not in drop] + (["note"] if note else [])
    writer = csv.writer(out)
    writer.writerow(names)
    for i in range(n):
        temp, hum = round(rnd.uniform(-5, 35), 1), round(rnd.uniform(10, 100), 1)
        row = {
            "date": f"2021/{1 + i % 12:02d}/{1 + i % 28:02d}",
            "temperature": temp,
            "humidity": hum,
            "wind": rnd.choice(["calm", "breeze", "gale"]),
            "weather": "rain" if hum > 70 else ("fog" if temp < 5 else "sun"),
            "note": f"day {i}",
        }
        writer.writerow([row[c] for c in names])
    return out.getvalue().encode()


def delivered(api: httpx.Client, path: str, job_id: str) -> dict[str, Any]:
    """The batch prediction of job `job_id` once its predictions were delivered (or not)."""
    for _ in range(300):
        got = api.get(path)
        assert got.status_code == 200, got.text
        (found,) = [p for p in got.json()["items"] if p["job_id"] == job_id]
        if found["state"] != "pending":
            return dict(found)
        time.sleep(0.2)
    raise AssertionError(f"never delivered: {found}")


def test_new_rows_in_a_data_set_become_a_data_set_of_predictions(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home") as (url, token, state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
        Client(url, token) as client,
    ):
        beta = make_tenant(api, "beta")  # type: ignore[arg-type]
        push(api, "weather", {"weather.csv": days(300, 1)})
        run = api.post(
            "/api/v1/templates/table-prediction/runs",
            json={
                "data": "weather@1",
                "model": "weather-model",
                "columns": {"target": "weather"},
                "params": {"time_budget_s": 5},
            },
        )
        assert run.status_code == 201, run.text
        job = wait_state(api, run.json()["id"], {"succeeded", "failed"}, timeout=240)
        assert job["state"] == "succeeded", api.get(f"/api/v1/jobs/{job['id']}/logs").text
        for _ in range(100):
            version = api.get("/api/v1/models/weather-model/versions/1")
            if version.status_code == 200:
                break
            time.sleep(0.2)

        # The version speaks the user's columns, and its card tells true facts with charts.
        got = version.json()
        schema = got["input_schema"]
        assert [i["name"] for i in schema["inputs"]] == ["date", "temperature", "humidity", "wind"]
        assert schema["target"] == "weather" and schema["classes"] == ["fog", "rain", "sun"]
        assert {"name": "weather_predicted", "type": "category"} in schema["outputs"]
        facts = got["facts"]
        assert facts["rows"] == 300 and facts["target"] == "weather"
        assert facts["metric"] == "accuracy" and facts["score"] > facts["baseline"]
        assert facts["baseline_name"]["zh-CN"]
        assert got["charts"]["confusion"]["labels"] == ["fog", "rain", "sun"]
        assert got["notes"] == []
        assert "从 300 行数据学习预测 `weather`（分类）" in got["card"]
        assert "credit" not in got["card"].lower() and "loan" not in got["card"].lower()
        listed = api.get("/api/v1/models/weather-model").json()["versions"][0]
        assert listed["input_schema"] == schema and listed["charts"] is None  # lists stay light
        assert client.models.version("weather-model@1").input_schema == views.InputSchema(**schema)

        # New days, in the user's own columns (no weather; a column the model never saw).
        push(api, "new-days", {"days.csv": days(40, 2, drop=("weather",), note=True)})
        answer = api.post(
            "/api/v1/models/weather-model/versions/1/predictions",
            json={"data": "new-days@1"},
            headers={"Idempotency-Key": "batch-1"},
        )
        assert answer.status_code == 201, answer.text
        again = api.post(
            "/api/v1/models/weather-model/versions/1/predictions",
            json={"data": "new-days@1"},
            headers={"Idempotency-Key": "batch-1"},
        )
        assert again.status_code == 200 and again.json()["id"] == answer.json()["id"]
        job = wait_state(api, answer.json()["id"], {"succeeded", "failed"}, timeout=180)
        assert job["state"] == "succeeded", api.get(f"/api/v1/jobs/{job['id']}/logs").text
        listed = "/api/v1/models/weather-model/versions/1/predictions"
        batch = delivered(api, listed, job["id"])
        assert batch["state"] == "done" and batch["job_state"] == "succeeded", batch
        assert batch["result"] == "weather-model-predictions@1"
        assert batch["input"] == "days.csv" and batch["model"].endswith("/weather-model@1")

        made = api.get("/api/v1/datasets/weather-model-predictions/versions/1").json()
        (table,) = made["tables"].values()
        assert table["rows"] == 40
        names = [c["name"] for c in table["columns"]]
        assert {"date", "wind", "note", "weather_predicted", "probability_rain"} <= set(names)
        assert made["lineage"]["model"].endswith("/weather-model@1")
        assert made["lineage"]["datasets"][0].endswith("/new-days@1")
        preview = api.get("/api/v1/datasets/weather-model-predictions/versions/1/preview").json()
        predicted = [r[names.index("weather_predicted")] for r in preview["rows"]]
        assert set(predicted) <= {"fog", "rain", "sun"} and len(predicted) == 40

        # The SDK: the same job and read models.
        sdk_job = client.models.predict("weather-model", 1, data="new-days@1", output="again")
        wait_state(api, sdk_job.id, {"succeeded", "failed"}, timeout=180)
        for _ in range(300):
            sdk_batch = client.models.prediction("weather-model@1", sdk_job.id)
            if sdk_batch.state != "pending":
                break
            time.sleep(0.2)
        assert isinstance(sdk_batch, views.BatchPrediction)
        assert sdk_batch.state == "done" and sdk_batch.result == "again@1"
        mine = [p.job_id for p in client.models.predictions("weather-model", 1)]
        assert mine == [sdk_job.id, job["id"]]  # newest first

        # Refused before anything runs, each saying what to fix.
        before = len(api.get("/api/v1/jobs").json()["items"])
        push(api, "partial", {"days.csv": days(10, 3, drop=("weather", "humidity"))})
        push(api, "notes", {"readme.txt": b"no table here"})
        url_1 = "/api/v1/models/weather-model/versions/1/predictions"
        lacking = api.post(url_1, json={"data": "partial@1"})
        assert lacking.status_code == 422
        assert "the model needs, column by column: humidity" in lacking.json()["detail"]
        none = api.post(url_1, json={"data": "notes@1"})
        assert none.status_code == 422 and "has no table" in none.json()["detail"]
        picked = api.post(url_1, json={"data": "new-days@1", "table": "other.csv"})
        assert picked.status_code == 422 and "has no table other.csv" in picked.json()["detail"]
        taken = api.post(url_1, json={"data": "new-days@1", "output": "weather-model"})
        assert taken.status_code == 409, taken.text  # a model's name is no data set's
        with state.db.session() as session:
            admin = session.scalars(select(UserRow).where(UserRow.role == "admin")).first()
            assert admin is not None
            who = principal_of(session, admin)
            models.register(session, who, state.chunks, "bare", [("model/w.bin", b"\x00" * 8)])
        bare = api.post("/api/v1/models/bare/versions/1/predictions", json={"data": "new-days@1"})
        assert bare.status_code == 422 and "has no predict.py" in bare.json()["detail"]
        assert len(api.get("/api/v1/jobs").json()["items"]) == before  # nothing was submitted

        # Another tenant: the model, its batch prediction, and the data are 404s.
        b = beta.headers
        theirs = api.post(url_1, json={"data": "new-days@1"}, headers=b)
        assert theirs.status_code == 404, theirs.text
        assert api.get(listed, headers=b).status_code == 404
        with state.db.session() as session:  # B's own model, asked to read A's data
            user = session.get(UserRow, beta.user_id)
            assert user is not None
            files = [("predict.py", b"print('hi')\n"), ("model/w.bin", b"\x01")]
            models.register(session, principal_of(session, user), state.chunks, "b-model", files)
        a_data = api.get("/api/v1/datasets/new-days").json()["project"] + "/new-days@1"
        b_model = "/api/v1/models/b-model/versions/1/predictions"
        refused = api.post(b_model, json={"data": a_data}, headers=b)
        assert refused.status_code == 404 and "not found" in refused.json()["detail"]
        assert api.post(b_model, json={"data": "new-days@1"}, headers=b).status_code == 404
