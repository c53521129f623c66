"""`POST /api/v1/estimate` and `aicc estimate` against a real server: the caller's price plan,
waits from the what-if run, and clear errors for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http

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
PRICING = {"accelerator_hour": {"A100-80GB": "12.00"}, "pflops_hour": "9.50"}
SCENARIO = {"scenario": "llm-pretrain", "params": "1B", "tokens": "1B"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("estimate") / "home"
    with over_http(home, pricing=PRICING) as (url, token, _state):
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            assert api.post("/api/v1/nodes/import", json=POOL).status_code == 200
        yield url, token


@pytest.fixture(scope="module")
def api(served: tuple[str, str]) -> Iterator[httpx.Client]:
    url, token = served
    with httpx.Client(
        timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def test_options_carry_the_contract_keys_the_plan_price_and_waits(api: httpx.Client) -> None:
    answer = api.post("/api/v1/estimate", json={"scenario": SCENARIO, "accelerator": ["A100"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["flops"] == pytest.approx(6e18)
    keys = {"accelerator", "count", "hours", "accelerator_hours", "pflops_hours", "wait_hours"}
    keys |= {"gross", "subsidy", "voucher", "net", "currency"}
    waits = {}
    for option in body["options"]:
        assert set(option) >= keys and option["accelerator"] == "A100-80GB"
        hours = Decimal(str(option["accelerator_hours"]))
        assert Decimal(option["gross"]) == (hours * Decimal("12")).quantize(Decimal("0.01"))
        waits[option["count"]] = option["wait_hours"]
    # the center has 4 idle A100s: up to 4 start now; 8 never fit here (no wait to tell)
    assert waits[1] == 0.0 and waits[4] == 0.0 and waits[8] is None


def test_unpriced_models_are_priced_per_pflops_hour_and_sorting_by_cost(api: httpx.Client) -> None:
    body = api.post(
        "/api/v1/estimate",
        json={"scenario": SCENARIO, "accelerator": ["H100", "L4"], "sort": "cost", "count": 8},
    ).json()
    nets = [Decimal(o["net"]) for o in body["options"]]
    assert nets == sorted(nets) and {o["accelerator"] for o in body["options"]} == {
        "H100-SXM",
        "L4",
    }
    assert all(o["wait_hours"] is None for o in body["options"])  # none in this center


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"scenario": {**SCENARIO, "params": -7e9}}, 422, "scenario.params"),
        ({"scenario": {"scenario": "llm-pretrain", "params": "7B"}}, 422, "scenario.tokens"),
        ({"scenario": {"scenario": "gpt"}}, 422, "scenario must be one of"),
        ({"scenario": SCENARIO, "accelerator": ["H10O"]}, 422, "unknown accelerator model"),
        ({"scenario": SCENARIO, "count": 0}, 422, "count"),
        ({}, 422, "scenario"),
    ],
)
def test_bad_input_is_a_clear_4xx(
    api: httpx.Client, body: dict[str, Any], status: int, needle: str
) -> None:
    answer = api.post("/api/v1/estimate", json=body)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    text = (
        detail
        if isinstance(detail, str)
        else "; ".join(".".join(map(str, d["loc"][1:])) + ": " + d["msg"] for d in detail)
    )
    assert needle in text, text


def _cli(served: tuple[str, str], *args: str) -> Any:
    url, token = served
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    return CliRunner().invoke(app, ["estimate", *args], env=env)


def test_cli_table_and_json(served: tuple[str, str]) -> None:
    flags = ["--scenario", "llm-pretrain", "--params", "1e9", "--tokens", "1e9"]
    table = _cli(served, *flags, "--accelerator", "A100", "--count", "2")
    assert table.exit_code == 0, table.output
    assert "A100-80GB" in table.stdout and "ASSUMPTION" in table.stdout
    assert "mfu[A100-80GB]" in table.stdout
    raw = _cli(served, *flags, "--accelerator", "A100", "--json")
    assert raw.exit_code == 0, raw.output
    body = json.loads(raw.stdout)
    assert body["flops"] == pytest.approx(6e18) and body["options"][0]["currency"] == "CNY"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--params", "-7e9", "--tokens", "2e12"], "scenario.params: must be positive"),
        (["--params", "7e9"], "scenario.tokens: Field required"),
        (["--params", "7e9", "--tokens", "2e12", "-a", "H10O"], "unknown accelerator model"),
    ],
)
def test_cli_bad_input_is_one_clear_line(
    served: tuple[str, str], args: list[str], needle: str
) -> None:
    result = _cli(served, "--scenario", "llm-pretrain", *args)
    assert result.exit_code == 1
    assert needle in " ".join(result.stderr.split()), result.stderr


def test_a_job_spec_may_carry_its_scenario_and_a_bad_one_is_refused(api: httpx.Client) -> None:
    bad = {"command": "true", "scenario": {"scenario": "llm-pretrain", "params": "7B"}}
    answer = api.post("/api/v1/jobs", json=bad)
    assert answer.status_code == 422 and "scenario.tokens" in answer.json()["detail"]
    good = api.post("/api/v1/jobs", json={"command": "true", "scenario": SCENARIO})
    assert good.status_code == 201 and good.json()["spec"]["scenario"] == SCENARIO
