"""Scale from zero that holds, with the official `openai` client: a request to a deployment at
zero replicas is held while one starts and answered, the delay to its first byte observed in
`/metrics`; one whose replica does not get ready in time is a 503 `cold_start_timeout`."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aicc.server import ServerState
from aicc.testing import upstream
from aicc.testing.servers import over_http

ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def center(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, httpx.Client, ServerState]]:
    home = tmp_path_factory.mktemp("cold") / "home"
    with over_http(home) as (url, token, state):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        yield url, api, state


def _at_zero(api: httpx.Client, name: str, readiness: str = "/health") -> None:
    body = {
        "name": name,
        "command": shlex.join(upstream.command()),
        "min_replicas": 0,
        "max_replicas": 1,
        "readiness_path": readiness,
        "resources": {"cpu": 0.1, "memory": "128MiB"},
    }
    made = api.post("/api/v1/deployments", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["replicas"] == []


def _client(url: str, api: httpx.Client) -> openai.OpenAI:
    secret = api.post("/api/v1/keys", json={"name": f"k{time.monotonic_ns()}"}).json()["secret"]
    return openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0, timeout=120)


def test_a_request_at_zero_replicas_is_answered_after_the_start(
    center: tuple[str, httpx.Client, ServerState],
) -> None:
    url, api, _ = center
    _at_zero(api, "sleepy")
    answer = _client(url, api).chat.completions.create(model="sleepy", messages=ASK)
    assert answer.choices[0].message.content.startswith("hello from the upstream")
    shown = api.get("/api/v1/deployments/sleepy").json()
    assert shown["desired"] == 1 and [r["ready"] for r in shown["replicas"]] == [True]
    observed = {
        sample.name: sample.value
        for family in text_string_to_metric_families(api.get("/metrics").text)
        for sample in family.samples
        if sample.labels.get("deployment") == "sleepy"
    }
    assert observed["aicc_gateway_cold_start_seconds_count"] == 1
    assert observed["aicc_gateway_cold_start_seconds_sum"] > 0


def test_a_replica_not_ready_in_time_is_a_clear_503(
    center: tuple[str, httpx.Client, ServerState],
) -> None:
    url, api, state = center
    _at_zero(api, "never", readiness="/never-ready")  # the upstream answers 404 there
    state.gateway.cold_start_s = 1.0  # deployments.cold_start_timeout_s, short for this test
    with pytest.raises(openai.InternalServerError) as held:
        _client(url, api).chat.completions.create(model="never", messages=ASK)
    assert held.value.status_code == 503
    assert held.value.code == "cold_start_timeout"
    assert "within 1 s" in held.value.message
    assert held.value.response.headers["retry-after"] == "5"
