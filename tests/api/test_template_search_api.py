"""A template run's estimate per accelerator option, and a hyperparameter search run as one gang
job whose best trial becomes the model, through the REST API, the SDK and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.sdk.client import Client
from aicc.services.models import template_runs
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.datasets import push
from aicc.testing.jobs import wait_state
from aicc.testing.servers import in_process, over_http
from aicc.testing.templates import manifest

RECO = "product-recommendation"  # pytorch, ~3 s on its example
POOL = {
    "nodes": [
        {
            "name": "est-1",
            "cpu": 16,
            "memory": "64GiB",
            "pool": "p1",
            "devices": [{"model": "A100-80GB", "count": 4, "simulated": True}],
        }
    ]
}
PRICING = {"accelerator_hour": {"A100-80GB": "12.00"}, "cpu_core_hour": "0.50"}

# Search values are checked against the template's manifest before a job is made: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def priced(tmp_path: Path, db_url: str | None) -> Iterator[TestClient]:
    """A server whose plan prices A100s and CPU cores, with a node of four A100s."""
    with in_process(tmp_path / "home", db_url, pricing=PRICING) as (client, _):
        assert client.post("/api/v1/nodes/import", json=POOL).status_code == 200
        yield client


def interactions(rows: int) -> bytes:
    lines = ["user_id,item_id,clicks,timestamp"]
    lines += [f"u{i % 97},i{i % 41},1,2024-01-{1 + i % 28:02d} 10:00:00" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def test_estimate_per_option_scales_with_the_data_and_submits_nothing(priced: TestClient) -> None:
    api = priced
    res = manifest(RECO).resources
    assert res.example_seconds and res.example_rows
    start, rest = res.example_start_seconds, res.example_seconds - res.example_start_seconds
    body = api.post(f"/api/v1/templates/{RECO}/estimate", json={"params": {"epochs": 1000}})
    assert body.status_code == 200, body.text
    answer = body.json()
    options = {o["accelerator"]: o for o in answer["options"]}
    assert set(options) == {"cpu", "A100-80GB"} and answer["trials"] == 1
    cpu, a100 = options["cpu"], options["A100-80GB"]
    # 100× the example's epochs on the example's rows: its start-up, then 100× its training.
    assert cpu["hours"] == pytest.approx((start + 100 * rest) / 3600, rel=1e-4)
    assert cpu["count"] == 0 and cpu["cpu_core_hours"] == pytest.approx(2 * cpu["hours"], rel=1e-5)
    assert a100["count"] == 1 and 1 < a100["speedup"] <= 10 and a100["hours"] < cpu["hours"]
    assert answer["options"][0]["accelerator"] == "A100-80GB"  # the fastest first
    # Prices: CPU core-hours at 0.50, A100 hours at 12.00, each line rounded.
    assert Decimal(cpu["gross"]) == cents(Decimal(str(cpu["cpu_core_hours"])) * Decimal("0.5"))
    a100_gross = cents(Decimal(str(a100["accelerator_hours"])) * 12) + cents(
        Decimal(str(a100["cpu_core_hours"])) * Decimal("0.5")
    )
    assert Decimal(a100["gross"]) == a100_gross > 0
    assert cpu["wait_hours"] == 0 and a100["wait_hours"] == 0  # an idle center
    assert {a["name"] for a in answer["assumptions"]} >= {"example_seconds", "parallel_share"}

    # A data set of twice the example's rows: twice the training. (Its timestamps in whole
    # seconds are DuckDB's TIMESTAMP_S, dates and times to the template.)
    push(api, "clicks", {"clicks.csv": interactions(2 * res.example_rows)})
    listed = api.get("/api/v1/templates", params={"data": "clicks@1", "q": RECO}).json()
    assert listed["items"][0]["fit"]["ok"], listed["items"][0]["fit"]
    doubled = api.post(f"/api/v1/templates/{RECO}/estimate", json={"data": "clicks@1"}).json()
    assert doubled["rows"] == 2 * res.example_rows and doubled["work"] == 2
    by = {o["accelerator"]: o for o in doubled["options"]}
    assert by["cpu"]["hours"] == pytest.approx((start + 2 * rest) / 3600, rel=1e-4)

    # A search: the trials run side by side, as long as the longest, priced for all of them.
    search = {"params": {"learning_rate": 0.05}, "search": {"epochs": [10, 1000]}}
    both = api.post(f"/api/v1/templates/{RECO}/estimate", json=search).json()
    by = {o["accelerator"]: o for o in both["options"]}
    assert both["trials"] == 2 and by["cpu"]["hours"] == pytest.approx(cpu["hours"])
    assert by["A100-80GB"]["accelerator_hours"] == pytest.approx(2 * a100["accelerator_hours"])

    # A CPU-only template: the accelerators are left out, and why.
    credit = api.post("/api/v1/templates/credit-risk/estimate", json={}).json()
    assert [o["accelerator"] for o in credit["options"]] == ["cpu"]
    assert credit["left_out"][0]["reason"] == "not_used"
    assert api.get("/api/v1/jobs").json()["items"] == []  # nothing was submitted


@sqlite_only
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"search": {"learning_rate": [0.01, 5]}}, "search.learning_rate: 5.0 is above"),
        ({"search": {"nope": [1, 2]}}, "search.nope: product-recommendation has no such"),
        ({"search": {"epochs": [1, 2]}, "params": {"epochs": 3}}, "search.epochs: also given"),
        ({"search": {"epochs": [1, 2]}, "trials": 17}, "trials: 17 is not between 1 and 16"),
        ({"search": {"epochs": [1, 2, 3, 4, 5], "factors": [2, 4, 8, 16]}}, "20 combinations"),
        ({"search": {"epochs": []}}, "search.epochs: give a list of values"),
        ({"trials": 3}, "search: give at least one hyperparameter"),
    ],
)
def test_bad_search_values_are_a_422_naming_the_field(
    api: TestClient, body: dict[str, object], field: str
) -> None:
    for route in ("runs", "estimate"):
        answer = api.post(f"/api/v1/templates/{RECO}/{route}", json=body)
        assert answer.status_code == 422 and field in answer.json()["detail"], answer.text
    assert api.get("/api/v1/jobs").json()["items"] == []


def test_a_search_is_one_gang_job_whose_best_trial_is_registered(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        client = Client(url, token)
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        env["AICC_HOME"] = str(tmp_path / "client")

        # The CLI's estimate: a table of options, nothing submitted.
        shown = CliRunner().invoke(
            app, ["template", "run", RECO, "--search", "epochs=1,3", "--estimate"], env=env
        )
        assert shown.exit_code == 0, shown.output
        assert "CPU only" in shown.output and "2 trials side by side" in shown.output
        bad = CliRunner().invoke(app, ["template", "run", RECO, "--search", "epochs=0,3"], env=env)
        assert bad.exit_code != 0 and "search.epochs: 0 is below" in bad.output

        # Three trials, one job of three replicas (each half a core: the trials run together).
        job = client.templates.run(
            RECO, model="reco", cpu=0.5, search={"epochs": [1, 4, 12], "factors": [16]}
        )
        assert job.spec["replicas"] == 3
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            done = wait_state(api, job.id, {"succeeded", "failed"}, timeout=240)
            assert done["state"] == "succeeded", api.get(f"/api/v1/jobs/{job.id}/logs").text
            model = wait_model(api, "reco")
        (version,) = model["versions"]
        search = version["lineage"]["search"]
        trials = search["trials"]
        assert [t["params"]["epochs"] for t in trials] == [1, 4, 12]
        assert all(t["params"]["factors"] == 16 for t in trials)
        scores = [t["metrics"]["hit_rate_at_10"] for t in trials]
        best = max(range(3), key=lambda i: scores[i])
        assert search["best"] == best and search["goal"] == "maximize"
        assert version["params"] == trials[best]["params"]
        assert version["metrics"]["hit_rate_at_10"] == scores[best]
        assert "3 trials" in version["card"] and "(registered)" in version["card"]
        # The model's files are the best trial's own.
        out = tmp_path / "pulled"
        client.models.pull("reco@1", out)
        pulled = json.loads((out / "metrics.json").read_text())
        assert pulled["hit_rate_at_10"] == scores[best]
        assert (out / "model").is_dir() and not (out / "trial-0").exists()
        # The run's curves: each trial's, side by side (what its page draws while it trains).
        with _state.db.reader() as session:
            admin = session.scalars(select(UserRow).where(UserRow.role == "admin")).first()
            assert admin is not None
            who = principal_of(session, admin)
            curves = template_runs.run_curves(session, who, _state.executors, job.id)
        assert {name.split(" · ")[0] for name in curves.series} == {"trial 0", "trial 1", "trial 2"}
        assert "trial 2 · loss" in curves.series and len(curves.steps) == 12


def wait_model(api: httpx.Client, name: str, timeout: float = 60) -> dict[str, object]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = api.get(f"/api/v1/models/{name}")
        if found.status_code == 200 and found.json()["versions"]:
            return dict(found.json())
        time.sleep(0.3)
    raise AssertionError(f"model {name} was not registered")
