"""MLflow's tracking and registry at `/mlflow`, driven by the stock `mlflow` client (mlflow-skinny)
as a training script on a laptop and inside a job would: runs, params, metrics, artifacts,
`mlflow.register_model`, another tenant's 404s, and MLflow's error shape for what is refused."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402


class World:
    def __init__(self, url: str, admin: httpx.Client, a: Tenant, b: Tenant) -> None:
        self.url, self.admin, self.a, self.b = url, admin, a, b

    def client(self, tenant: Tenant) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=tenant.headers, timeout=30)


def token(tenant: Tenant) -> str:
    return tenant.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("mlflow") / "home"
    with over_http(home, limits={"grace_s": 1.0}) as (url, admin_token, _state):
        admin = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30
        )
        a, b = make_tenant(admin, "mlf-a"), make_tenant(admin, "mlf-b")
        # and what the client itself sets (`set_experiment` exports its id): later tests of
        # this worker must not inherit an experiment of this module's server
        names = (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_TRACKING_TOKEN",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
            "MLFLOW_EXPERIMENT_ID",
            "MLFLOW_EXPERIMENT_NAME",
        )
        saved = {k: os.environ.get(k) for k in names}
        os.environ["MLFLOW_TRACKING_URI"] = url + "/mlflow"
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # a 5xx fails the test at once
        mlflow.set_tracking_uri(url + "/mlflow")
        try:
            yield World(url, admin, a, b)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            admin.close()


@contextmanager
def as_tenant(tenant: Tenant) -> Iterator[None]:
    """The stock client reads MLFLOW_TRACKING_TOKEN at each request."""
    os.environ["MLFLOW_TRACKING_TOKEN"] = token(tenant)
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)


def log_a_run(tmp_path: Path) -> tuple[str, str]:
    mlflow.set_experiment("laptop-exp")
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "weights.bin").write_bytes(b"\x00\x01" * 100)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello from a laptop\n")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", "0.1")
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tag("team", "vision")
        mlflow.log_artifact(str(notes))
        mlflow.log_artifacts(str(model), "model")
    return run.info.run_id, run.info.experiment_id


@pytest.fixture(scope="module")
def laptop_run(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    with as_tenant(world.a):
        return log_a_run(tmp_path_factory.mktemp("laptop"))


def test_a_laptop_run_logged_with_the_stock_client_reads_back(
    world: World, laptop_run: tuple[str, str], tmp_path: Path
) -> None:
    run_id, experiment_id = laptop_run
    with as_tenant(world.a):
        client = MlflowClient()
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.end_time
        assert run.data.params == {"lr": "0.1"}
        assert run.data.metrics == {"loss": pytest.approx(1 / 3)}
        assert run.data.tags["team"] == "vision"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        history = client.get_metric_history(run_id, "loss")
        assert [(m.step, m.value) for m in history] == [
            (0, 1.0),
            (1, 0.5),
            (2, pytest.approx(1 / 3)),
        ]
        listed = sorted(f.path for f in client.list_artifacts(run_id))
        assert listed == ["model", "notes.txt"]
        got = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="notes.txt", dst_path=str(tmp_path)
        )
        assert Path(got).read_text() == "hello from a laptop\n"
        found = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list")
        assert [r.info.run_id for r in found] == [run_id]
        assert client.get_experiment_by_name("laptop-exp").experiment_id == experiment_id


def test_register_model_makes_an_aicc_model_version_with_the_run_as_lineage(
    world: World, laptop_run: tuple[str, str]
) -> None:
    run_id, _ = laptop_run
    with as_tenant(world.a):
        version = mlflow.register_model(f"runs:/{run_id}/model", "mlf-model")
        assert version.version == "1" and version.status == "READY"
        assert MlflowClient().get_registered_model("mlf-model").name == "mlf-model"
    with world.client(world.a) as a:
        answer = a.get("/api/v1/models/mlf-model/versions/1")
        assert answer.status_code == 200, answer.text
        made = answer.json()
    assert made["lineage"]["mlflow_run"] == run_id
    assert sorted(f["path"] for f in made["files"]) == ["MLmodel", "weights.bin"]


def test_another_tenant_finds_none_of_it(world: World, laptop_run: tuple[str, str]) -> None:
    run_id, experiment_id = laptop_run
    with as_tenant(world.b):
        client = MlflowClient()
        for call in (
            lambda: client.get_run(run_id),
            lambda: client.get_experiment(experiment_id),
            lambda: client.get_registered_model("mlf-model"),
            lambda: client.log_metric(run_id, "loss", 9.0),
        ):
            with pytest.raises(MlflowException) as refused:
                call()
            assert refused.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        names = [e.name for e in client.search_experiments()]
        assert "laptop-exp" not in names
        assert client.search_runs([experiment_id]) == []
    with world.client(world.b) as b:
        answer = b.get(
            f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/notes.txt"
        )
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_what_is_not_served_is_refused_in_mlflows_shape(
    world: World, laptop_run: tuple[str, str]
) -> None:
    run_id, _ = laptop_run
    base = "/mlflow/api/2.0/mlflow"
    with world.client(world.a) as a:
        unsupported = a.post(f"{base}/runs/log-inputs", json={"run_id": run_id})
        assert unsupported.status_code == 404
        assert unsupported.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        for body in (
            {"run_id": run_id, "key": "loss", "value": "low", "timestamp": 0, "step": 0},
            {"run_id": run_id, "key": "../x", "value": 1.0, "timestamp": 0, "step": 0},
            {"key": "loss", "value": 1.0, "timestamp": 0},
        ):
            bad = a.post(f"{base}/runs/log-metric", json=body)
            assert bad.status_code == 400, bad.text
            assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        broken = a.post(
            f"{base}/experiments/create",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert (
            broken.status_code == 400 and broken.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        )
        filtered = a.post(f"{base}/runs/search", json={"experiment_ids": [], "filter": "x"})
        assert filtered.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        other = a.post(
            f"{base}/model-versions/create", json={"name": "m2", "source": "s3://bucket/model"}
        )
        assert other.status_code == 400 and other.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    anonymous = httpx.get(f"{world.url}{base}/runs/get", params={"run_id": run_id})
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"


JOB_SCRIPT = """
import os, pathlib, mlflow
mlflow.set_experiment("in-job")
with mlflow.start_run() as run:
    for step in range(3):
        mlflow.log_metric("mlf_loss", 1.0 / (step + 1), step=step)
    mlflow.log_param("epochs", "3")
    model = pathlib.Path("model"); model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\\n")
    mlflow.log_artifacts(str(model), "model")
