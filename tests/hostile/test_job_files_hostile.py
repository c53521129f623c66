"""Hostile jobs against every route and loop that reads what a job wrote (issue 35, point 1).

One real server over HTTP (local executor, bubblewrap sandbox) for the module; tenant A runs a
job that leaves an output and a curve, tenant B's jobs then leave in their own outputs what a
hostile tenant would: a symbolic link to `$AICC_HOME` or to A's outputs, a hard link, a FIFO, a
file over the size cap, more files than the count cap. Each probe asks every reader (model
registration, the outputs archive, the curves, the portal's job page, the delivery loop) and
checks the answer is a fast, clear 4xx naming the file, and that 0 bytes of the target reach B.
A new resource that reads job-written files adds its probes here (CONTRIBUTING.md).
"""

from __future__ import annotations

import concurrent.futures
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.api.state import AppState
from aicc.executors import jobfiles
from aicc.services.common import utcnow
from aicc.store.tables.data import DatasetRow
from aicc.store.tables.models import JobOutputRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

PASSWORD = "correct-horse-battery"
A_OUTPUT = "tenant-a-output-0f9e8d"
A_METRIC = "tenant_a_secret_metric"
SMALL = {"cpu": 0.5, "memory": "256MiB"}
LINK_MESSAGE = "is a symbolic link: a job's outputs may hold only regular files and folders"


@dataclass
class Site:
    url: str
    home: Path
    state: AppState
    admin: httpx.Client
    b: httpx.Client  # tenant B's token
    b_name: str
    a_job: str

    @property
    def token(self) -> str:
        return (self.home / "admin.token").read_text().strip()

    def outputs(self, job_id: str) -> Path:
        return self.home / "runs" / job_id / "outputs"

    def run_b(self, command: str) -> str:
        """B's job running `command`, waited to success."""
        job = submit(self.b, {"command": command, "resources": SMALL})
        done = wait_state(self.b, job["id"], {"succeeded", "failed", "cancelled"}, timeout=180)
        assert done["state"] == "succeeded", (
            done,
            self.b.get(f"/api/v1/jobs/{job['id']}/logs").text,
        )
        return str(job["id"])


