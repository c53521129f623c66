"""A hostile tenant against MLflow's artifact proxy at `/mlflow` (api/routers/mlflow.py,
services/models/tracking_files.py): paths that leave the run's folder (`..` plain and
percent-encoded, absolute, backslashes, NUL), another tenant's run, a file over the upload
limit, and a job's `mlruns` holding a link where a metric file should be."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aicc.services.jobs import metrics
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

BASE = "/mlflow/api/2.0/mlflow"
ARTIFACTS = "/mlflow/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Tenant, Tenant, Path]]:
    home = tmp_path_factory.mktemp("mlflow-hostile") / "home"
    with (
        over_http(home, loops=False, limits={"max_upload_mib": 1}) as (url, token, _state),
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as admin,
    ):
        yield url, make_tenant(admin, "evil-a"), make_tenant(admin, "victim-b"), home


def _run(url: str, tenant: Tenant) -> tuple[str, str]:
    with httpx.Client(base_url=url, headers=tenant.headers, timeout=30) as c:
        made = c.post(f"{BASE}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]
    return made["experiment_id"], made["run_id"]


def test_artifact_paths_that_leave_the_run_are_refused(
    world: tuple[str, Tenant, Tenant, Path],
) -> None:
    url, evil, _, home = world
    exp, run = _run(url, evil)
    root = f"{url}{ARTIFACTS}/{exp}/{run}/artifacts"
    with httpx.Client(headers=evil.headers, timeout=30) as c:
        for path in (
            "../../../outside.txt",
            "%2e%2e/%2e%2e/outside.txt",
            "a/%2E%2E/%2E%2E/%2E%2E/outside.txt",
            "/etc/passwd",
            "a\\..\\b.txt",
            "a%00b.txt",
        ):
            answer = c.put(f"{root}/{path}", content=b"x")
            assert answer.status_code in (400, 404), (path, answer.text)
            assert answer.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "ENDPOINT_NOT_FOUND")
            got = c.get(f"{root}/{path}")
            assert got.status_code in (400, 404), (path, got.text)
    assert not list(home.rglob("outside.txt"))
    assert not (Path("/etc/passwd.partial").exists())


def test_another_tenants_run_takes_no_upload_and_shows_nothing(
    world: tuple[str, Tenant, Tenant, Path],
) -> None:
    url, evil, victim, home = world
    exp, run = _run(url, victim)
    with httpx.Client(base_url=url, headers=evil.headers, timeout=30) as c:
        put = c.put(f"{ARTIFACTS}/{exp}/{run}/artifacts/planted.txt", content=b"x")
        assert put.status_code == 404 and put.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        listed = c.get(ARTIFACTS, params={"path": f"{exp}/{run}/artifacts"})
        assert listed.status_code == 404
        wrong_experiment = c.put(f"{ARTIFACTS}/0/{run}/artifacts/planted.txt", content=b"x")
        assert wrong_experiment.status_code == 404
    assert not list(home.rglob("planted.txt"))


def test_an_artifact_over_the_upload_limit_is_refused_and_leaves_nothing(
    world: tuple[str, Tenant, Tenant, Path],
) -> None:
    url, evil, _, home = world
    exp, run = _run(url, evil)
    with httpx.Client(base_url=url, headers=evil.headers, timeout=60) as c:
        big = c.put(f"{ARTIFACTS}/{exp}/{run}/artifacts/big.bin", content=b"\0" * (2 << 20))
        assert big.status_code == 413, big.text
        assert big.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert c.get(f"{ARTIFACTS}/{exp}/{run}/artifacts/big.bin").status_code == 404
    assert not list(home.rglob("big.bin")) and not list(home.rglob(".partial-*"))


def test_a_link_in_a_jobs_mlruns_is_not_read_as_a_metric(tmp_path: Path) -> None:
    """What a job wrote: a metric file that is a link to the server's files gives no curve."""
    secret = tmp_path / "secret"
    secret.write_text("1 42.0 0\n")
    run = tmp_path / "outputs" / "mlruns" / "0" / uuid.uuid4().hex / "metrics"
    run.mkdir(parents=True)
    os.symlink(secret, run / "stolen")
    (run / "loss").write_text("1 0.5 0\n")
    found = metrics.mlflow_files(tmp_path / "outputs")
    assert found == []  # the walk refuses the link: nothing of that run is read
    os.unlink(run / "stolen")
    assert [k for k, _ in metrics.mlflow_files(tmp_path / "outputs")] == ["loss"]