print("RUN", run.info.run_id)
"""


def _wait(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_mlflow_inside_a_job_logs_the_jobs_metrics_and_its_run(world: World) -> None:
    with world.client(world.a) as a:
        job = submit(a, {"command": ["python", "-c", JOB_SCRIPT], "max_runtime": "5m"})
        ended = wait_state(a, job["id"], {"succeeded", "failed"}, timeout=120)
        logs = a.get(f"/api/v1/jobs/{job['id']}/logs", params={"stream": "stderr"}).text
        assert ended["state"] == "succeeded", logs
        curves = a.get(f"/api/v1/jobs/{job['id']}/metrics").json()
        assert [p[0] for p in curves["metrics"]["mlf_loss"]] == [0, 1, 2]
    with as_tenant(world.a):
        client = MlflowClient()
        experiment = _wait(lambda: client.get_experiment_by_name("in-job"))

        def imported() -> list[Any]:
            return client.search_runs([experiment.experiment_id])

        (run,) = _wait(imported)
        assert run.data.tags["aicc.job_id"] == job["id"]
        assert run.data.params == {"epochs": "3"}
        assert [m.step for m in client.get_metric_history(run.info.run_id, "mlf_loss")] == [0, 1, 2]
        assert "model" in [f.path for f in client.list_artifacts(run.info.run_id)]
        version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "job-model")
        assert version.version == "1"
    with world.client(world.a) as a:
        made = a.get("/api/v1/models/job-model/versions/1").json()
    assert made["lineage"]["job_id"] == job["id"]
    assert made["lineage"]["mlflow_run"] == run.info.run_id