def _member(admin: httpx.Client, url: str, name: str) -> tuple[httpx.Client, str]:
    org = admin.post("/api/v1/orgs", json={"name": name}).json()
    user = admin.post(
        "/api/v1/users",
        json={"name": f"{name}-user", "role": "member", "org_id": org["id"], "password": PASSWORD},
    )
    assert user.status_code == 201, user.text
    token = admin.post("/api/v1/tokens", json={"name": "t", "user_id": user.json()["id"]}).json()
    headers = {"Authorization": f"Bearer {token['secret']}"}
    return httpx.Client(base_url=url, headers=headers, timeout=60), f"{name}-user"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("hostile") / "home"
    with over_http(home, None, limits={"grace_s": 1.0}) as (url, token, state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        a, _ = _member(admin, url, "tenant-a")
        b, b_name = _member(admin, url, "tenant-b")
        try:
            writer = (
                f'echo {A_OUTPUT} > "$AICC_OUTPUT_DIR/a.txt"; '
                f'echo \'{{"step": 0, "{A_METRIC}": 1.5}}\' > "$AICC_OUTPUT_DIR/metrics.jsonl"'
            )
            a_job = submit(a, {"command": writer, "resources": SMALL})
            done = wait_state(a, a_job["id"], {"succeeded", "failed"}, timeout=180)
            assert done["state"] == "succeeded"
            yield Site(url, home, state, admin, b, b_name, a_job["id"])
        finally:
            for client in (admin, a, b):
                client.close()


def no_leak(site: Site, answer: httpx.Response) -> None:
    """None of the targets' bytes in an answer to B."""
    body = answer.content
    for secret in (site.token, A_OUTPUT, A_METRIC):
        assert secret.encode() not in body, (secret, answer.status_code)


def register(site: Site, job_id: str, path: str = "") -> httpx.Response:
    body = {"job_id": job_id, **({"path": path} if path else {})}
    return site.b.post("/api/v1/models/stolen/versions", json=body)


def readers(site: Site, job_id: str) -> dict[str, httpx.Response]:
    """Every API route that reads a job's outputs, as B asks them."""
    return {
        "register": register(site, job_id),
        "outputs": site.b.get(f"/api/v1/jobs/{job_id}/outputs"),
    }


def portal(site: Site) -> httpx.Client:
    """B in a browser, signed in with a password."""
    client = httpx.Client(base_url=site.url, timeout=30)
    client.get("/sign-in")
    form = {"csrf": client.cookies.get("aicc_csrf") or "", "username": site.b_name}
    answer = client.post("/sign-in", data={**form, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return client


def test_a_link_to_the_home_gives_no_file_of_the_control_plane(site: Site) -> None:
    """The issue's critical finding: one job and one call gave any member the admin token."""
    job = site.run_b(
        'ln -s "${AICC_OUTPUT_DIR%/runs/*}" "$AICC_OUTPUT_DIR/home"; '
        'echo own > "$AICC_OUTPUT_DIR/own.txt"'
    )
    answer = register(site, job, "home")
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == f"outputs/home {LINK_MESSAGE}"
    no_leak(site, answer)
    for route, answer in readers(site, job).items():
        assert answer.status_code == 422, (route, answer.text)
        assert "outputs/home is a symbolic link" in answer.json()["detail"], route
        no_leak(site, answer)
    deeper = register(site, job, "home/runs")
    assert deeper.status_code == 422 and "outputs/home " in deeper.json()["detail"]
    assert site.b.get("/api/v1/models/stolen").status_code == 404  # nothing was registered


def test_a_link_to_another_tenants_outputs_reads_none_of_them(site: Site) -> None:
    theirs = site.outputs(site.a_job)
    job = site.run_b(
        f'ln -s {theirs} "$AICC_OUTPUT_DIR/theirs"; '
        f'ln -s {theirs}/metrics.jsonl "$AICC_OUTPUT_DIR/metrics.jsonl"'
    )
    answer = register(site, job, "theirs")
    assert answer.status_code == 422 and "outputs/theirs " in answer.json()["detail"]
    no_leak(site, answer)
    for route, answer in readers(site, job).items():
        assert answer.status_code == 422, (route, answer.text)
        no_leak(site, answer)
    curves = site.b.get(f"/api/v1/jobs/{job}/metrics")
    assert curves.status_code == 422, curves.text
    assert curves.json()["detail"] == f"outputs/metrics.jsonl {LINK_MESSAGE}"
    no_leak(site, curves)


def test_a_hard_link_is_refused(site: Site) -> None:
    job = site.run_b('cd "$AICC_OUTPUT_DIR" && echo mine > a && ln a b')
    for route, answer in readers(site, job).items():
        assert answer.status_code == 422, (route, answer.text)
        assert "has 2 names (a hard link)" in answer.json()["detail"], route


def test_a_fifo_never_holds_the_server(site: Site) -> None:
    """15 concurrent curve reads on a FIFO held the database pool; every other call answered
    500 after 30 s."""
    job = site.run_b('mkfifo "$AICC_OUTPUT_DIR/metrics.jsonl"')
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(15) as pool:
        answers = list(
            pool.map(lambda _: site.b.get(f"/api/v1/jobs/{job}/metrics", timeout=20), range(15))
        )
    assert [a.status_code for a in answers] == [422] * 15
    assert "outputs/metrics.jsonl is a FIFO" in answers[0].json()["detail"]
    assert httpx.get(f"{site.url}/healthz", timeout=5).status_code == 200
    assert site.b.get("/api/v1/jobs", timeout=5).status_code == 200
    for route, answer in readers(site, job).items():
        assert answer.status_code == 422, (route, answer.text)
    browser = portal(site)
    try:
        page = browser.get(f"/jobs/{job}")  # the job page lists outputs and draws curves
        assert page.status_code == 200, page.text
        assert browser.get(f"/jobs/{job}/metrics").status_code == 200
    finally:
        browser.close()
    assert time.monotonic() - started < 30


def test_a_file_over_the_cap_is_refused_unread(site: Site) -> None:
    size = jobfiles.MAX_FILE_BYTES + 1
    job = site.run_b(f'truncate -s {size} "$AICC_OUTPUT_DIR/huge.bin"')  # sparse
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the server is in process
    for route, answer in readers(site, job).items():
        assert answer.status_code == 413, (route, answer.text)
        assert answer.json()["detail"].startswith(f"outputs/huge.bin has {size} bytes"), route
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mib < 256, grown_mib


def test_more_files_than_the_cap_are_refused(site: Site) -> None:
    count = jobfiles.MAX_ENTRIES + 1
    job = site.run_b(f'cd "$AICC_OUTPUT_DIR" && seq 1 {count} | xargs touch')
    for route, answer in readers(site, job).items():
        assert answer.status_code == 413, (route, answer.text)
        assert f"more than {jobfiles.MAX_ENTRIES} files and folders" in answer.json()["detail"]
    browser = portal(site)
    try:
        assert browser.get(f"/jobs/{job}").status_code == 200
    finally:
        browser.close()


def _delivered(site: Site, job_id: str, kind: str, target_id: str, **lineage: Any) -> str:
    """Promise the job's outputs as a version (as a cleaning or template run does) and wait
    for the delivery loop: its result."""
    with site.state.db.session() as session:
        session.add(
            JobOutputRow(
                job_id=job_id, kind=kind, target_id=target_id, lineage=lineage, created_at=utcnow()
            )
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with site.state.db.reader() as session:
            out = session.get(JobOutputRow, job_id)
            assert out is not None
            if out.state != "pending":
                return f"{out.state}: {out.result}"
        time.sleep(0.2)
    raise AssertionError("the delivery loop never took the job's outputs")


def test_the_delivery_loop_refuses_links_and_reads_nothing_through_them(site: Site) -> None:
    theirs = site.outputs(site.a_job)
    data = site.b.post("/api/v1/datasets", json={"name": "cleaned"})
    assert data.status_code == 201, data.text
    job = site.run_b(f'ln -s {theirs}/a.txt "$AICC_OUTPUT_DIR/rows.csv"')
    result = _delivered(site, job, "dataset", data.json()["id"])
    assert result == f"failed: outputs/rows.csv {LINK_MESSAGE}"
    assert site.b.get("/api/v1/datasets/cleaned/versions").json()["items"] == []

    honest = site.run_b('echo "{\\"acc\\": 0.5}" > "$AICC_OUTPUT_DIR/metrics.json"')
    assert register(site, honest).status_code == 201
    with site.state.db.reader() as session:
        model = session.query(DatasetRow).filter_by(name="stolen").one()
    job = site.run_b(f'ln -s {theirs}/a.txt "$AICC_OUTPUT_DIR/metrics.json"')
    result = _delivered(site, job, "model", model.id, template="credit-risk")
    assert result == f"failed: outputs/metrics.json {LINK_MESSAGE}"
