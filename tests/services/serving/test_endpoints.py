"""A `kind: service` job listens on the `$PORT` AICC gave it, inside its sandbox, and
`services.endpoints` says where the server reaches it: the Unix socket of its run directory
(sandboxed on the local executor: no TCP port answers for it)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.services.jobs import endpoints
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
        if found[0].socket is None:
            return None
        try:
            with endpoints.unix_client(found[0].socket, 2) as http:
                return http.get(found[0].url + "/index.html").text
        except (httpx.HTTPError, OSError):
            return None

    assert wait("the service to answer", answered, timeout=60) == f"hello from {job_id}\n"
    with state.db.reader() as session:
        (endpoint,) = endpoints.of_job(session, job_id)
    assert endpoint.url.startswith("http://127.0.0.1:") and endpoint.replica == 0
    assert endpoint.socket is not None and endpoint.address == endpoint.socket
    assert endpoint.socket.endswith(f"/runs/{job_id}/0/0/service/socket")
    assert api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200


def test_the_run_directory_a_handle_names() -> None:
    """Where the server reads a replica's socket or token: the local executor's handle is its
    run directory, Slurm's and Ray's end with it; Kubernetes' and a relative or `..` path name
    none."""
    run = "/srv/aicc/slurm-runs/job_1/0/0"
    assert str(endpoints.run_dir_of(run)) == run
    assert str(endpoints.run_dir_of(f"slurm:42:{run}")) == run
    assert str(endpoints.run_dir_of(f"ray:aicc-job_1-0-0:{run}")) == run
    for handle in (None, "", "k8s:aicc/job-1/0", "slurm:42:runs/x", f"slurm:42:{run}/../../x"):
        assert endpoints.run_dir_of(handle) is None, handle
