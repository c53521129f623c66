"""The request log (api/http_metrics.py): an answer that needs an operator's eyes, a 5xx or one
slow to start, is a line at INFO, its path escaped and its query (which may hold a secret) left
out; an ordinary answer, or a refused one, is a line only at DEBUG. uvicorn's access log is off."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from aicc.api import http_metrics
from aicc.api.http_metrics import HttpMetrics, HttpStats
from aicc.server import uvicorn_config


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(http_metrics, "SLOW_S", 0.2)
    app = FastAPI()

    @app.get("/{anything:path}")
    def answer(anything: str, request: Request) -> PlainTextResponse:
        if anything == "boom":
            raise RuntimeError("a bug")
        if anything == "slow":
            time.sleep(0.3)
        return PlainTextResponse("ok", status_code=int(request.query_params.get("status", 200)))

    app.add_middleware(HttpMetrics, stats=HttpStats())
    return TestClient(app, raise_server_exceptions=False)


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aicc.http" and r.levelno == level]


def test_a_failure_and_a_slow_answer_are_logged_and_the_rest_only_at_debug(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aicc.http")
    assert client.get("/jobs").status_code == 200
    assert client.get("/jobs?status=429").status_code == 429
    assert client.get("/boom").status_code == 500
    assert client.get("/slow?token=s3cret").status_code == 200

    info = lines(caplog, logging.INFO)
    assert len(info) == 2, info
    assert info[0].startswith('testclient "GET /boom" 500 '), info
    assert info[1].startswith('testclient "GET /slow" 200 ') and "s3cret" not in info[1], info
    assert int(info[1].split()[-2]) >= 300  # milliseconds to the answer's start
    debug = lines(caplog, logging.DEBUG)
    assert [line.split(" ms")[0].rsplit(" ", 1)[0] for line in debug] == [
        'testclient "GET /jobs" 200',
        'testclient "GET /jobs" 429',
    ]


def test_a_path_cannot_forge_a_line_of_the_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aicc.http")
    client.get("/x%0A1.2.3.4%20%22GET%20%2Fadmin%22%20200")
    (line,) = lines(caplog, logging.DEBUG)
    assert "\n" not in line and line.startswith('testclient "GET /x\\n1.2.3.4 '), line


def test_uvicorn_keeps_no_access_log_of_its_own() -> None:
    assert uvicorn_config(FastAPI(), "127.0.0.1", 0, "info").access_log is False
