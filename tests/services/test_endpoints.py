"""A `kind: service` job listens on the `$PORT` AICC gave it, inside its sandbox, and
`services.endpoints` says where the server reaches it."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.services import endpoints
from aicc.testing.polling import wait

SERVE = (
    "mkdir -p site && echo hello from $AICC_JOB_ID > site/index.html && "
    "exec python -m http.server $PORT --bind $AICC_SERVICE_HOST --directory site"
)


def test_a_service_job_answers_on_its_port(server: tuple[TestClient, AppState]) -> None:
    api, state = server
    made = api.post("/api/v1/jobs", json={"kind": "service", "command": SERVE})
    assert made.status_code == 201, made.text
    job_id = made.json()["id"]

    def answered() -> str | None:
        with state.db.reader() as session:
            found = endpoints.of_job(session, job_id)
        if not found or not found[0].running:
            return None
        try:
            return httpx.get(found[0].url + "/index.html", timeout=2).text
        except httpx.HTTPError:
            return None

    assert wait("the service to answer", answered, timeout=60) == f"hello from {job_id}\n"
    with state.db.reader() as session:
        (endpoint,) = endpoints.of_job(session, job_id)
    assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.replica == 0
    assert api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
